// A fabric of real data planes on distinct loopback addresses (cluster a on 127.0.1.1, b on 127.0.2.1,
// …) with real certificates, driven by a FabricView the test controls: `publish()` describes every
// gateway and its exported services the way discovery would, `poison()` points a cluster's gateway
// record at another address (a discovery record gone bad). Each gateway's access log lines (when its
// spec turns them on) are kept, parsed, in `accessLog`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type {
  ClusterView,
  FabricSnapshot,
  FabricView,
  Locality,
  ServiceExport,
} from '../../discovery/index.js';
import { TlsMaterial } from '../../infra/index.js';
import { LocalCatalog } from '../../gateway/catalog/index.js';
import { parseConfigObject, type GatewayConfig } from '../../gateway/config/index.js';
import { DataPlane, type AttemptOutcome, type DataPlaneOptions } from '../../gateway/index.js';
import { freePort } from '../../gateway/demo/free-port.js';
import { createFabricPki, type FabricPki } from './fabric-pki.js';

export const TRUST_DOMAIN = 'weft.test';

export interface ServiceSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly protocol?: 'http' | 'grpc' | 'tcp';
  readonly endpoints: readonly string[];
  readonly allow?: readonly string[];
}

/** Data-plane options every gateway of the fabric gets. */
export type FabricOptions = Pick<
  DataPlaneOptions,
  'peerTransport' | 'localUpstreams' | 'retirement' | 'golden' | 'endpointHealthy' | 'outliers'
>;

export interface GatewaySpec {
  readonly cluster: string;
  /** Loopback address of this cluster, e.g. 127.0.2.1. */
  readonly host: string;
  readonly locality?: Locality;
  readonly services?: readonly ServiceSpec[];
  readonly tcp?: readonly { service: string }[];
  /** The config's observability section (access log rate, span export). */
  readonly observability?: {
    readonly accessLogSampleRate?: number;
    readonly tracing?: { readonly otlpEndpoint: string; readonly sampleRate?: number };
  };
  /** The config's `failover:` section, as written (e.g. `{ timeouts: { idle: '1s' } }`). */
  readonly failover?: Readonly<Record<string, unknown>>;
  /** The config's `calls:` entries, as written. */
  readonly calls?: readonly Readonly<Record<string, unknown>>[];
  /** The config's `limits:` section, as written. */
  readonly limits?: { readonly callerStreams?: number };
}

export interface TestGateway {
  readonly cluster: string;
  readonly host: string;
  readonly config: GatewayConfig;
  readonly catalog: LocalCatalog;
  readonly dataPlane: DataPlane;
  readonly metrics: Registry;
  readonly tls: TlsMaterial;
  readonly outcomes: AttemptOutcome[];
  /** Access log lines written so far, each parsed from its JSON. */
  readonly accessLog: Record<string, unknown>[];
  /** http://host:port of the outbound listener. */
  readonly outboundUrl: string;
  readonly outboundPort: number;
  readonly peerAddress: string;
  /** Port of the tcp listener bound to `service`. */
  tcpPort(service: string): number;
}

/** A FabricView the test publishes to, like discovery after a sync. */
export class ControlledView implements FabricView {
  private current: FabricSnapshot = {
    revision: 0,
    source: 'empty',
    connected: true,
    syncedAt: null,
    clusters: new Map(),
  };
  private readonly listeners = new Set<(snapshot: FabricSnapshot) => void>();

  snapshot(): FabricSnapshot {
    return this.current;
  }

  subscribe(listener: (snapshot: FabricSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(clusters: readonly ClusterView[]): void {
    this.current = {
      revision: this.current.revision + 1,
      source: 'redis',
      connected: true,
      syncedAt: Date.now(),
      clusters: new Map(clusters.map((c) => [c.name, c])),
    };
    for (const listener of this.listeners) listener(this.current);
  }
}

export class TestFabric {
  readonly view = new ControlledView();
  readonly gateways = new Map<string, TestGateway>();
  readonly pki: FabricPki;
  private readonly dir: string;
  private readonly specs: readonly GatewaySpec[];
  private readonly poisoned = new Map<string, string>();
  private readonly staleClusters = new Set<string>();

  private constructor(dir: string, pki: FabricPki, specs: readonly GatewaySpec[]) {
    this.dir = dir;
    this.pki = pki;
    this.specs = specs;
  }

  static async start(specs: readonly GatewaySpec[], options: FabricOptions = {}): Promise<TestFabric> {
    const dir = await mkdtemp(join(tmpdir(), 'weft-dataplane-'));
    const pki = await createFabricPki(dir, {
      trustDomain: TRUST_DOMAIN,
      clusters: specs.map((s) => s.cluster),
    });
    const fabric = new TestFabric(dir, pki, specs);
    try {
      for (const spec of specs) await fabric.startGateway(spec, options);
      fabric.publish();
    } catch (err) {
      await fabric.close();
      throw err;
    }
    return fabric;
  }

  gateway(cluster: string): TestGateway {
    const gateway = this.gateways.get(cluster);
    if (!gateway) throw new Error(`no gateway for cluster ${cluster}`);
    return gateway;
  }

  /** Publishes every gateway and its catalog's services (healthy = configured endpoint count). */
  publish(): void {
    const clusters: ClusterView[] = [];
    for (const spec of this.specs) {
      const gateway = this.gateways.get(spec.cluster);
      if (!gateway) continue;
      const services = new Map<string, ServiceExport>();
      for (const service of gateway.catalog.services().values()) {
        services.set(service.key, {
          name: service.name,
          namespace: service.namespace,
          key: service.key,
          protocol: service.protocol,
          allow: service.allow,
          endpoints: { total: service.endpoints.length, healthy: service.endpoints.length },
        });
      }
      const stale = this.staleClusters.has(spec.cluster);
      clusters.push({
        name: spec.cluster,
        locality: spec.locality ?? { cloud: spec.cluster, region: 'r1' },
        freshness: stale ? 'stale' : 'live',
        ...(stale ? { staleSince: Date.now() } : {}),
        gateways: [
          {
            cluster: spec.cluster,
            id: 'gw-1',
            peerAddress: this.poisoned.get(spec.cluster) ?? gateway.peerAddress,
            startedAt: Date.now(),
            version: 'test',
            freshness: stale ? 'stale' : 'live',
            leaseExpiresAt: Date.now() + 5_000,
          },
        ],
        services,
      });
    }
    this.view.publish(clusters);
    // At once: a gateway rebuilds its routes at the end of the turn, and tests read them right away.
    for (const gateway of this.gateways.values()) gateway.dataPlane.refreshRoutes();
  }

  /** Makes discovery claim that `cluster`'s gateway lives at `address` (another cluster's gateway). */
  poison(cluster: string, address: string): void {
    this.poisoned.set(cluster, address);
    this.publish();
  }

  markStale(cluster: string, stale: boolean): void {
    if (stale) this.staleClusters.add(cluster);
    else this.staleClusters.delete(cluster);
    this.publish();
  }

  async close(): Promise<void> {
    for (const gateway of this.gateways.values()) {
      await gateway.dataPlane.close();
      await gateway.tls.close();
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  private async startGateway(spec: GatewaySpec, options: FabricOptions): Promise<void> {
    const paths = this.pki.pathsOf(spec.cluster);
    const tcp: { listen: string; service: string }[] = [];
    for (const t of spec.tcp ?? [])
      tcp.push({ listen: `${spec.host}:${await freePort(spec.host)}`, service: t.service });
    const config = parseConfigObject(
      {
        cluster: spec.cluster,
        locality: spec.locality ?? { cloud: spec.cluster, region: 'r1' },
        trustDomain: TRUST_DOMAIN,
        redis: 'redis://127.0.0.1:1',
        tls: paths,
        listen: { outbound: `${spec.host}:0`, peer: `${spec.host}:0` },
        services: (spec.services ?? []).map((s) => ({
          name: s.name,
          namespace: s.namespace ?? 'default',
          protocol: s.protocol ?? 'http',
          endpoints: s.endpoints,
          ...(s.allow ? { allow: s.allow } : {}),
        })),
        tcp,
        ...(spec.observability ? { observability: spec.observability } : {}),
        ...(spec.failover ? { failover: spec.failover } : {}),
        ...(spec.calls ? { calls: spec.calls } : {}),
        ...(spec.limits ? { limits: spec.limits } : {}),
      },
      join(this.dir, `${spec.cluster}.yaml`),
    );
    const tls = new TlsMaterial(paths);
    await tls.start();
    const catalog = new LocalCatalog(config.services);
    const metrics = new Registry();
    const outcomes: AttemptOutcome[] = [];
    const accessLog: Record<string, unknown>[] = [];
    const dataPlane = new DataPlane({
      config,
      view: this.view,
      catalog,
      tls: tls.current(),
      metrics,
      logger: pino({ level: 'silent' }),
      accessLogger: pino({ level: 'info' }, linesInto(accessLog)),
      onOutcome: (outcome) => outcomes.push(outcome),
      ...options,
    });
    tls.subscribe((material) => dataPlane.updateTls(material));
    await dataPlane.start();
    const ports = dataPlane.ports;
    this.gateways.set(spec.cluster, {
      cluster: spec.cluster,
      host: spec.host,
      config,
      catalog,
      dataPlane,
      metrics,
      tls,
      outcomes,
      accessLog,
      outboundUrl: `http://${spec.host}:${ports.outbound}`,
      outboundPort: ports.outbound,
      peerAddress: `${spec.host}:${ports.peer}`,
      tcpPort: (service) => {
        const entry = dataPlane.ports.tcp.find((t) => t.service === service);
        if (!entry) throw new Error(`no tcp listener for ${service} in ${spec.cluster}`);
        return entry.port;
      },
    });
  }
}

/** A pino destination that parses each JSON line into `into`. */
function linesInto(into: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') into.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
}

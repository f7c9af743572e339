// A calling cluster `a` and a cluster `b` run as several gateway replicas, behind real discovery: a
// real redis-server, one Discovery per gateway (each replica publishes the services it exports and its
// healthy endpoint counts, as gateway.ts does from its health checks) and real data planes with real
// certificates. Cluster a's data plane routes from its Discovery's view, with passive outlier detection
// wired as gateway.ts wires it; every attempt it makes is kept in `outcomes`. A replica's endpoints can
// be marked down: its data plane stops using them and its Discovery publishes healthy 0.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Discovery, ServiceExport } from '../../discovery/index.js';
import { TlsMaterial } from '../../infra/index.js';
import { LocalCatalog } from '../../gateway/catalog/index.js';
import { formatHostPort, parseConfigObject, type GatewayConfig } from '../../gateway/config/index.js';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';
import { DataPlane, type AttemptOutcome } from '../../gateway/index.js';
import { OutlierTracker } from '../../gateway/resilience/index.js';
import { DiscoveryFixture } from './discovery-fixture.js';
import { createFabricPki, type FabricPki } from './fabric-pki.js';
import { StaticFabricView } from './static-fabric-view.js';
import { waitFor } from './wait.js';

const TRUST_DOMAIN = 'weft.test';
/** Leases long enough that a busy machine never lets one lapse during a test. */
const TIMINGS = {
  leaseTtlMs: 20_000,
  heartbeatIntervalMs: 1_000,
  staleForMs: 30_000,
  resyncIntervalMs: 5_000,
};

export interface ReplicaSpec {
  readonly id: string;
  /** Loopback address of this replica's listeners. */
  readonly host: string;
  /** Services this replica serves: name (namespace default) → its endpoints (host:port). */
  readonly services: Readonly<Record<string, readonly string[]>>;
  /** Service keys (`name.default`) whose endpoints are down from the start. */
  readonly down?: readonly string[];
}

export interface ReplicaFabricSpec {
  readonly redisHost: string;
  /** Loopback address of cluster a's gateway. */
  readonly callerHost: string;
  /** Cluster a's `failover:` section, as written. */
  readonly callerFailover?: Readonly<Record<string, unknown>>;
  /** Cluster b's replicas, started (and so registered) in this order: the last is the newest. */
  readonly replicas: readonly ReplicaSpec[];
}

export interface Replica {
  readonly id: string;
  readonly dataPlane: DataPlane;
  readonly discovery: Discovery;
  readonly peerAddress: string;
  /** The peer key cluster a's outcomes name this replica by. */
  readonly key: string;
  /** Services whose endpoints are down here. */
  readonly down: Set<string>;
  readonly catalog: LocalCatalog;
}

export interface Caller {
  readonly dataPlane: DataPlane;
  readonly discovery: Discovery;
  readonly outliers: OutlierTracker;
  /** http://host:port of its outbound listener. */
  readonly outboundUrl: string;
}

export class ReplicaFabric {
  readonly replicas = new Map<string, Replica>();
  readonly outcomes: AttemptOutcome[] = [];
  private started: Caller | undefined;
  private readonly planes: DataPlane[] = [];
  private readonly tls: TlsMaterial[] = [];

  private constructor(
    private readonly dir: string,
    private readonly pki: FabricPki,
    private readonly redis: RedisServerProcess,
    private readonly fx: DiscoveryFixture,
  ) {}

  static async start(spec: ReplicaFabricSpec): Promise<ReplicaFabric> {
    const dir = await mkdtemp(join(tmpdir(), 'weft-replicas-'));
    const pki = await createFabricPki(dir, { trustDomain: TRUST_DOMAIN, clusters: ['a', 'b'] });
    const redis = await RedisServerProcess.start({ host: spec.redisHost });
    const fx = new DiscoveryFixture(() => ({ mode: 'standalone', url: redis.url }));
    const fabric = new ReplicaFabric(dir, pki, redis, fx);
    try {
      for (const replica of spec.replicas) await fabric.startReplica(replica);
      // Every replica's records are in Redis before cluster a's first full sync reads them.
      await waitFor(
        'the replicas of b registered with their exports',
        () => [...fabric.replicas.values()].every((r) => r.discovery.status().pendingWrites === 0),
        10_000,
      );
      await fabric.startCaller(spec);
    } catch (err) {
      await fabric.close();
      throw err;
    }
    return fabric;
  }

  /** Cluster a's gateway. */
  get caller(): Caller {
    if (!this.started) throw new Error('cluster a has not started');
    return this.started;
  }

  replica(id: string): Replica {
    const replica = this.replicas.get(id);
    if (!replica) throw new Error(`no replica ${id}`);
    return replica;
  }

  /**
   * Marks a replica's endpoints of `service` down or up: its data plane stops or resumes using them and
   * it publishes the matching healthy count, plus `extra` exports (a marker a test can wait for).
   */
  setDown(id: string, service: string, down: boolean, extra: readonly ServiceExport[] = []): void {
    const replica = this.replica(id);
    if (down) replica.down.add(service);
    else replica.down.delete(service);
    replica.dataPlane.refreshRoutes();
    replica.discovery.setLocalServices([...exportsOf(replica), ...extra]);
  }

  /** Attempts cluster a made for `service` since outcome number `from`, counted by replica id. */
  attemptsByReplica(service: string, from = 0): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const outcome of this.outcomes.slice(from)) {
      if (outcome.service !== service || outcome.gateway === undefined) continue;
      const id = [...this.replicas.values()].find((r) => r.key === outcome.gateway)?.id ?? outcome.gateway;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    return counts;
  }

  async close(): Promise<void> {
    for (const plane of this.planes) await plane.close();
    for (const tls of this.tls) await tls.close();
    await this.fx.close();
    await this.redis.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  private config(cluster: string, host: string, extra: Record<string, unknown>): GatewayConfig {
    return parseConfigObject(
      {
        cluster,
        locality: { cloud: cluster, region: 'r1' },
        trustDomain: TRUST_DOMAIN,
        redis: this.redis.url,
        tls: this.pki.pathsOf(cluster),
        listen: { outbound: `${host}:0`, peer: `${host}:0` },
        ...extra,
      },
      join(this.dir, `${cluster}-${host}.yaml`),
    );
  }

  private async dataPlane(
    config: GatewayConfig,
    extra: Partial<ConstructorParameters<typeof DataPlane>[0]> &
      Pick<ConstructorParameters<typeof DataPlane>[0], 'view' | 'catalog'>,
  ): Promise<DataPlane> {
    const tls = new TlsMaterial(this.pki.pathsOf(config.cluster));
    await tls.start();
    this.tls.push(tls);
    const plane = new DataPlane({
      config,
      tls: tls.current(),
      metrics: new Registry(),
      logger: pino({ level: 'silent' }),
      ...extra,
    });
    this.planes.push(plane);
    await plane.start();
    return plane;
  }

  private async startReplica(spec: ReplicaSpec): Promise<void> {
    const config = this.config('b', spec.host, {
      services: Object.entries(spec.services).map(([name, endpoints]) => ({ name, endpoints })),
    });
    const catalog = new LocalCatalog(config.services);
    const down = new Set<string>(spec.down);
    const dataPlane = await this.dataPlane(config, {
      // It serves only its own endpoints, so it needs no view of the fabric.
      view: new StaticFabricView(),
      catalog,
      endpointHealthy: (service) => !down.has(service),
    });
    const peerAddress = `${spec.host}:${dataPlane.ports.peer}`;
    const discovery = this.fx.create('b', spec.id, { ...TIMINGS, peerAddress });
    const replica: Replica = {
      id: spec.id,
      dataPlane,
      discovery,
      peerAddress,
      key: `b/${spec.id}@${peerAddress}`,
      down,
      catalog,
    };
    discovery.setLocalServices(exportsOf(replica));
    await discovery.start();
    this.replicas.set(spec.id, replica);
  }

  private async startCaller(spec: ReplicaFabricSpec): Promise<void> {
    const config = this.config(
      'a',
      spec.callerHost,
      spec.callerFailover ? { failover: spec.callerFailover } : {},
    );
    const outliers = new OutlierTracker(config.failover.outlierDetection);
    const discovery = this.fx.create('a', 'a-1', { ...TIMINGS, peerAddress: `${spec.callerHost}:1` });
    await discovery.start();
    const dataPlane = await this.dataPlane(config, {
      view: discovery.view,
      catalog: new LocalCatalog(config.services),
      outliers,
      onOutcome: (outcome) => {
        outliers.record(outcome);
        this.outcomes.push(outcome);
      },
    });
    this.started = {
      dataPlane,
      discovery,
      outliers,
      outboundUrl: `http://${formatHostPort({ host: spec.callerHost, port: dataPlane.ports.outbound })}`,
    };
  }
}

/** What a replica publishes: each service with its endpoint count, healthy unless marked down. */
function exportsOf(replica: Pick<Replica, 'catalog' | 'down'>): ServiceExport[] {
  return [...replica.catalog.services().values()].map((s) => ({
    name: s.name,
    namespace: s.namespace,
    key: s.key,
    protocol: s.protocol,
    allow: s.allow,
    endpoints: { total: s.endpoints.length, healthy: replica.down.has(s.key) ? 0 : s.endpoints.length },
  }));
}

// `weft demo`: a three-cloud fabric on loopback built from the same parts users run — a private
// redis-server (or REDIS_URL), a fresh trust anchor and gateway certificates, one `weft gateway` child
// process per cluster with a generated YAML config, and the sample workloads. close() removes every
// process and temp file it made.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  createTrustAnchor,
  issueGatewayCertificate,
  writeGatewayCertificateFiles,
} from '../../infra/index.js';
import {
  DEMO_CLUSTERS,
  DEMO_TCP_SERVICE,
  DEMO_TRUST_DOMAIN,
  DEMO_ZONE,
  type DemoCluster,
} from './demo-topology.js';
import { preferredPort } from './free-port.js';
import { GatewayProcess } from './gateway-process.js';
import { RedisServerProcess } from './redis-server-process.js';
import { EchoTcpServer } from './workloads/echo-tcp.js';
import { GreeterGrpcServer } from './workloads/greeter-grpc.js';
import { HelloHttpServer } from './workloads/hello-http.js';

/** How each kind of workload is health-checked; fast intervals so the demo shows failover quickly. */
const HEALTH_CHECKS = {
  http: { http: '/healthz' },
  grpc: { grpc: true },
  tcp: { tcp: true },
} as const;

export interface DemoGateway {
  readonly cluster: DemoCluster;
  readonly outbound: string;
  readonly peer: string;
  readonly admin: string;
  readonly tcpPort: number;
  readonly process: GatewayProcess;
}

export interface DemoWorkloadHandle {
  readonly cluster: string;
  readonly service: string;
  readonly address: string;
  close(): Promise<void>;
}

export interface DemoFabricOptions {
  /** Use this Redis instead of starting one. */
  readonly redisUrl?: string;
  readonly onProgress?: (step: string) => void;
  /** The CLI entry script the gateway processes run; defaults to the running script (tests pass main.ts). */
  readonly entry?: string;
}

export class DemoFabric {
  dir = '';
  redisUrl = '';
  readonly gateways: DemoGateway[] = [];
  readonly workloads: DemoWorkloadHandle[] = [];
  private redis: RedisServerProcess | undefined;
  private readonly options: DemoFabricOptions;
  private closed = false;

  constructor(options: DemoFabricOptions = {}) {
    this.options = options;
  }

  async start(): Promise<void> {
    const progress = this.options.onProgress ?? (() => undefined);
    this.dir = await mkdtemp(join(tmpdir(), 'weft-demo-'));
    if (this.options.redisUrl) {
      this.redisUrl = this.options.redisUrl;
    } else {
      progress('starting redis-server');
      this.redis = await RedisServerProcess.start();
      this.redisUrl = this.redis.url;
    }

    progress('creating a trust anchor and gateway certificates');
    const anchor = await createTrustAnchor({ trustDomain: DEMO_TRUST_DOMAIN });
    for (const cluster of DEMO_CLUSTERS) {
      const issued = await issueGatewayCertificate({ anchor, cluster: cluster.name });
      await writeGatewayCertificateFiles(join(this.dir, cluster.name), issued);
    }

    progress('starting sample workloads');
    const endpoints = new Map<string, string[]>();
    for (const cluster of DEMO_CLUSTERS) {
      for (const workload of cluster.workloads) {
        const handle = await startWorkload(cluster, workload.service, workload.kind);
        this.workloads.push(handle);
        endpoints.set(`${cluster.name}/${workload.service}`, [handle.address]);
      }
    }

    for (const cluster of DEMO_CLUSTERS) {
      progress(`starting gateway ${cluster.name} on ${cluster.host}`);
      const gateway = await this.startGateway(cluster, endpoints);
      this.gateways.push(gateway);
    }
  }

  gateway(cluster: string): DemoGateway {
    const found = this.gateways.find((g) => g.cluster.name === cluster);
    if (!found) throw new Error(`no demo gateway ${cluster}`);
    return found;
  }

  workload(cluster: string, service: string): DemoWorkloadHandle | undefined {
    return this.workloads.find((w) => w.cluster === cluster && w.service === service);
  }

  /** Stops gateways (drain), workloads and Redis, and removes the temp folder; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.gateways.map((g) => g.process.stop()));
    await Promise.all(this.workloads.map((w) => w.close()));
    await this.redis?.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  private async startGateway(cluster: DemoCluster, endpoints: Map<string, string[]>): Promise<DemoGateway> {
    const host = cluster.host;
    const ports = {
      outbound: await preferredPort(host, 4140),
      peer: await preferredPort(host, 4143),
      admin: await preferredPort(host, 9990),
      control: await preferredPort(host, 9991),
      tcp: await preferredPort(host, 7000),
    };
    const dir = join(this.dir, cluster.name);
    const config = {
      cluster: cluster.name,
      locality: { cloud: cluster.cloud, region: cluster.region },
      trustDomain: DEMO_TRUST_DOMAIN,
      zone: DEMO_ZONE,
      redis: this.redisUrl,
      tls: { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' },
      listen: {
        outbound: `${host}:${ports.outbound}`,
        peer: `${host}:${ports.peer}`,
        admin: `${host}:${ports.admin}`,
        control: `${host}:${ports.control}`,
      },
      services: cluster.workloads.map((w) => ({
        name: w.service,
        protocol: w.kind,
        endpoints: endpoints.get(`${cluster.name}/${w.service}`) ?? [],
        health: { ...HEALTH_CHECKS[w.kind], interval: '500ms', timeout: '400ms', rise: 2, fall: 2 },
      })),
      tcp: [{ listen: `${host}:${ports.tcp}`, service: DEMO_TCP_SERVICE }],
      discovery: { leaseTtl: '3s', heartbeatInterval: '500ms', staleFor: '30s' },
      drainTimeout: '2s',
    };
    const configFile = join(dir, 'gateway.yaml');
    await writeFile(configFile, stringify(config));
    const adminUrl = `http://${host}:${ports.admin}`;
    const process = new GatewayProcess({
      cluster: cluster.name,
      configFile,
      logFile: join(dir, 'gateway.log'),
      adminUrl,
      ...(this.options.entry ? { entry: this.options.entry } : {}),
    });
    await process.start();
    return {
      cluster,
      outbound: `${host}:${ports.outbound}`,
      peer: `${host}:${ports.peer}`,
      admin: adminUrl,
      tcpPort: ports.tcp,
      process,
    };
  }
}

async function startWorkload(
  cluster: DemoCluster,
  service: string,
  kind: string,
): Promise<DemoWorkloadHandle> {
  const host = cluster.host;
  const base = { cluster: cluster.name, service };
  if (kind === 'http') {
    const server = new HelloHttpServer({ host, port: 0, service, cluster: cluster.name });
    const { port } = await server.start();
    return { ...base, address: `${host}:${port}`, close: () => server.close() };
  }
  if (kind === 'grpc') {
    const server = new GreeterGrpcServer(host, 0, cluster.name);
    const port = await server.start();
    return { ...base, address: `${host}:${port}`, close: () => server.close() };
  }
  const server = new EchoTcpServer(host, 0);
  const { port } = await server.start();
  return { ...base, address: `${host}:${port}`, close: () => server.close() };
}

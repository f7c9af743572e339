// A fabric of real gateway processes for the fault tests: one private redis-server, a PKI, and per
// cluster a gateway (its own loopback address, its config's `failover:` section from the test, extra
// services) and HTTP instances of hello.default that count what they serve and can die or answer 503 half
// the time. The test can edit and reload a gateway's config and read its admin API and metrics. A steady
// client sends idempotent GETs at a fixed rate and records who served each one.
import { createHash } from 'node:crypto';
import { createServer, request, Agent, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GatewayProcess } from '../../gateway/demo/gateway-process.js';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';
import { freePort } from '../../gateway/demo/free-port.js';
import { createFabricPki } from './fabric-pki.js';
import { waitFor } from './wait.js';

export interface ClusterSpec {
  readonly name: string;
  readonly host: string;
  readonly cloud: string;
  readonly region: string;
  /** Instances of hello.default in this cluster (0: it only calls). */
  readonly instances: number;
  /** How many of the instances (the first ones) answer 503 to every second request. */
  readonly flakyInstances?: number;
  /** Extra fields of this cluster's hello.default entry (e.g. rateLimit, retries). */
  readonly hello?: Readonly<Record<string, unknown>>;
  /** More `services:` entries for this cluster's config, as written. */
  readonly services?: readonly Readonly<Record<string, unknown>>[];
}

/** The one cluster of a single-gateway fabric: `a` in aws us-east-1 with one hello instance, plus `extra`. */
export function singleCluster(host: string, extra: Partial<ClusterSpec> = {}): ClusterSpec {
  return { name: 'a', host, cloud: 'aws', region: 'us-east-1', instances: 1, ...extra };
}

/**
 * A fabric of two clusters where `a` (on `hostA`, no services) calls and `b` (on `hostB`) serves one
 * `http` service from `endpoint` (host:port).
 */
export function callerAndServer(
  hostA: string,
  hostB: string,
  service: string,
  endpoint: string,
): ClusterSpec[] {
  return [
    { name: 'a', host: hostA, cloud: 'aws', region: 'us-east-1', instances: 0 },
    {
      name: 'b',
      host: hostB,
      cloud: 'gcp',
      region: 'europe-west1',
      instances: 0,
      services: [{ name: service, protocol: 'http', endpoints: [endpoint] }],
    },
  ];
}

/** A gateway's config as the fabric wrote it (YAML object); `reconfigure` edits it. */
export type GatewayYaml = Record<string, unknown> & { services: Record<string, unknown>[] };

/**
 * One instance of hello.default: answers its cluster's name, the SHA-256 of the body it got and any
 * weft-service field it saw, and counts requests.
 */
export class HelloInstance {
  readonly cluster: string;
  served = 0;
  received = 0;
  address = '';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly flaky: boolean;

  constructor(cluster: string, flaky: boolean) {
    this.cluster = cluster;
    this.flaky = flaky;
    this.server = createServer((req, res) => {
      if (req.url === '/healthz') {
        res.end('ok');
        return;
      }
      this.received++;
      const flaky = this.flaky && this.received % 2 === 0;
      const body = createHash('sha256');
      req.on('data', (chunk: Buffer) => body.update(chunk));
      req.on('end', () => {
        const headers = {
          'x-served-by': cluster,
          'x-body-sha256': body.digest('hex'),
          // Fields of the gateways' own peer hop must never reach a service.
          'x-saw-weft-service': String(req.headers['weft-service'] ?? ''),
        };
        if (flaky) {
          res.writeHead(503, headers).end('flaky');
          return;
        }
        this.served++;
        res.writeHead(200, headers).end(cluster);
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async start(host: string): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    const address = this.server.address();
    if (address && typeof address === 'object') this.address = `${host}:${address.port}`;
  }

  /** Dies: stops listening and drops every connection. */
  async kill(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface FabricGateway {
  readonly process: GatewayProcess;
  readonly outbound: { host: string; port: number };
  readonly admin: string;
  readonly configFile: string;
  readonly config: GatewayYaml;
}

export class FailoverFabric {
  readonly gateways = new Map<string, FabricGateway>();
  readonly instances = new Map<string, HelloInstance[]>();
  redis: RedisServerProcess | undefined;
  private dir = '';

  static async start(specs: readonly ClusterSpec[], failover: object): Promise<FailoverFabric> {
    const fabric = new FailoverFabric();
    try {
      await fabric.build(specs, failover);
    } catch (err) {
      await fabric.close();
      throw err;
    }
    return fabric;
  }

  gateway(cluster: string): FabricGateway {
    const gateway = this.gateways.get(cluster);
    if (!gateway) throw new Error(`no gateway for ${cluster}`);
    return gateway;
  }

  /** GET `path` of gateway `cluster`'s admin API, as JSON. */
  async admin<T>(cluster: string, path: string): Promise<T> {
    const response = await fetch(`${this.gateway(cluster).admin}${path}`, {
      signal: AbortSignal.timeout(2000),
    });
    return (await response.json()) as T;
  }

  /** Gateway `cluster`'s route to hello.default: failover shares and the local endpoints that get traffic. */
  async helloRoute(cluster: string): Promise<{ shares: Map<string, number>; local: readonly string[] }> {
    const body = await this.admin<{
      routes: { service: string; local: string[]; shares?: { cluster: string; share: number }[] }[];
    }>(cluster, '/api/v1/routes');
    const route = body.routes.find((r) => r.service === 'hello.default');
    return {
      shares: new Map((route?.shares ?? []).map((s) => [s.cluster, s.share])),
      local: route?.local ?? [],
    };
  }

  /** The failover shares gateway `cluster` gives hello.default now (cluster → share). */
  async shares(cluster: string): Promise<Map<string, number>> {
    return (await this.helloRoute(cluster)).shares;
  }

  /** Edits gateway `cluster`'s config file, then reloads it (SIGHUP) and waits until it runs. */
  async reconfigure(cluster: string, edit: (config: GatewayYaml) => void): Promise<void> {
    const gateway = this.gateway(cluster);
    edit(gateway.config);
    await writeFile(gateway.configFile, stringify(gateway.config));
    await gateway.process.reload();
  }

  /** The sum of metric `name`'s samples on gateway `cluster` whose labels include `labels`. */
  async metric(
    cluster: string,
    name: string,
    labels: Readonly<Record<string, string>> = {},
  ): Promise<number> {
    const response = await fetch(`${this.gateway(cluster).admin}/metrics`, {
      signal: AbortSignal.timeout(2000),
    });
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    let sum = 0;
    for (const line of (await response.text()).split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const present = (match[2] ?? '').split(',');
      if (wanted.every((w) => present.includes(w))) sum += Number(match[3]);
    }
    return sum;
  }

  async close(): Promise<void> {
    await Promise.all([...this.gateways.values()].map((g) => g.process.killAndWait()));
    for (const list of this.instances.values()) await Promise.all(list.map((i) => i.kill().catch(() => {})));
    await this.redis?.stop();
    if (this.dir && !process.env.WEFT_KEEP_FABRIC) await rm(this.dir, { recursive: true, force: true });
  }

  private async build(specs: readonly ClusterSpec[], failover: object): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'weft-failover-'));
    this.redis = await RedisServerProcess.start();
    const pki = await createFabricPki(this.dir, {
      trustDomain: 'failover.test',
      clusters: specs.map((s) => s.name),
    });
    // Every start settles before a failure is thrown: close() must see each gateway that did start.
    const started = await Promise.allSettled(
      specs.map((spec) => this.startCluster(spec, failover, pki.pathsOf(spec.name))),
    );
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async startCluster(spec: ClusterSpec, failover: object, tls: object): Promise<void> {
    const list: HelloInstance[] = [];
    for (let i = 0; i < spec.instances; i++) {
      const instance = new HelloInstance(spec.name, i < (spec.flakyInstances ?? 0));
      await instance.start(spec.host);
      list.push(instance);
    }
    this.instances.set(spec.name, list);
    const ports = {
      outbound: await freePort(spec.host),
      peer: await freePort(spec.host),
      admin: await freePort(spec.host),
      control: await freePort(spec.host),
    };
    const dir = join(this.dir, `gw-${spec.name}`);
    await mkdir(dir, { recursive: true });
    const config: GatewayYaml = {
      cluster: spec.name,
      locality: { cloud: spec.cloud, region: spec.region },
      trustDomain: 'failover.test',
      redis: this.redis?.url,
      tls,
      listen: {
        outbound: `${spec.host}:${ports.outbound}`,
        peer: `${spec.host}:${ports.peer}`,
        admin: `${spec.host}:${ports.admin}`,
        control: `${spec.host}:${ports.control}`,
      },
      services: [
        ...(list.length === 0
          ? []
          : [
              {
                name: 'hello',
                protocol: 'http',
                endpoints: list.map((i) => i.address),
                health: { http: '/healthz', interval: '250ms', timeout: '200ms', rise: 2, fall: 2 },
                ...spec.hello,
              },
            ]),
        ...(spec.services ?? []),
      ],
      discovery: { leaseTtl: '3s', heartbeatInterval: '500ms', staleFor: '30s' },
      failover,
      drainTimeout: '1s',
    };
    const configFile = join(dir, 'gateway.yaml');
    await writeFile(configFile, stringify(config));
    const admin = `http://${spec.host}:${ports.admin}`;
    const process = new GatewayProcess({
      cluster: spec.name,
      configFile,
      logFile: join(dir, 'gateway.log'),
      adminUrl: admin,
      entry: join(import.meta.dirname, '../../gateway/cli/main.ts'),
    });
    await process.start(30_000);
    this.gateways.set(spec.name, {
      process,
      outbound: { host: spec.host, port: ports.outbound },
      admin,
      configFile,
      config,
    });
  }
}

export interface CallResult {
  readonly sentAt: number;
  readonly doneAt: number;
  readonly status: number;
  /** The cluster that answered (x-served-by), '' when the gateway answered itself. */
  readonly servedBy: string;
  readonly error?: string;
}

/** Sends GET hello every intervalMs (not waiting for answers) and records every result. */
export class SteadyClient {
  readonly results: CallResult[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly target: { host: string; port: number },
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.send(), this.intervalMs);
  }

  async stop(): Promise<CallResult[]> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
    this.agent.destroy();
    return this.results;
  }

  failures(since = 0): CallResult[] {
    return this.results.filter((r) => r.sentAt >= since && r.status !== 200);
  }

  servedBy(cluster: string, since = 0): CallResult[] {
    return this.results.filter((r) => r.sentAt >= since && r.servedBy === cluster && r.status === 200);
  }

  /** Resolves once `count` answers from `cluster` arrived after `since`, or rejects at the deadline. */
  async waitServedBy(cluster: string, count: number, since: number, timeoutMs: number): Promise<void> {
    await waitFor(
      `${cluster} to serve ${count} requests`,
      () => this.servedBy(cluster, since).length >= count,
      timeoutMs,
    );
  }

  private send(): void {
    const sentAt = Date.now();
    const done = new Promise<void>((resolve) => {
      const finish = (status: number, servedBy: string, error?: string) => {
        this.results.push({ sentAt, doneAt: Date.now(), status, servedBy, ...(error ? { error } : {}) });
        resolve();
      };
      const req = request(
        {
          host: this.target.host,
          port: this.target.port,
          path: '/',
          headers: { host: 'hello.default' },
          agent: this.agent,
          timeout: 20_000,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            finish(
              res.statusCode ?? 0,
              String(res.headers['x-served-by'] ?? ''),
              res.statusCode === 200 ? undefined : body.trim(),
            ),
          );
          res.on('error', (err) => finish(0, '', err.message));
        },
      );
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (err) => finish(0, '', err.message));
      req.end();
    });
    this.inFlight.add(done);
    void done.then(() => this.inFlight.delete(done));
  }
}

// `npm run bench:discovery`: the registry at scale. 50 clusters export 10,000 services with 100,000
// endpoints between them (one full Discovery per cluster in this process, production timings), and one
// more gateway in its own process observes. Measures: that gateway's cold sync time and memory, steady
// Redis commands/s and bytes/s per gateway, change propagation p50/p99 (to the observer, and to all 50),
// and, to explain the change-feed choice, the raw latency of Streams, pub/sub and keyspace notifications
// on the same Redis. A benchmark, never a test: it asserts nothing. Results also go to
// test-artifacts/discovery-scale-<timestamp>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Discovery, type ServiceExport } from '../../discovery/index.js';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';

const { values: flags } = parseArgs({
  options: {
    clusters: { type: 'string', default: '50' },
    services: { type: 'string', default: '10000' },
    endpoints: { type: 'string', default: '100000' },
    changes: { type: 'string', default: '200' },
    'steady-seconds': { type: 'string', default: '10' },
  },
});
const CLUSTERS = Number(flags.clusters);
const SERVICES = Number(flags.services);
const ENDPOINTS = Number(flags.endpoints);
const CHANGES = Number(flags.changes);
const STEADY_SECONDS = Number(flags['steady-seconds']);
const PER_CLUSTER = Math.ceil(SERVICES / CLUSTERS);
const ENDPOINTS_PER_SERVICE = Math.max(1, Math.round(ENDPOINTS / SERVICES));

const ROOT = resolve(import.meta.dirname, '../..');
const OBSERVER = join(import.meta.dirname, 'discovery-scale-observer.ts');
const epochNow = () => performance.timeOrigin + performance.now();
const log = (line: string) => console.log(`bench:discovery: ${line}`);

function pct(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

function servicesOf(cluster: number, healthyBump = new Map<number, number>()): ServiceExport[] {
  return Array.from({ length: PER_CLUSTER }, (_, i) => {
    const name = `svc-${cluster}-${i}`;
    return {
      name,
      namespace: 'bench',
      key: `${name}.bench`,
      protocol: i % 3 === 0 ? 'grpc' : 'http',
      allow: i % 10 === 0 ? ['c0', 'c1'] : null,
      endpoints: { total: ENDPOINTS_PER_SERVICE, healthy: healthyBump.get(i) ?? ENDPOINTS_PER_SERVICE },
      ports: [8080],
    } satisfies ServiceExport;
  });
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

function commandCalls(info: Map<string, string>): Map<string, number> {
  const calls = new Map<string, number>();
  for (const [key, value] of info) {
    if (!key.startsWith('cmdstat_')) continue;
    const match = /calls=(\d+)/.exec(value);
    if (match) calls.set(key.slice('cmdstat_'.length), Number(match[1]));
  }
  return calls;
}

/** Raw notification latency of the three Redis change mechanisms, for the feed choice. */
async function mechanismLatencies(
  url: string,
  samples: number,
): Promise<Record<string, { p50: number; p99: number }>> {
  const writer = new Redis(url);
  const reader = new Redis(url);
  const results: Record<string, { p50: number; p99: number }> = {};
  try {
    const stream: number[] = [];
    let last = '$';
    for (let i = 0; i < samples; i++) {
      const read = reader.xread('BLOCK', 1000, 'STREAMS', 'bench:{m}:stream', last);
      await new Promise((r) => setTimeout(r, 2));
      const sent = performance.now();
      await writer.xadd('bench:{m}:stream', 'MAXLEN', '~', 1000, '*', 'k', String(i));
      const reply = await read;
      stream.push(performance.now() - sent);
      last = reply?.[0]?.[1]?.at(-1)?.[0] ?? last;
    }
    results.streams = { p50: pct(stream, 50), p99: pct(stream, 99) };

    const sub = reader.duplicate();
    await sub.subscribe('bench:{m}:channel');
    const pubsub: number[] = [];
    for (let i = 0; i < samples; i++) {
      const got = new Promise<void>((r) => sub.once('message', () => r()));
      const sent = performance.now();
      await writer.publish('bench:{m}:channel', String(i));
      await got;
      pubsub.push(performance.now() - sent);
    }
    results.pubsub = { p50: pct(pubsub, 50), p99: pct(pubsub, 99) };
    sub.disconnect();

    await writer.config('SET', 'notify-keyspace-events', 'Kh');
    const ks = reader.duplicate();
    await ks.subscribe('__keyspace@0__:bench:{m}:hash');
    const keyspace: number[] = [];
    for (let i = 0; i < samples; i++) {
      const got = new Promise<void>((r) => ks.once('message', () => r()));
      const sent = performance.now();
      await writer.hset('bench:{m}:hash', 'f', String(i));
      await got;
      keyspace.push(performance.now() - sent);
    }
    results.keyspace = { p50: pct(keyspace, 50), p99: pct(keyspace, 99) };
    ks.disconnect();
    await writer.config('SET', 'notify-keyspace-events', '');
    await writer.del('bench:{m}:stream', 'bench:{m}:hash');
  } finally {
    writer.disconnect();
    reader.disconnect();
  }
  return results;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-discovery-'));
  const external = process.env.REDIS_URL;
  const server = external ? undefined : await RedisServerProcess.start();
  const url = external ?? server?.url ?? '';
  const raw = new Redis(url);
  const gateways: Discovery[] = [];
  const results: Record<string, unknown> = {
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, loadavg: loadavg() },
    shape: {
      clusters: CLUSTERS,
      services: PER_CLUSTER * CLUSTERS,
      endpointsPerService: ENDPOINTS_PER_SERVICE,
    },
  };
  try {
    log(`redis ${url}; ${CLUSTERS} clusters × ${PER_CLUSTER} services × ${ENDPOINTS_PER_SERVICE} endpoints`);
    const populateStarted = performance.now();
    for (let c = 0; c < CLUSTERS; c++) {
      const gateway = new Discovery({
        redis: { mode: 'standalone', url },
        cluster: `c${c}`,
        locality: { cloud: `cloud${c % 3}`, region: `region-${c % 7}` },
        gatewayId: 'gw-1',
        peerAddress: `127.0.${1 + (c >> 8)}.${1 + (c & 255)}:4143`,
        version: 'bench',
        leaseTtlMs: 5000,
        heartbeatIntervalMs: 1000,
        staleForMs: 30_000,
        resyncIntervalMs: 10_000,
        snapshotFile: join(dir, `c${c}.json`),
        metrics: new Registry(),
        startTimeoutMs: 60_000,
      });
      gateway.setLocalServices(servicesOf(c));
      gateways.push(gateway);
    }
    await Promise.all(gateways.map((g) => g.start()));
    const allSeen = () =>
      gateways.every((g) => {
        const snapshot = g.view.snapshot();
        return snapshot.clusters.size === CLUSTERS && g.status().services === PER_CLUSTER * CLUSTERS;
      });
    while (!allSeen()) await new Promise((r) => setTimeout(r, 50));
    const populateMs = performance.now() - populateStarted;
    log(
      `populated and converged: ${CLUSTERS} gateways each see ${PER_CLUSTER * CLUSTERS} services in ${ms(populateMs)}`,
    );
    results.populateMs = populateMs;
    const redisMemory = parseInfo(await raw.info('memory')).get('used_memory') ?? '0';
    results.redisUsedMemory = Number(redisMemory);

    // Steady state: nothing changes; every gateway heartbeats, polls leases, blocks on the feed and
    // runs anti-entropy. Measured over a window that spans one resync interval.
    const before = parseInfo(await raw.info('all'));
    const windowStarted = performance.now();
    await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
    const after = parseInfo(await raw.info('all'));
    const seconds = (performance.now() - windowStarted) / 1000;
    const perGateway = (field: string) =>
      (Number(after.get(field) ?? 0) - Number(before.get(field) ?? 0)) / seconds / CLUSTERS;
    const callsBefore = commandCalls(before);
    const breakdown = [...commandCalls(after)]
      .map(([name, calls]) => [name, (calls - (callsBefore.get(name) ?? 0)) / seconds / CLUSTERS] as const)
      .filter(([, rate]) => rate > 0.01)
      .sort((a, b) => b[1] - a[1]);
    // total_commands_processed counts each INFO call too, and commands run inside scripts count in
    // commandstats only; the top-level figure is what a gateway sends.
    const steady = {
      commandsPerSecondPerGateway: perGateway('total_commands_processed'),
      netOutputBytesPerSecondPerGateway: perGateway('total_net_output_bytes'),
      netInputBytesPerSecondPerGateway: perGateway('total_net_input_bytes'),
      commandstatsPerGateway: Object.fromEntries(breakdown.map(([n, r]) => [n, Number(r.toFixed(2))])),
    };
    results.steady = steady;
    log(
      `steady state per gateway: ${steady.commandsPerSecondPerGateway.toFixed(2)} Redis commands/s, ` +
        `${(steady.netOutputBytesPerSecondPerGateway / 1024).toFixed(1)} KiB/s from Redis`,
    );
    log(
      `  by command (incl. inside scripts): ${breakdown.map(([n, r]) => `${n} ${r.toFixed(2)}`).join(', ')}`,
    );

    // The observer: its own process, cold syncs and memory.
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', OBSERVER, url, dir], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout });
    const seen = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    let synced: Record<string, unknown> | undefined;
    let observerStatus: Record<string, unknown> | undefined;
    const syncedPromise = new Promise<void>((resolveSynced) => {
      lines.on('line', (line) => {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.kind === 'synced') {
          synced = event;
          resolveSynced();
        } else if (event.kind === 'seen') {
          const id = `${String(event.cluster)}/${String(event.key)}/${String(event.healthy)}`;
          seen.set(id, Number(event.at));
          waiters.get(id)?.();
        } else if (event.kind === 'status') observerStatus = event;
      });
    });
    await syncedPromise;
    const s = synced as {
      coldSyncsMs: number[];
      services: number;
      endpoints: number;
      beforeView: { heapUsed: number; rss: number };
      withView: { heapUsed: number; rss: number };
      baseline: { heapUsed: number; rss: number };
    };
    results.observer = s;
    log(
      `observer cold sync of ${s.services} services / ${s.endpoints} endpoints: ` +
        `${s.coldSyncsMs.map(ms).join(', ')} (connect + register + full read, fresh Discovery each)`,
    );
    log(
      `observer memory with the view: heap +${mb(s.withView.heapUsed - s.beforeView.heapUsed)} ` +
        `(heap ${mb(s.withView.heapUsed)}, RSS ${mb(s.withView.rss)}; bare process RSS ${mb(s.baseline.rss)})`,
    );

    // Propagation: one service's health changes on a random cluster, 20 changes a second.
    const toObserver: number[] = [];
    const toAll: number[] = [];
    const bumps = new Map<number, Map<number, number>>();
    for (let i = 0; i < CHANGES; i++) {
      const c = Math.floor(Math.random() * CLUSTERS);
      const svc = Math.floor(Math.random() * PER_CLUSTER);
      const bump = bumps.get(c) ?? new Map<number, number>();
      bumps.set(c, bump);
      const healthy =
        ((bump.get(svc) ?? ENDPOINTS_PER_SERVICE) + ENDPOINTS_PER_SERVICE) % (ENDPOINTS_PER_SERVICE + 1);
      bump.set(svc, healthy);
      const key = `svc-${c}-${svc}.bench`;
      const id = `c${c}/${key}/${healthy}`;
      const observed = new Promise<void>((r) => waiters.set(id, r));
      const fanout = Promise.all(
        gateways
          .filter((_, j) => j !== c)
          .map(
            (g) =>
              new Promise<number>((r) => {
                const stop = g.view.subscribe((snap) => {
                  if (snap.clusters.get(`c${c}`)?.services.get(key)?.endpoints.healthy === healthy) {
                    stop();
                    r(epochNow());
                  }
                });
              }),
          ),
      );
      const sentAt = epochNow();
      gateways[c]?.setLocalServices(servicesOf(c, bump));
      const timeout = new Promise<void>((r) => setTimeout(r, 5000));
      await Promise.race([Promise.all([observed, fanout]), timeout]);
      const at = seen.get(id);
      if (at !== undefined) toObserver.push(at - sentAt);
      const times = await Promise.race([fanout, timeout.then(() => undefined)]);
      if (times) toAll.push(Math.max(...times) - sentAt);
      waiters.delete(id);
      await new Promise((r) => setTimeout(r, 50));
    }
    results.propagation = {
      changes: CHANGES,
      observer: {
        n: toObserver.length,
        p50: pct(toObserver, 50),
        p99: pct(toObserver, 99),
        max: pct(toObserver, 100),
      },
      allGateways: { n: toAll.length, p50: pct(toAll, 50), p99: pct(toAll, 99), max: pct(toAll, 100) },
    };
    log(
      `propagation to the observer (other process): p50 ${ms(pct(toObserver, 50))}, p99 ${ms(pct(toObserver, 99))}, ` +
        `max ${ms(pct(toObserver, 100))} over ${toObserver.length}/${CHANGES}`,
    );
    log(
      `propagation until all ${CLUSTERS - 1} other gateways (one process) saw it: p50 ${ms(pct(toAll, 50))}, ` +
        `p99 ${ms(pct(toAll, 99))}, max ${ms(pct(toAll, 100))}`,
    );

    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
    results.observerFinal = observerStatus;

    const mechanisms = await mechanismLatencies(url, 200);
    results.mechanisms = mechanisms;
    for (const [name, { p50, p99 }] of Object.entries(mechanisms)) {
      log(`raw ${name} notification latency: p50 ${ms(p50)}, p99 ${ms(p99)}`);
    }
  } finally {
    await Promise.all(gateways.map((g) => g.close()));
    raw.disconnect();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const artifacts = join(ROOT, 'test-artifacts');
  mkdirSync(artifacts, { recursive: true });
  const file = join(artifacts, `discovery-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(
    `bench:discovery: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  process.exitCode = 1;
});

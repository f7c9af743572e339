// The observing gateway of `npm run bench:discovery`, in its own process so its memory and cold sync
// are its own: measures cold syncs of the whole fabric, its heap and RSS holding the view, then prints
// one JSON line per service health change it sees, with a high-resolution epoch timestamp.
// Run by discovery-scale.ts (node --expose-gc --import tsx … <redis-url> <snapshot-dir>).
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Discovery, type ClusterView, type FabricSnapshot } from '../../discovery/index.js';

const [url = '', dir = '.'] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const epochNow = () => performance.timeOrigin + performance.now();

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function memory(): { heapUsed: number; rss: number } {
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

function create(id: string): Discovery {
  return new Discovery({
    redis: { mode: 'standalone', url },
    cluster: 'observer',
    locality: { cloud: 'bench', region: 'local' },
    gatewayId: id,
    peerAddress: '127.0.9.1:4143',
    version: 'bench',
    leaseTtlMs: 5000,
    heartbeatIntervalMs: 1000,
    staleForMs: 30_000,
    resyncIntervalMs: 10_000,
    snapshotFile: join(dir, `observer-${id}.json`),
    metrics: new Registry(),
    startTimeoutMs: 60_000,
  });
}

const baseline = memory();
const coldSyncsMs: number[] = [];
for (let i = 0; i < 3; i++) {
  const probe = create(`cold-${i}`);
  const started = performance.now();
  await probe.start();
  coldSyncsMs.push(performance.now() - started);
  await probe.close();
}
const beforeView = memory();
const discovery = create('observer');
const started = performance.now();
await discovery.start();
coldSyncsMs.push(performance.now() - started);
const snapshot = discovery.view.snapshot();
const services = [...snapshot.clusters.values()].reduce((sum, c) => sum + c.services.size, 0);
const endpoints = [...snapshot.clusters.values()].reduce(
  (sum, c) => sum + [...c.services.values()].reduce((s, svc) => s + svc.endpoints.total, 0),
  0,
);
const withView = memory();
emit({
  kind: 'synced',
  coldSyncsMs,
  clusters: snapshot.clusters.size,
  services,
  endpoints,
  baseline,
  beforeView,
  withView,
});

let previous: FabricSnapshot = snapshot;
discovery.view.subscribe((next) => {
  const at = epochNow();
  for (const [name, cluster] of next.clusters) {
    const before: ClusterView | undefined = previous.clusters.get(name);
    if (before === cluster) continue;
    for (const [key, service] of cluster.services) {
      if (before?.services.get(key)?.endpoints.healthy !== service.endpoints.healthy) {
        emit({ kind: 'seen', cluster: name, key, healthy: service.endpoints.healthy, at });
      }
    }
  }
  previous = next;
});

process.stdin.resume();
process.stdin.once('end', () => {
  emit({ kind: 'status', status: discovery.status(), memory: memory() });
  void discovery.close().then(() => process.exit(0));
});

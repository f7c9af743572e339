// `npm run bench:routes`: what a route-table rebuild costs in a large fabric. One real data plane
// (cluster a on 127.0.61.1, N local services with 3 endpoints each) and a view with clusters b and c
// exporting the same N services (their gateways' address answers nothing, so they are unreachable to
// the probes, which routes then show). Measures a rebuild of every route (`refreshRoutes`, as a config
// reload makes), then the time from a change to the rebuilt table: one of b's services changing its
// healthy endpoints, and a registration on a's catalog. A benchmark, never a test: it asserts nothing.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ClusterView } from '../../discovery/index.js';
import { TestFabric } from '../helpers/dataplane-fabric.js';
import { clusterView } from '../helpers/static-fabric-view.js';

const { values: flags } = parseArgs({
  options: {
    services: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '100' },
  },
});
const SERVICES = Number(flags.services);
const ROUNDS = Number(flags.rounds);
const log = (line: string) => console.log(`bench:routes: ${line}`);

const names = Array.from({ length: SERVICES }, (_, i) => `svc${i}`);

/** Cluster b or c as discovery would show it, `svc<changed>` with `healthy` healthy endpoints. */
function remote(name: string, changed = -1, healthy = 3): ClusterView {
  return clusterView({
    name,
    gateways: [{ id: 'gw-1', leaseExpiresAt: Date.now() + 60_000 }],
    services: names.map((service, i) => ({
      key: `${service}.default`,
      total: 3,
      healthy: i === changed ? healthy : 3,
    })),
  });
}

/** Waits for gateway a's next rebuild: at the end of this turn, or later when the last one was slow. */
async function rebuilt(from: number): Promise<void> {
  while (fabric.gateway('a').dataPlane.routesBuilt === from) await nextTurn();
}

function summary(name: string, ms: number[]): void {
  const sorted = [...ms].sort((x, y) => x - y);
  const at = (q: number) =>
    (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
  log(`${name}: p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms (${sorted.length} rounds)`);
}

log(`starting a data plane with ${SERVICES} services, and clusters b and c exporting them`);
const fabric = await TestFabric.start([
  {
    cluster: 'a',
    host: '127.0.61.1',
    services: names.map((name, i) => ({
      name,
      endpoints: [1, 2, 3].map((n) => `127.0.61.${10 + n}:${1000 + i}`),
    })),
  },
]);
const own = fabric.view.snapshot().clusters.get('a') as ClusterView;
const c = remote('c');
fabric.view.publish([own, remote('b'), c]);
try {
  const a = fabric.gateway('a').dataPlane;
  log(`gateway a has ${a.state().routes.length} routes`);
  const full: number[] = [];
  for (let i = 0; i < Math.min(ROUNDS, 30); i++) {
    const start = performance.now();
    a.refreshRoutes();
    full.push(performance.now() - start);
  }
  summary('every route (refreshRoutes)', full);

  const remoteChange: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const clusters = [own, remote('b', i % SERVICES, i % 2 === 0 ? 2 : 3), c];
    await nextTurn();
    const before = a.routesBuilt;
    const start = performance.now();
    fabric.view.publish(clusters);
    await rebuilt(before);
    remoteChange.push(performance.now() - start);
  }
  summary("one of b's services changes (publish to the rebuilt table)", remoteChange);

  const catalog = fabric.gateway('a').catalog;
  const local: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await nextTurn();
    const before = a.routesBuilt;
    const start = performance.now();
    const id = catalog.register('bench', {
      name: `svc${i % SERVICES}`,
      namespace: 'default',
      protocol: 'http',
      endpoints: [{ host: '127.0.61.20', port: 1000 + i, weight: 1 }],
    });
    await rebuilt(before);
    local.push(performance.now() - start);
    catalog.deregister(id);
    await rebuilt(before + 1);
  }
  summary('a registration on a (register to the rebuilt table)', local);
} finally {
  await fabric.close();
}

// Builds Discovery instances for the discovery tests: short leases, a private snapshot file and metrics
// registry each.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import {
  Discovery,
  type DiscoveryOptions,
  type RedisConfig,
  type ServiceExport,
} from '../../discovery/index.js';

export const FAST_TIMINGS = {
  leaseTtlMs: 1500,
  heartbeatIntervalMs: 300,
  staleForMs: 4000,
  resyncIntervalMs: 2000,
} as const;

export class DiscoveryFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-discovery-'));
  private readonly created: Discovery[] = [];

  constructor(private readonly redis: () => RedisConfig) {}

  options(cluster: string, id = 'gw-1', overrides: Partial<DiscoveryOptions> = {}): DiscoveryOptions {
    return {
      redis: this.redis(),
      cluster,
      locality: { cloud: cluster.split('-')[0] ?? 'cloud', region: `${cluster}-region` },
      gatewayId: id,
      peerAddress: `127.0.1.${this.created.length + 1}:4143`,
      version: 'test',
      ...FAST_TIMINGS,
      snapshotFile: join(this.dir, `${cluster}-${id}.json`),
      metrics: new Registry(),
      startTimeoutMs: 3000,
      snapshotWriteDelayMs: 200,
      ...overrides,
    };
  }

  create(cluster: string, id = 'gw-1', overrides: Partial<DiscoveryOptions> = {}): Discovery {
    const discovery = new Discovery(this.options(cluster, id, overrides));
    this.created.push(discovery);
    return discovery;
  }

  async start(cluster: string, id = 'gw-1', overrides: Partial<DiscoveryOptions> = {}): Promise<Discovery> {
    const discovery = this.create(cluster, id, overrides);
    await discovery.start();
    return discovery;
  }

  async close(): Promise<void> {
    await Promise.all(this.created.map((d) => d.close()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function service(
  name: string,
  healthy = 1,
  total = 1,
  extra: Partial<ServiceExport> = {},
): ServiceExport {
  return {
    name,
    namespace: 'default',
    key: `${name}.default`,
    protocol: 'http',
    allow: null,
    endpoints: { total, healthy },
    ...extra,
  };
}

/** The service `key` as `cluster` exports it in `discovery`'s view, if visible. */
export function exported(discovery: Discovery, cluster: string, key: string): ServiceExport | undefined {
  return discovery.view.snapshot().clusters.get(cluster)?.services.get(key);
}

// Builds an AdminServer for the admin-facing tests: loopback on an ephemeral port, its own metrics
// registry, always ready and healthy, an empty catalog and an identity whose cloud is the cluster name's
// first part; a test passes only what it is about (view, discovery, golden metrics, Redis, …).
import { Registry } from 'prom-client';
import { AdminServer, type AdminServerOptions } from '../../gateway/admin/index.js';
import { LocalCatalog } from '../../gateway/catalog/index.js';

export type TestAdminOptions = Partial<Omit<AdminServerOptions, 'view'>> &
  Pick<AdminServerOptions, 'view'> & {
    /** The identity's cluster and gateway id, unless `identity` is given whole. */
    readonly cluster?: string;
    readonly gatewayId?: string;
  };

/** A constructed (not started) AdminServer with test defaults; `options` override them. */
export function testAdmin(options: TestAdminOptions): AdminServer {
  const { cluster = 'aws-use1', gatewayId = 'gw-a', ...overrides } = options;
  return new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: new Registry(),
    ready: () => true,
    health: () => true,
    catalog: new LocalCatalog([]),
    discoveryStatus: () => ({}),
    identity: {
      cluster,
      gatewayId,
      version: 'test',
      locality: { cloud: cluster.split('-')[0]!, region: 'r1' },
    },
    ...overrides,
  });
}

// A parsed gateway config for tests that need services, locality or failover defaults without running a
// gateway: cluster aws-use1 in aws/us-east-1, placeholder TLS paths, a Redis URL nothing connects to.
import { parseConfigObject, type GatewayConfig } from '../../gateway/config/index.js';

/** The smallest valid config document (before parsing): add or override sections per test. */
export const MINIMAL_CONFIG = {
  cluster: 'aws-use1',
  locality: { cloud: 'aws', region: 'us-east-1' },
  trustDomain: 'acme.test',
  redis: 'redis://127.0.0.1:1',
  tls: { ca: 'ca.pem', cert: 'gw.pem', key: 'gw.key' },
  listen: { peer: '127.0.0.1:0' },
} as const;

export function parseTestConfig(services: readonly Record<string, unknown>[]): GatewayConfig {
  return parseConfigObject({ ...MINIMAL_CONFIG, services }, '/test/gateway.yaml');
}

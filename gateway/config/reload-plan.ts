// What a reload (SIGHUP) may change while the gateway runs. Services, tcp listeners, failover policy,
// retries, timeouts, circuit breakers, rate limits, `limits` and the drain timeout apply at once; the fields
// below are read once at start (listeners, identity, discovery, publishers, probes), so a reload keeps
// their running values and names them: applying them halfway (routing with a new cluster name while
// discovery publishes the old one) would be worse than not at all.
import type { GatewayConfig } from './load.js';

const RESTART_ONLY = [
  'cluster',
  'locality',
  'trustDomain',
  'zone',
  'defaultNamespace',
  'redis',
  'tls',
  'listen',
  'advertise',
  'discovery',
  'dns',
  'observability',
] as const;

const RESTART_ONLY_FAILOVER = ['peerProbe', 'outlierDetection'] as const;

export interface ReloadPlan {
  /** The config to run: `next`, with the running values of every field that needs a restart. */
  readonly config: GatewayConfig;
  /** The fields `next` changes that take effect only after a restart (dotted paths). */
  readonly restartNeeded: readonly string[];
}

export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const changed = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  const restartNeeded = [
    ...RESTART_ONLY.filter((key) => changed(running[key], next[key])),
    ...RESTART_ONLY_FAILOVER.filter((key) => changed(running.failover[key], next.failover[key])).map(
      (key) => `failover.${key}`,
    ),
  ];
  const config: Record<string, unknown> = {
    ...next,
    failover: {
      ...next.failover,
      peerProbe: running.failover.peerProbe,
      outlierDetection: running.failover.outlierDetection,
    },
  };
  for (const key of RESTART_ONLY) {
    if (running[key] === undefined) delete config[key];
    else config[key] = running[key];
  }
  return { config: config as unknown as GatewayConfig, restartNeeded };
}

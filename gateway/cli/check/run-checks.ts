// `weft check`: runs every check of one gateway's setup in order — config, TLS files, certificate
// validity, identity, trust anchor, Redis reachability, Redis permissions, clock skew, then each peer
// gateway the registry lists — reporting each result as it completes. A check whose prerequisite
// failed is skipped with the reason, so one run shows every independent problem.
import { readGatewayDirectory, type RedisClient } from '../../../discovery/index.js';
import { ConfigError, loadConfigFile, type GatewayConfig } from '../../config/index.js';
import {
  fail,
  ok,
  skip,
  type CheckReport,
  type CheckResult,
  type CheckStatus,
  type Finding,
} from './check-result.js';
import { checkPeer, stalePeer } from './peer-checks.js';
import { checkClockSkew, checkRedisPermissions, checkRedisReachable } from './redis-checks.js';
import {
  checkIdentity,
  checkTlsFiles,
  checkTrustAnchor,
  checkValidity,
  type LoadedTls,
} from './tls-checks.js';

export interface RunChecksOptions {
  readonly configPath: string;
  /** Clock for certificate validity and skew; Date.now by default. */
  readonly now?: () => number;
  /** Bound of each network step (Redis connect, each peer handshake). Default 3000 ms. */
  readonly timeoutMs?: number;
  /** A check is about to run (for progress output). */
  readonly onStart?: (id: string, title: string) => void;
  /** A check finished. */
  readonly onResult?: (result: CheckResult) => void;
}

export async function runChecks(options: RunChecksOptions): Promise<CheckReport> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 3000;
  const results: CheckResult[] = [];

  const step = async (
    id: string,
    title: string,
    body: () => Finding | Promise<Finding>,
  ): Promise<CheckResult> => {
    options.onStart?.(id, title);
    const started = performance.now();
    let finding: Finding;
    try {
      finding = await body();
    } catch (err) {
      finding = fail(
        `unexpected error: ${(err as Error).message}`,
        'please report this with the output of weft check --json',
      );
    }
    const result: CheckResult = {
      id,
      title,
      ...finding,
      durationMs: Math.round(performance.now() - started),
    };
    results.push(result);
    options.onResult?.(result);
    return result;
  };
  const skipped = (id: string, title: string, why: string) => step(id, title, () => skip(why));

  let config: GatewayConfig | undefined;
  await step('config', 'config', async () => {
    try {
      config = await loadConfigFile(options.configPath);
    } catch (err) {
      const detail = err instanceof ConfigError ? err.message : (err as Error).message;
      return fail(
        detail,
        'fix the fields listed (every field and its default is in the README), then run weft check again',
      );
    }
    return ok(`${config.source}: cluster ${config.cluster}, trust domain ${config.trustDomain}`);
  });
  if (!config) {
    for (const [id, title] of TITLES.slice(1)) await skipped(id, title, 'the config is not valid');
    return report(options.configPath, results);
  }
  const cfg = config;

  let tls: LoadedTls | undefined;
  const files = await step('tls-files', 'tls files', async () => {
    const checked = await checkTlsFiles(cfg);
    tls = checked.tls;
    return checked.finding;
  });
  const tlsUsable = files.status === 'ok' && tls !== undefined;
  if (tls && tlsUsable) {
    const loaded = tls;
    await step('certificate', 'certificate', () => checkValidity(cfg, loaded, now()));
    await step('identity', 'identity', () => checkIdentity(cfg, loaded));
    await step('trust-anchor', 'trust anchor', () => checkTrustAnchor(cfg, loaded));
  } else {
    for (const [id, title] of TITLES.slice(2, 5)) await skipped(id, title, 'the TLS files are not usable');
  }

  let client: RedisClient | undefined;
  try {
    await step('redis', 'redis', async () => {
      const connection = await checkRedisReachable(cfg.redis, timeoutMs);
      client = connection.client;
      return connection.finding;
    });
    const redis = client;
    if (!redis) {
      for (const [id, title] of TITLES.slice(6)) await skipped(id, title, 'Redis is not reachable');
      return report(cfg.source, results);
    }
    await step('redis-acl', 'redis acl', () => checkRedisPermissions(redis, cfg.redis, cfg.cluster));
    await step('clock', 'clock skew', () => checkClockSkew(redis, now));
    await checkPeers(cfg, redis, tls && tlsUsable ? tls : undefined, timeoutMs, step);
  } finally {
    client?.disconnect();
  }
  return report(cfg.source, results);
}

type Step = (id: string, title: string, body: () => Finding | Promise<Finding>) => Promise<CheckResult>;

async function checkPeers(
  config: GatewayConfig,
  client: RedisClient,
  tls: LoadedTls | undefined,
  timeoutMs: number,
  step: Step,
): Promise<void> {
  let directory: Awaited<ReturnType<typeof readGatewayDirectory>> | undefined;
  const listed = await step('peers', 'peers', async () => {
    directory = await readGatewayDirectory(client);
    const others = directory.gateways.filter((g) => g.cluster !== config.cluster);
    const bad = directory.skipped.length;
    const base = `${others.length} gateway(s) of other clusters in the registry (${others.filter((g) => g.live).length} live)`;
    if (bad > 0) {
      return {
        status: 'warn',
        message: `${base}; ${bad} unreadable record(s): ${directory.skipped.map((s) => `${s.key} (${s.detail})`).join('; ')}`,
        hint: 'a gateway of another weft version or a corrupt write; it is ignored by every gateway until rewritten',
      };
    }
    if (!tls && others.some((g) => g.live)) return skip(`${base}; not dialled: the TLS files are not usable`);
    return ok(base);
  });
  if (!directory || listed.status === 'fail' || !tls) return;
  const peers = directory.gateways.filter((g) => g.cluster !== config.cluster);
  const serverTimeMs = directory.serverTimeMs;
  // Dial all at once (bounded by timeoutMs each), report in registry order.
  const findings = peers.map((peer) =>
    peer.live ? checkPeer(peer, config, tls, timeoutMs) : Promise.resolve(stalePeer(peer, serverTimeMs)),
  );
  for (const [i, peer] of peers.entries()) {
    await step(
      `peer:${peer.cluster}/${peer.id}`,
      `peer ${peer.cluster}/${peer.id}`,
      () => findings[i] as Promise<Finding>,
    );
  }
}

const TITLES: readonly (readonly [string, string])[] = [
  ['config', 'config'],
  ['tls-files', 'tls files'],
  ['certificate', 'certificate'],
  ['identity', 'identity'],
  ['trust-anchor', 'trust anchor'],
  ['redis', 'redis'],
  ['redis-acl', 'redis acl'],
  ['clock', 'clock skew'],
  ['peers', 'peers'],
];

function report(config: string, checks: readonly CheckResult[]): CheckReport {
  const summary: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const check of checks) summary[check.status]++;
  return { ok: summary.fail === 0, config, summary, checks };
}

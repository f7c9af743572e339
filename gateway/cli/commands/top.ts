// `weft top [--admin URL] [--interval 2s] [--local] [--limit N] [--json]`: the busiest edges of the
// fabric (source cluster → service in destination cluster) with request rate, success rate and latency
// p50/p95/p99 over the gateway's sliding window, refreshed in place like `linkerd viz top`, until Ctrl-C.
// `--json` prints one sample (the /api/v1/golden JSON) and exits. By default the fabric-wide view (every
// gateway's published stats); `--local` shows only the asked gateway's own traffic.
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import type { EdgeJson, GoldenResponse } from '../../admin/index.js';
import { parseDurationMs } from '../../config/index.js';
import { GatewayError } from '../../errors.js';
import { adminUrl, DEFAULT_ADMIN, fetchAdminJson } from '../admin-client.js';
import { textTable } from '../text-table.js';

interface TopFlags {
  admin: string;
  interval: string;
  local?: boolean;
  limit: string;
  json?: boolean;
}

const CLEAR = '\x1b[H\x1b[2J';

export function registerTopCommand(program: Command): void {
  program
    .command('top')
    .description('live table of the busiest edges: rps, success rate, latency p50/p95/p99 (Ctrl-C quits)')
    .option('--admin <url>', 'admin API of the gateway to ask', DEFAULT_ADMIN)
    .option('--interval <duration>', 'refresh interval, e.g. 1s, 500ms', '2s')
    .option('--local', "only the asked gateway's own traffic, not the whole fabric")
    .option('--limit <n>', 'rows shown', '20')
    .option('--json', 'print one sample as JSON and exit')
    .action(async (flags: TopFlags) => {
      const intervalMs = parseDurationMs(flags.interval);
      if (intervalMs === undefined || intervalMs < 100) {
        throw new GatewayError(
          'USAGE',
          `--interval ${JSON.stringify(flags.interval)}: give a duration of at least 100ms, e.g. 2s`,
        );
      }
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new GatewayError('USAGE', `--limit ${JSON.stringify(flags.limit)}: give a whole number ≥ 1`);
      }
      const url = adminUrl(flags.admin, `/api/v1/golden?scope=${flags.local ? 'local' : 'fabric'}`);
      const first = await fetchAdminJson<GoldenResponse>(url);
      if (flags.json) {
        process.stdout.write(first.text.endsWith('\n') ? first.text : `${first.text}\n`);
        return;
      }
      await live(url, first.body, intervalMs, limit);
    });
}

/** Refreshes until SIGINT/SIGTERM; a failed fetch shows its error and the next refresh tries again. */
async function live(url: string, first: GoldenResponse, intervalMs: number, limit: number): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let sample: GoldenResponse | undefined = first;
    let error: string | undefined;
    while (!stop.signal.aborted) {
      const screen = renderTop(url, sample, error, limit);
      process.stdout.write(tty ? CLEAR + screen : `${screen}\n`);
      // Node's timer removes its abort listener when it fires (one left per refresh would pile up).
      await delay(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted) break;
      try {
        sample = (await fetchAdminJson<GoldenResponse>(url)).body;
        error = undefined;
      } catch (err) {
        error = (err as Error).message;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value < 1) return `${value.toFixed(2)}ms`;
  if (value < 100) return `${value.toFixed(1)}ms`;
  if (value < 10_000) return `${Math.round(value)}ms`;
  return `${(value / 1000).toFixed(1)}s`;
}

function rate(rps: number): string {
  return rps >= 100 ? rps.toFixed(0) : rps >= 10 ? rps.toFixed(1) : rps.toFixed(2);
}

function row(edge: EdgeJson): string[] {
  return [
    edge.source,
    edge.service,
    edge.destination,
    rate(edge.rps),
    `${(edge.successRate * 100).toFixed(2)}%`,
    ms(edge.p50Ms),
    ms(edge.p95Ms),
    ms(edge.p99Ms),
    edge.reportedBy.join(','),
  ];
}

const HEADER = ['SOURCE', 'SERVICE', 'DESTINATION', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'REPORTED BY'];
const NUMERIC = new Set([3, 4, 5, 6, 7]);

function renderTop(
  url: string,
  sample: GoldenResponse | undefined,
  error: string | undefined,
  limit: number,
): string {
  const lines: string[] = [];
  const when = new Date(sample?.at ?? Date.now()).toTimeString().slice(0, 8);
  const windowS = Math.round((sample?.windowMs ?? 0) / 1000);
  lines.push(
    `weft top  ${url}  ${sample?.scope ?? ''} view, window ${windowS}s, ${sample?.reporting.length ?? 0} gateway(s) reporting  ${when}  (Ctrl-C quits)`,
  );
  if (error) lines.push(`! ${error}`);
  lines.push('');
  const edges = sample?.edges ?? [];
  if (edges.length === 0) {
    lines.push('no traffic in the window');
    return lines.join('\n') + '\n';
  }
  lines.push(textTable(HEADER, edges.slice(0, limit).map(row), NUMERIC).trimEnd());
  if (edges.length > limit) lines.push(`… ${edges.length - limit} more (--limit)`);
  return lines.join('\n') + '\n';
}

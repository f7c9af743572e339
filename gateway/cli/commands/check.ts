// `weft check --config gateway.yaml [--json] [--timeout 3s]`: what is wrong with this gateway's setup,
// like `linkerd check`. Each check prints as it completes (with a "checking …" line on a terminal);
// every warning and failure says what to do next. Exit 0 when nothing failed (warnings allowed), 1 when
// a check failed, 2 on bad usage. `--json` prints one report object and nothing else on stdout.
import type { Command } from 'commander';
import { parseDurationMs } from '../../config/index.js';
import { GatewayError } from '../../errors.js';
import type { CheckReport, CheckResult, CheckStatus } from '../check/check-result.js';
import { runChecks } from '../check/run-checks.js';

interface CheckFlags {
  config: string;
  json?: boolean;
  timeout: string;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };
const TITLE_WIDTH = 14;

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description("what is wrong with this gateway's setup: config, certificates, Redis, clock, peers")
    .requiredOption('--config <file>', 'the gateway config file')
    .option('--json', 'print the report as JSON')
    .option('--timeout <duration>', 'bound of each network step (Redis connect, each peer handshake)', '3s')
    .action(async (flags: CheckFlags) => {
      const timeoutMs = parseDurationMs(flags.timeout);
      if (timeoutMs === undefined || timeoutMs < 100) {
        throw new GatewayError(
          'USAGE',
          `--timeout ${JSON.stringify(flags.timeout)}: give a duration such as 3s`,
        );
      }
      const progress = flags.json ? process.stderr : process.stdout;
      const interactive = progress.isTTY === true;
      const report = await runChecks({
        configPath: flags.config,
        timeoutMs,
        onStart: (_id, title) => {
          if (interactive) progress.write(`  … ${title}`);
        },
        onResult: (result) => {
          if (interactive) progress.write('\r\x1b[K');
          if (!flags.json || interactive) progress.write(renderResult(result));
        },
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(renderSummary(report));
      if (!report.ok) {
        throw new GatewayError(
          'CHECK_FAILED',
          `${report.summary.fail} check(s) failed; fix them from the top (later checks often follow), then run weft check again`,
        );
      }
    });
}

function renderResult(result: CheckResult): string {
  const head = `${MARK[result.status]} ${result.title.padEnd(TITLE_WIDTH)} ${result.message}\n`;
  if (!result.hint) return head;
  return `${head}${' '.repeat(TITLE_WIDTH + 3)}→ ${result.hint}\n`;
}

function renderSummary(report: CheckReport): string {
  const { ok, warn, fail, skip } = report.summary;
  const parts = [
    `${ok} ok`,
    `${warn} warning${warn === 1 ? '' : 's'}`,
    `${fail} failure${fail === 1 ? '' : 's'}`,
  ];
  if (skip > 0) parts.push(`${skip} skipped`);
  return `\nweft check: ${parts.join(', ')}${report.ok ? (warn > 0 ? ' — works, but see the warnings' : ' — all good') : ''}\n`;
}

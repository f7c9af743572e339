// Runs the `weft` CLI as a user would (a child process from the package root), and polls a condition
// that needs I/O until it holds: shared by the CLI suites (status, top, demo).
import { execFile } from 'node:child_process';
import { fromPackageRoot } from '../../gateway/package-root.js';

export interface WeftRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `weft ARGS…`; resolves with the exit code (-1: killed at `timeoutMs`) and both outputs. */
export function runWeft(args: readonly string[], timeoutMs = 30_000): Promise<WeftRun> {
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', fromPackageRoot('gateway/cli/main.ts'), ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Calls `probe` every 100 ms until it returns a value other than undefined; fails after `ms` with the
 * last error the probe threw, if any.
 */
export async function within<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const reason = last instanceof Error ? ` (last error: ${last.message})` : '';
  throw new Error(`${what}: not within ${ms} ms${reason}`);
}

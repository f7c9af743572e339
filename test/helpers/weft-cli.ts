// Runs the `weft` CLI as a user would (a child process from the package root): shared by the suites that
// check its exit codes and output end to end (cli, certs, check, dns, status, top, demo).
import { execFile } from 'node:child_process';
import { fromPackageRoot } from '../../gateway/package-root.js';

export interface WeftRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `weft ARGS…`; resolves with the exit code (-1: killed, SIGKILL, at `timeoutMs`) and both outputs. */
export function runWeft(args: readonly string[], timeoutMs = 30_000): Promise<WeftRun> {
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', fromPackageRoot('gateway/cli/main.ts'), ...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

// The quick-start path as a test: `weft demo --smoke` builds the three-cloud fabric from real gateway
// processes, makes every printed call itself and exits 0 — and leaves no process or temp folder behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';

function demoGatewayPids(): Set<string> {
  const lines = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n');
  return new Set(
    lines.filter((l) => /weft-demo-.*gateway\.yaml/.test(l)).map((l) => l.trim().split(' ')[0] ?? ''),
  );
}

async function demoFolders(): Promise<Set<string>> {
  return new Set((await readdir(tmpdir())).filter((name) => name.startsWith('weft-demo-')));
}

test('weft demo --smoke passes every step within 60 s and cleans up', { timeout: 120_000 }, async () => {
  const before = await demoFolders();
  const gatewaysBefore = demoGatewayPids();
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli/main.ts', 'demo', '--smoke'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  const elapsedMs = Date.now() - started;
  console.log(`demo --smoke exited ${code} after ${elapsedMs} ms\n${output}`);

  assert.equal(code, 0, output);
  assert.ok(elapsedMs < 60_000, `smoke took ${elapsedMs} ms`);
  for (const step of [
    'HTTP local first',
    'HTTP across clouds',
    'gRPC unary',
    'gRPC bidirectional',
    'TCP echo',
    'failover: hello stops in aws-use1',
  ]) {
    assert.match(output, new RegExp(`^PASS  ${step}`, 'm'), `step "${step}" did not pass`);
  }
  assert.match(output, /smoke: all steps passed/);
  const leftover = [...(await demoFolders())].filter((name) => !before.has(name));
  assert.deepEqual(leftover, [], 'the demo left its temp folder behind');
  const strayGateways = [...demoGatewayPids()].filter((pid) => !gatewaysBefore.has(pid));
  assert.deepEqual(strayGateways, [], 'the demo left gateway processes running');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function weft(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('weft --help lists every command of the CLI contract', () => {
  const { status, stdout } = weft('--help');
  assert.equal(status, 0);
  for (const command of ['gateway', 'demo', 'certs', 'status', 'check']) {
    assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `${command} missing from:\n${stdout}`);
  }
});

test('weft gateway --help names its flags', () => {
  const { status, stdout } = weft('gateway', '--help');
  assert.equal(status, 0);
  assert.match(stdout, /--config <file>/);
  assert.match(stdout, /--log-level/);
});

test('an unknown command exits 2 with a hint', () => {
  const { status, stderr } = weft('bogus');
  assert.equal(status, 2);
  assert.match(stderr, /unknown command 'bogus'/);
  assert.match(stderr, /--help/);
});

test('weft gateway without --config exits 2 naming the missing flag', () => {
  const { status, stderr } = weft('gateway');
  assert.equal(status, 2);
  assert.match(stderr, /--config/);
});

test('weft gateway with a bad config exits 2 listing every problem with its path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, 'cluster: Bad_Name\nlocality: { cloud: aws, region: r }\nextra: 1\n');
  const { status, stderr } = weft('gateway', '--config', file);
  assert.equal(status, 2);
  assert.match(stderr, /gateway\.yaml is invalid/);
  assert.match(stderr, /cluster: cluster must be a DNS label/);
  assert.match(stderr, /trustDomain:/);
  assert.match(stderr, /Unrecognized key: "extra"/);
});

test('weft gateway with a missing config file exits 2 naming the file', () => {
  const { status, stderr } = weft('gateway', '--config', '/nonexistent/weft.yaml');
  assert.equal(status, 2);
  assert.match(stderr, /cannot read config \/nonexistent\/weft\.yaml/);
});

test('weft gateway rejects an unknown log level with exit 2', () => {
  const { status, stderr } = weft('gateway', '--config', 'x.yaml', '--log-level', 'loud');
  assert.equal(status, 2);
  assert.match(stderr, /--log-level must be one of/);
});

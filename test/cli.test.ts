import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWeft } from './helpers/weft-cli.js';

test('weft --help lists every command of the CLI contract', async () => {
  const { code, stdout } = await runWeft(['--help']);
  assert.equal(code, 0);
  for (const command of ['gateway', 'demo', 'certs', 'status', 'check']) {
    assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `${command} missing from:\n${stdout}`);
  }
});

test('weft gateway --help names its flags', async () => {
  const { code, stdout } = await runWeft(['gateway', '--help']);
  assert.equal(code, 0);
  assert.match(stdout, /--config <file>/);
  assert.match(stdout, /--log-level/);
});

test('an unknown command exits 2 with a hint', async () => {
  const { code, stderr } = await runWeft(['bogus']);
  assert.equal(code, 2);
  assert.match(stderr, /unknown command 'bogus'/);
  assert.match(stderr, /--help/);
});

test('weft gateway without --config exits 2 naming the missing flag', async () => {
  const { code, stderr } = await runWeft(['gateway']);
  assert.equal(code, 2);
  assert.match(stderr, /--config/);
});

test('weft gateway with a bad config exits 2 listing every problem with its path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, 'cluster: Bad_Name\nlocality: { cloud: aws, region: r }\nextra: 1\n');
  const { code, stderr } = await runWeft(['gateway', '--config', file]);
  assert.equal(code, 2);
  assert.match(stderr, /gateway\.yaml is invalid/);
  assert.match(stderr, /cluster: cluster must be a DNS label/);
  assert.match(stderr, /trustDomain:/);
  assert.match(stderr, /Unrecognized key: "extra"/);
});

test('weft gateway with a missing config file exits 2 naming the file', async () => {
  const { code, stderr } = await runWeft(['gateway', '--config', '/nonexistent/weft.yaml']);
  assert.equal(code, 2);
  assert.match(stderr, /cannot read config \/nonexistent\/weft\.yaml/);
});

test('weft gateway rejects an unknown log level with exit 2', async () => {
  const { code, stderr } = await runWeft(['gateway', '--config', 'x.yaml', '--log-level', 'loud']);
  assert.equal(code, 2);
  assert.match(stderr, /--log-level must be one of/);
});

test('weft gateway with TLS files that are not certificates exits 1 with a one-line message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
  const file = join(dir, 'gateway.yaml');
  for (const name of ['ca.pem', 'gw.pem', 'gw.key']) await writeFile(join(dir, name), 'not a PEM file\n');
  await writeFile(
    file,
    [
      'cluster: aws-use1',
      'locality: { cloud: aws, region: us-east-1 }',
      'trustDomain: acme.test',
      'redis: redis://127.0.0.1:1',
      `tls: { ca: ${dir}/ca.pem, cert: ${dir}/gw.pem, key: ${dir}/gw.key }`,
      'listen: { outbound: 127.0.0.1:0, peer: 127.0.0.1:0, admin: 127.0.0.1:0, control: 127.0.0.1:0 }',
      '',
    ].join('\n'),
  );
  const { code, stderr } = await runWeft(['gateway', '--config', file]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /^weft: .*\.pem/m);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
});

// Leases: a gateway in another process that is SIGKILLed (no goodbye) stops being listed as live within
// its lease time; its records stay visible as stale, a last resort.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { FAST_TIMINGS, exported } from './helpers/discovery-fixture.js';
import { standaloneRedis } from './helpers/standalone-redis.js';
import { waitFor, within } from './helpers/wait.js';

const CHILD = fileURLToPath(new URL('./helpers/discovery-child.ts', import.meta.url));

test('a SIGKILLed gateway in another process is no longer live within the lease time', async (t) => {
  const { redis, fx } = await standaloneRedis(t);
  const a = await fx.start('aws-use1', 'gw-a');

  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      WEFT_CLUSTER: 'azure-eus',
      WEFT_SERVICES: 'hello,db',
      WEFT_SNAPSHOT_FILE: join(fx.dir, 'child.json'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('child ready', () => output.includes('ready'), 20_000);
  await within('a sees the child', 5000, () => exported(a, 'azure-eus', 'db.default'));
  assert.equal(a.view.snapshot().clusters.get('azure-eus')?.freshness, 'live');

  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const killedAt = Date.now();
  await exited;
  const stale = await within('the child is stale', FAST_TIMINGS.leaseTtlMs + 3000, () => {
    const cluster = a.view.snapshot().clusters.get('azure-eus');
    return cluster?.freshness === 'stale' ? cluster : undefined;
  });
  const elapsed = Date.now() - killedAt;
  console.log(
    `discovery lease expiry after SIGKILL: stale after ${elapsed} ms (lease ${FAST_TIMINGS.leaseTtlMs} ms)`,
  );
  assert.ok(elapsed <= FAST_TIMINGS.leaseTtlMs + 1000, `stale after ${elapsed} ms`);
  assert.ok(stale.services.get('hello.default'), 'a stale cluster is still there as a last resort');
  assert.equal(stale.gateways[0]?.freshness, 'stale');
  assert.deepEqual(
    a.status().clusters.stale.map((c) => c.name),
    ['azure-eus'],
  );
});

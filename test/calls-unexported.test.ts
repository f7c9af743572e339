// `calls[]` gives settings to a service this gateway only calls. A name no cluster exports (a misspelt
// one) would otherwise never apply and never be noticed: the gateway names such entries once discovery
// has synced, at start and after each reload, and names only those.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { callerAndServer, FailoverFabric } from './helpers/failover-fabric.js';
import { waitFor, within } from './helpers/wait.js';

const HOST_A = '127.0.11.1';
const HOST_B = '127.0.12.1';
let fabric: FailoverFabric;

before(async () => {
  fabric = await FailoverFabric.start(callerAndServer(HOST_A, HOST_B, 'chat', `${HOST_B}:9`), {});
});

after(async () => {
  await fabric?.close();
});

test('a reload names the calls[] entries no cluster exports, and only those', async () => {
  await waitFor(
    "a to learn b's chat.default",
    async () => {
      const { services } = await fabric.admin<{ services: { service: string }[] }>('a', '/api/v1/services');
      return services.some((s) => s.service === 'chat.default');
    },
    10_000,
  );
  await fabric.reconfigure('a', (config) => {
    config.calls = [{ service: 'chat.default', retries: { attempts: 0 } }, { service: 'chaat.default' }];
  });
  // The logger writes asynchronously: the warning may reach the file after "config reloaded" does.
  const warning = await within('the reload to name the unexported service', 5000, async () => {
    const log = await readFile(fabric.gateway('a').process.options.logFile, 'utf8');
    return log.split('\n').find((line) => line.includes('calls[] names services'));
  });
  assert.deepEqual((JSON.parse(warning) as { services: string[] }).services, ['chaat.default']);
});

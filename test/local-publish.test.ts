// What this gateway exports is published once per batch of changes: a service added with a health check
// changes the catalog and, in the same turn, starts the check (a new health snapshot); both used to
// republish the whole export set (validated, compared and diffed against the last one), which at
// thousands of local services is milliseconds each. Counted with a spy on the real Discovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Discovery } from '../discovery/index.js';
import { loadConfigFile } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';
import { loneGatewayGround } from './helpers/lone-gateway.js';

const HOST = '127.0.102.1';

test('a service added with a health check is published once, not once for the catalog and once for health', async (t) => {
  const ground = await loneGatewayGround(t, HOST, 'publish.test');
  const { dir } = ground;
  // An endpoint that accepts and never answers: its check stays pending, so no result adds a publish.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket)).listen(0, HOST);
  await once(silent, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const silentPort = (silent.address() as { port: number }).port;
  const config = {
    ...ground.config,
    services: [{ name: 'hello', endpoints: [`${HOST}:9`] }],
  };
  const file = join(dir, 'a.yaml');
  await writeFile(file, stringify(config));
  const gateway = new Gateway({ config: await loadConfigFile(file), logger: pino({ level: 'silent' }) });
  t.after(() => gateway.close());
  await gateway.start();

  // Calls through to the real method; restored when the test ends.
  const publish = t.mock.method(Discovery.prototype, 'setLocalServices');
  await writeFile(
    file,
    stringify({
      ...config,
      services: [
        ...config.services,
        {
          name: 'checked',
          endpoints: [`${HOST}:${silentPort}`],
          health: { http: '/healthz', interval: '30s', timeout: '20s', rise: 1, fall: 1 },
        },
      ],
    }),
  );
  await gateway.reload();
  // The reload added the service and started its check (a new health snapshot) in one turn, and its
  // publishes ran before reload() resolved; a check's result would come much later (30 s interval).
  const published = publish.mock.calls.map((call) => call.arguments[0].map((s) => s.name));
  assert.deepEqual(published, [['hello', 'checked']]);
});

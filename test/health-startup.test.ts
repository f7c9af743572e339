// A local endpoint that fails its health check while the gateway is still starting (discovery waiting for
// a slow Redis) is out of its route once the gateway runs: the route rebuilds name only the services whose
// health changed, so a change made before the gateway followed health must still be named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfigObject } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';
import { loneGatewayGround } from './helpers/lone-gateway.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.97.1';

test('an endpoint that failed its check while the gateway started is out of the route', async (t) => {
  const { dir, redis, listen, config: base } = await loneGatewayGround(t, HOST, 'startup.test');
  const dead = await listen();
  const config = parseConfigObject(
    {
      ...base,
      services: [
        {
          name: 'hello',
          endpoints: [dead],
          health: { tcp: true, interval: '50ms', timeout: '50ms', rise: 1, fall: 1 },
        },
      ],
    },
    join(dir, 'a.yaml'),
  );
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    }),
  );
  const gateway = new Gateway({ config, logger });
  t.after(() => gateway.close());
  // Discovery's first sync waits for the frozen Redis: the gateway is still starting when the check fails.
  redis.pause();
  const started = gateway.start();
  try {
    await waitFor(
      'the endpoint to fail its check during the start',
      () => lines.some((line) => line.includes('endpoint failed its health check')),
      10_000,
    );
  } finally {
    redis.resume();
  }
  await started;
  const routes = (await (await fetch(`http://${base.listen.admin}/api/v1/routes`)).json()) as {
    routes: { service: string; local: string[] }[];
  };
  assert.deepEqual(routes.routes.find((r) => r.service === 'hello.default')?.local, []);
});

// A running `weft gateway` and its signals, end to end: SIGHUP applies what may change while running,
// keeps the running values of what needs a restart and names it; SIGTERM ends the discovery lease before
// the drain (peers stop choosing the gateway while its requests finish); SIGHUP during the drain is
// ignored, not fatal. A gateway whose peer port is taken exits with the error, instead of hanging with
// its outbound listener bound.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../gateway/demo/free-port.js';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { startStallingUpstream, type StallingUpstream } from './helpers/stalling-upstream.js';
import { waitFor } from './helpers/wait.js';
import { runWeft } from './helpers/weft-cli.js';

const HOST = '127.0.5.1';

describe('gateway lifecycle', () => {
  let fabric: FailoverFabric;
  /** A request to it stays in flight. */
  let stall: StallingUpstream;

  before(async () => {
    stall = await startStallingUpstream(HOST);
    fabric = await FailoverFabric.start(
      [
        singleCluster(HOST, {
          services: [{ name: 'stall', protocol: 'http', endpoints: [stall.endpoint] }],
        }),
      ],
      {},
    );
  });

  after(async () => {
    await fabric?.close();
    stall?.close();
  });

  const logOf = async () => {
    const file = fabric.gateway('a').process.options.logFile;
    return readFile(file, 'utf8');
  };

  test('a start that fails on a taken port exits with the error, not hanging with listeners bound', async () => {
    const running = fabric.gateway('a');
    const listen = running.config.listen as Record<string, string>;
    const config = {
      ...running.config,
      listen: {
        outbound: `${HOST}:${await freePort(HOST)}`,
        peer: listen.peer,
        admin: `${HOST}:${await freePort(HOST)}`,
        control: `${HOST}:${await freePort(HOST)}`,
      },
    };
    const file = join(running.configFile, '..', 'taken-peer-port.yaml');
    await writeFile(file, stringify(config));
    const started = performance.now();
    const run = await runWeft(['gateway', '--config', file], 20_000);
    console.log(`exited ${run.code} after ${Math.round(performance.now() - started)} ms`);
    assert.equal(run.code, 1, `exit ${run.code}; stderr: ${run.stderr}`);
    assert.match(run.stderr, /peer listener \(listen\.peer\) cannot listen on .*EADDRINUSE/);
  });

  test('a reload applies services, and keeps and names the changes that need a restart', async () => {
    await fabric.reconfigure('a', (config) => {
      config.zone = 'other.example';
      config.services.push({ name: 'extra', protocol: 'http', endpoints: [`${HOST}:9`] });
    });
    const { services } = await fabric.admin<{ services: { service: string }[] }>('a', '/api/v1/services');
    assert.ok(
      services.some((s) => s.service === 'extra.default'),
      'the new service is served',
    );
    const warning = (await logOf())
      .split('\n')
      .find((line) => line.includes('take effect only after a restart'));
    assert.ok(warning, 'the reload names what needs a restart');
    assert.deepEqual((JSON.parse(warning) as { fields: string[] }).fields, ['zone']);
    const { outbound } = fabric.gateway('a');
    const answer = await httpCall(`http://${outbound.host}:${outbound.port}/`, {
      headers: { host: 'hello.default.svc.clusterset.local' },
    });
    assert.equal(answer.status, 200, 'names in the running zone still route until a restart');
  });

  test('SIGTERM ends the lease, then drains; SIGHUP during the drain is ignored; exit 0', async () => {
    const gateway = fabric.gateway('a').process;
    const { outbound } = fabric.gateway('a');
    // A request in flight keeps the drain going (up to drainTimeout) while the SIGHUP arrives. The test
    // sends the SIGHUP once it reads "draining" in the log, which a busy machine may delay: 4 s leave room.
    await fabric.reconfigure('a', (config) => (config.drainTimeout = '4s'));
    const inFlight = httpCall(`http://${outbound.host}:${outbound.port}/`, {
      headers: { host: 'stall' },
    }).catch(() => undefined);
    await waitFor('the request to reach the stalling upstream', () => stall.held.length > 0, 10_000);
    gateway.signal('SIGTERM');
    await waitFor('the drain to begin', async () => (await logOf()).includes('"msg":"draining"'), 10_000);
    gateway.signal('SIGHUP');
    await gateway.exit(15_000);
    assert.deepEqual(gateway.exitStatus, { code: 0, signal: null }, gateway.logTail());
    assert.match(await logOf(), /"msg":"stopped"/);
    const log = await logOf();
    assert.match(log, /draining: reload ignored/);
    // The lease ended when the drain began, not after it: peers stopped choosing this gateway at once.
    const lines = log.split('\n');
    const left = lines.findIndex((line) => line.includes('"msg":"discovery: deregistered"'));
    const deadline = lines.findIndex((line) => line.includes('drain deadline passed'));
    assert.ok(left >= 0 && deadline >= 0, gateway.logTail());
    assert.equal((JSON.parse(lines[left] ?? '{}') as { ended?: boolean }).ended, true, 'the lease ended');
    assert.ok(left < deadline, 'the lease ended before the drain finished');
    await inFlight;
  });
});

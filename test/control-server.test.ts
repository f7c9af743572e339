import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { LocalCatalog } from '../gateway/catalog/index.js';
import type { ServiceConfig } from '../gateway/config/index.js';
import {
  ControlServer,
  isLoopback,
  RegistryClient,
  registrationMessage,
  type FabricStateMessage,
  type HoldResponse,
} from '../gateway/control/index.js';
import { GatewayError } from '../gateway/errors.js';
import { withSharedWatchMessages } from '../gateway/control/watch-stream.js';
import { StaticFabricView } from './helpers/static-fabric-view.js';
import { waitFor } from './helpers/wait.js';

const logger = pino({ level: 'silent' });

const configured: ServiceConfig = {
  name: 'hello',
  namespace: 'default',
  key: 'hello.default',
  protocol: 'http',
  endpoints: [],
};

async function startControl(view = new StaticFabricView()) {
  const catalog = new LocalCatalog([configured]);
  const control = new ControlServer({ listen: { host: '127.0.0.1', port: 0 }, catalog, view, logger });
  await control.start();
  const { port } = control.address();
  const client = new RegistryClient(`127.0.0.1:${port}`);
  return { catalog, control, client, view, address: `127.0.0.1:${port}` };
}

function grpcCode(err: unknown): number | undefined {
  return (err as grpc.ServiceError).code;
}

test('control: Register adds to the catalog until Deregister; unknown ids are NOT_FOUND', async (t) => {
  const { catalog, control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());
  const id = await client.register({
    name: 'web',
    endpoints: ['10.0.0.7:8080', { address: '[fd00::7]:8080', weight: 3 }],
  });
  assert.deepEqual(catalog.services().get('web.default'), {
    key: 'web.default',
    name: 'web',
    namespace: 'default',
    protocol: 'http',
    allow: null,
    endpoints: [
      { host: '10.0.0.7', port: 8080, weight: 1 },
      { host: 'fd00::7', port: 8080, weight: 3 },
    ],
  });
  await client.deregister(id);
  assert.equal(catalog.services().has('web.default'), false);
  await assert.rejects(client.deregister(id), (err) => {
    assert.equal(grpcCode(err), grpc.status.NOT_FOUND);
    return true;
  });
});

test('control: the same Register again returns the same id; endpoints are not doubled', async (t) => {
  const { catalog, control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());
  const registration = { name: 'web', endpoints: ['10.0.0.7:8080'] };
  const first = await client.register(registration);
  for (let i = 0; i < 20; i++) assert.equal(await client.register(registration), first);
  assert.equal(catalog.services().get('web.default')?.endpoints.length, 1);
  const other = await client.register({ name: 'web', endpoints: ['10.0.0.8:8080'] });
  assert.notEqual(other, first);
  assert.equal(catalog.services().get('web.default')?.endpoints.length, 2);
});

test('control: invalid registrations get INVALID_ARGUMENT naming every problem', async (t) => {
  const { control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());
  const cases: [Parameters<RegistryClient['register']>[0], RegExp][] = [
    [{ name: 'Web', endpoints: ['10.0.0.7:80'] }, /name "Web" must be a DNS label/],
    [{ name: 'web', namespace: 'a_b', endpoints: ['10.0.0.7:80'] }, /namespace "a_b" must be a DNS label/],
    [
      { name: 'web', endpoints: ['10.0.0.7:0'] },
      /endpoints\[0\]\.address "10\.0\.0\.7:0" must be host:port with port 1-65535/,
    ],
    [{ name: 'web', endpoints: ['10.0.0.7:70000'] }, /endpoints\[0\]\.address "10\.0\.0\.7:70000"/],
    [{ name: 'web', endpoints: ['10.0.0.7'] }, /endpoints\[0\]\.address "10\.0\.0\.7"/],
    // Addresses a URL cannot hold, or would read as another host: dialling them over HTTP/2 would throw.
    [
      { name: 'web', protocol: 'grpc', endpoints: ['[1:2]:50051'] },
      /endpoints\[0\]\.address "\[1:2\]:50051"/,
    ],
    [{ name: 'web', protocol: 'grpc', endpoints: ['999.1.1.1:50051'] }, /endpoints\[0\]\.address "999\./],
    [{ name: 'web', endpoints: ['1.2.3:80'] }, /endpoints\[0\]\.address "1\.2\.3:80"/],
    [{ name: 'web', endpoints: [] }, /endpoints: list at least one host:port/],
    [
      { name: 'web', protocol: 'udp', endpoints: ['10.0.0.7:80'] },
      /protocol "udp" must be one of http, grpc, tcp/,
    ],
    [
      { name: 'web', endpoints: [{ address: '10.0.0.7:80', weight: 5000 }] },
      /endpoints\[0\]\.weight 5000 must be 1-1000/,
    ],
    [{ name: 'web', endpoints: ['10.0.0.7:80'], allow: ['GCP'] }, /allow\[0\] "GCP" must be a DNS label/],
    // A longer list than a service record may carry: discovery would refuse to publish it.
    [
      { name: 'web', endpoints: ['10.0.0.7:80'], allow: Array.from({ length: 1001 }, (_, i) => `c${i}`) },
      /allow: at most 1000 clusters/,
    ],
    [{ name: '', protocol: 'x', endpoints: [] }, /name "".*; protocol "x".*; endpoints: list at least one/],
  ];
  for (const [input, message] of cases) {
    await assert.rejects(client.register(input), (err) => {
      assert.equal(grpcCode(err), grpc.status.INVALID_ARGUMENT, JSON.stringify(input));
      assert.match((err as grpc.ServiceError).details, message);
      return true;
    });
  }
});

test('control: a protocol that contradicts the config file is FAILED_PRECONDITION', async (t) => {
  const { catalog, control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());
  await assert.rejects(
    client.register({ name: 'hello', protocol: 'grpc', endpoints: ['10.0.0.7:80'] }),
    (err) => {
      assert.equal(grpcCode(err), grpc.status.FAILED_PRECONDITION);
      assert.match(
        (err as grpc.ServiceError).details,
        /hello\.default is configured with protocol http, not grpc/,
      );
      return true;
    },
  );
  await client.register({ name: 'hello', protocol: 'http', endpoints: ['10.0.0.7:80'] });
  assert.deepEqual(catalog.services().get('hello.default')?.endpoints, [
    { host: '10.0.0.7', port: 80, weight: 1 },
  ]);
});

test('control: registrations that add endpoints to a service must agree on its allow-list', async (t) => {
  const { catalog, control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());
  await client.register({ name: 'web', endpoints: ['10.0.0.7:80'] });
  await assert.rejects(
    client.register({ name: 'web', endpoints: ['10.0.0.8:80'], allow: ['aws-use1'] }),
    (err) => {
      assert.equal(grpcCode(err), grpc.status.FAILED_PRECONDITION);
      assert.match(
        (err as grpc.ServiceError).details,
        /web\.default is registered with protocol http and allow every cluster; .* \(it says http, allow \[aws-use1\]\)/,
      );
      return true;
    },
  );
  await client.register({ name: 'web', endpoints: ['10.0.0.8:80'] });
  assert.equal(catalog.services().get('web.default')?.endpoints.length, 2);
  assert.equal(catalog.services().get('web.default')?.allow, null);
});

test('control: Hold registrations live as long as the stream; an invalid message ends it', async (t) => {
  const { catalog, control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());

  const stream = client.hold();
  const responses: HoldResponse[] = [];
  stream.on('data', (r: HoldResponse) => responses.push(r));
  const ended = new Promise<grpc.ServiceError>((resolveEnd) => stream.on('error', resolveEnd));
  stream.write({ register: registrationMessage({ name: 'a', endpoints: ['127.0.0.1:1001'] }) });
  stream.write({ register: registrationMessage({ name: 'b', endpoints: ['127.0.0.1:1002'] }) });
  await waitFor('both registrations are confirmed', () => responses.length === 2, 10_000);
  assert.ok(catalog.services().has('a.default') && catalog.services().has('b.default'));
  const first = responses[0];
  assert.ok(first && 'registered' in first);
  stream.write({ deregister: first.registered });
  await waitFor('the deregistration is confirmed', () => responses.length === 3, 10_000);
  assert.deepEqual(responses[2], { deregistered: first.registered, result: 'deregistered' });
  assert.equal(catalog.services().has('a.default'), false);

  stream.write({ register: registrationMessage({ name: 'c', endpoints: ['127.0.0.1:99999'] }) });
  const err = await ended;
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /endpoints\[0\]\.address "127\.0\.0\.1:99999"/);
  await waitFor(
    "the failed stream's registrations are removed",
    () => !catalog.services().has('b.default'),
    10_000,
  );
});

test('control: a Hold client process killed with SIGKILL loses its registrations', async (t) => {
  const { catalog, control, address } = await startControl();
  t.after(() => control.close());
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/control-hold-client.ts', address, 'agent', '127.0.0.1:7001'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('the child registered', () => output.includes('registered '), 30_000);
  assert.deepEqual(catalog.services().get('agent.default')?.endpoints, [
    { host: '127.0.0.1', port: 7001, weight: 1 },
  ]);
  const exited = once(child, 'exit');
  const killedAt = Date.now();
  child.kill('SIGKILL');
  await exited;
  await waitFor(
    "the killed agent's registration is removed",
    () => !catalog.services().has('agent.default'),
    10_000,
  );
  t.diagnostic(`registration removed ${Date.now() - killedAt} ms after SIGKILL`);
});

test('control: Watch sends the full state, then a state per change; close() ends the stream', async (t) => {
  const view = new StaticFabricView(
    [
      {
        name: 'aws-use1',
        gateways: [{ id: 'gw-a', leaseExpiresAt: 5_000 }],
        services: [{ key: 'hello.default', total: 2, healthy: 1 }],
      },
    ],
    { revision: 4, syncedAt: 1_234 },
  );
  const { control, client } = await startControl(view);
  t.after(() => client.close());
  const stream = client.watch();
  const states: FabricStateMessage[] = [];
  stream.on('data', (s: FabricStateMessage) => states.push(s));
  const ended = new Promise<grpc.ServiceError>((resolveEnd) => stream.on('error', resolveEnd));
  await waitFor('the initial state arrives', () => states.length === 1, 10_000);
  assert.deepEqual(states[0], {
    revision: 4,
    initial: true,
    source: 'redis',
    connected: true,
    syncedAtMs: 1234,
    clusters: [
      {
        name: 'aws-use1',
        locality: { cloud: 'aws', region: 'r1', zone: '' },
        freshness: 'live',
        staleSinceMs: 0,
        gateways: [
          {
            id: 'gw-a',
            peerAddress: '127.0.0.1:4143',
            version: '0.1.0',
            freshness: 'live',
            leaseExpiresAtMs: 5000,
          },
        ],
        services: [
          { service: 'hello.default', protocol: 'http', allow: [], endpointsTotal: 2, endpointsHealthy: 1 },
        ],
      },
    ],
  });
  view.publish([{ name: 'aws-use1', freshness: 'stale', staleSince: 9_000 }], { connected: false });
  await waitFor('the change arrives', () => states.length === 2, 10_000);
  assert.equal(states[1]?.initial, false);
  assert.equal(states[1]?.revision, 5);
  assert.equal(states[1]?.connected, false);
  assert.deepEqual(
    states[1]?.clusters.map((c) => [c.name, c.freshness, c.staleSinceMs, c.services.length]),
    [['aws-use1', 'stale', 9000, 0]],
  );
  await control.close();
  const err = await ended;
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  assert.match(err.details, /shutting down/);
  assert.equal(view.listenerCount(), 0);
});

test('control: a loopback address is loopback however it is written', async () => {
  for (const host of ['0:0:0:0:0:0:0:1', '::ffff:7f00:be01', '::FFFF:127.0.190.1']) {
    const control = new ControlServer({
      listen: { host, port: 0 },
      catalog: new LocalCatalog([]),
      view: new StaticFabricView(),
      logger,
    });
    try {
      await control.start();
      assert.ok(control.address().port > 0, host);
    } finally {
      await control.close();
    }
  }
  for (const host of [
    '::',
    '0:0:0:0:0:0:0:0',
    '::ffff:0.0.0.0',
    '::ffff:10.0.0.1',
    '::2',
    'gw.example.com',
  ]) {
    assert.equal(isLoopback(host), false, host);
  }
});

test('control: refuses non-loopback addresses and reports a taken port clearly', async (t) => {
  const open = new ControlServer({
    listen: { host: '0.0.0.0', port: 0 },
    catalog: new LocalCatalog([]),
    view: new StaticFabricView(),
    logger,
  });
  await assert.rejects(open.start(), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'USAGE');
    assert.match(
      err.message,
      /refuses 0\.0\.0\.0:0: it is unauthenticated and binds loopback addresses only/,
    );
    return true;
  });
  await open.close();

  const { control, address } = await startControl();
  t.after(() => control.close());
  const port = Number(address.split(':')[1]);
  const clash = new ControlServer({
    listen: { host: '127.0.0.1', port },
    catalog: new LocalCatalog([]),
    view: new StaticFabricView(),
    logger,
  });
  await assert.rejects(clash.start(), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'LISTEN_FAILED');
    assert.match(
      err.message,
      new RegExp(`control API \\(listen.control\\) cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
    );
    return true;
  });
  await clash.close();
  await clash.close();

  const raced = new ControlServer({
    listen: { host: '127.0.0.1', port: 0 },
    catalog: new LocalCatalog([]),
    view: new StaticFabricView(),
    logger,
  });
  const starting = raced.start();
  await raced.close();
  await starting;
  assert.throws(() => raced.address(), /not listening/);
});

test('control: Watch streams get the same state for a change, serialized once for all of them', async (t) => {
  const view = new StaticFabricView([{ name: 'aws-use1', services: [{ key: 'hello.default' }] }]);
  const { client } = await startControl(view);
  t.after(() => client.close());
  const streams = [client.watch(), client.watch()];
  const states: FabricStateMessage[][] = streams.map(() => []);
  streams.forEach((stream, i) => {
    stream.on('data', (s: FabricStateMessage) => states[i]?.push(s));
    stream.on('error', () => undefined); // CANCELLED, when the test cancels it
  });
  t.after(() => streams.forEach((stream) => stream.cancel()));
  await waitFor('both initial states', () => states.every((list) => list.length === 1), 10_000);
  view.publish([{ name: 'aws-use1', services: [{ key: 'hello.default', healthy: 0 }] }]);
  await waitFor('both changes', () => states.every((list) => list.length === 2), 10_000);
  assert.deepEqual(states[0]?.[1], states[1]?.[1]);
  assert.equal(states[0]?.[1]?.clusters[0]?.services[0]?.endpointsHealthy, 0);

  let serialized = 0;
  const service = withSharedWatchMessages({
    Watch: {
      path: '/weft.registry.v1.Registry/Watch',
      requestStream: false,
      responseStream: true,
      requestSerialize: () => Buffer.alloc(0),
      requestDeserialize: () => ({}),
      responseSerialize: (message: object) => {
        serialized++;
        return Buffer.from(JSON.stringify(message));
      },
      responseDeserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as object,
    },
  });
  const message = { revision: 1 };
  const first = service.Watch?.responseSerialize(message);
  assert.equal(service.Watch?.responseSerialize(message), first);
  service.Watch?.responseSerialize({ revision: 1 });
  assert.equal(serialized, 2, 'once per message object');
});

test('control: Watch coalesces a burst of changes for a reader that cannot keep up', async (t) => {
  const view = new StaticFabricView([{ name: 'aws-use1' }]);
  const { control, client } = await startControl(view);
  t.after(() => control.close());
  t.after(() => client.close());
  const stream = client.watch();
  t.after(() => stream.cancel());
  stream.on('error', () => {});
  const revisions: number[] = [];
  stream.on('data', (s: FabricStateMessage) => revisions.push(s.revision));
  await waitFor('the initial state arrives', () => revisions.length === 1, 10_000);
  for (let i = 0; i < 1000; i++) view.publish([{ name: 'aws-use1' }, { name: `c${i}` }]);
  const last = view.snapshot().revision;
  await waitFor('the latest state arrives', () => revisions.at(-1) === last, 10_000);
  assert.ok(revisions.length < 200, `expected intermediate states to be dropped, got ${revisions.length}`);
  assert.deepEqual(
    [...revisions].sort((a, b) => a - b),
    revisions,
    'revisions only grow',
  );
});

test('control: a Hold stream the agent closes removes its registrations', async (t) => {
  const { catalog, control, client } = await startControl();
  t.after(() => control.close());
  t.after(() => client.close());
  const stream = client.hold();
  const responses: HoldResponse[] = [];
  stream.on('data', (r: HoldResponse) => responses.push(r));
  const finished = new Promise<void>((resolveEnd) => stream.on('end', resolveEnd));
  stream.write({
    register: registrationMessage({ name: 'tmp', protocol: 'tcp', endpoints: ['127.0.0.1:5000'] }),
  });
  await waitFor('the registration is confirmed', () => responses.length === 1, 10_000);
  assert.equal(catalog.services().get('tmp.default')?.protocol, 'tcp');
  stream.end();
  await finished;
  await waitFor(
    "the closed stream's registration is removed",
    () => !catalog.services().has('tmp.default'),
    10_000,
  );
});

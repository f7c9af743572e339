// The gateway's AsyncResource.bind keeps what bind() documents (async scope, receiver, arguments, result)
// and drops only the deprecated accessor; node:http2 requests, which bind per stream, still work.
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useLeanAsyncResourceBind } from '../gateway/cli/lean-async-bind.js';

useLeanAsyncResourceBind();

test('a bound function runs in the async scope it was bound in, with its receiver, arguments and result', () => {
  const storage = new AsyncLocalStorage<string>();
  const bound = storage.run('bound-here', () =>
    AsyncResource.bind(function (this: unknown, a: number, b: number) {
      return { store: storage.getStore(), receiver: this, sum: a + b };
    }),
  );
  const receiver = { name: 'caller' };
  const result = storage.run('called-here', () => bound.call(receiver, 2, 3));
  assert.equal(result.store, 'bound-here');
  assert.equal(result.receiver, receiver);
  assert.equal(result.sum, 5);

  const resource = storage.run('with-this', () => new AsyncResource('test'));
  const fixedThis = { name: 'fixed' };
  // bind(fn, thisArg) is documented; @types/node declares only bind(fn).
  const bindWithThis = resource.bind.bind(resource) as <F>(fn: F, thisArg: unknown) => F;
  const withThis = bindWithThis(function (this: unknown) {
    return { store: storage.getStore(), receiver: this };
  }, fixedThis);
  const second = withThis.call({ name: 'ignored' });
  assert.equal(second.store, 'with-this');
  assert.equal(second.receiver, fixedThis);
});

test('the deprecated asyncResource accessor is gone and a non-function is refused', () => {
  const bound = new AsyncResource('test').bind(() => 1);
  assert.equal(Object.getOwnPropertyDescriptor(bound, 'asyncResource'), undefined);
  assert.throws(
    () => new AsyncResource('test').bind(42 as unknown as () => void),
    (err: Error) => err instanceof TypeError && /must be a function/.test(err.message),
  );
});

test('node:http2 client requests (one bind per stream) still complete', async () => {
  const server = http2.createServer((request, response) => {
    response.setHeader('content-type', 'text/plain');
    response.end(`echo ${request.url}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const bodies = await Promise.all(
      [1, 2, 3].map(
        (n) =>
          new Promise<string>((resolve, reject) => {
            const stream = session.request({ ':path': `/call-${n}` });
            let body = '';
            stream.setEncoding('utf8');
            stream.on('data', (chunk: string) => (body += chunk));
            stream.on('end', () => resolve(body));
            stream.on('error', reject);
          }),
      ),
    );
    assert.deepEqual(bodies, ['echo /call-1', 'echo /call-2', 'echo /call-3']);
  } finally {
    session.close();
    server.close();
  }
});

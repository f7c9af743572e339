// keepWhileStreaming: a body of unknown length reaches the first try unchanged and as it arrives, and
// its copy is offered for a retry only when the whole body ended within the replay limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { keepWhileStreaming, REPLAY_BODY_LIMIT_BYTES } from '../gateway/listeners/replay-body.js';
import { patternBytes } from './helpers/sample-upstreams.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('a body that ends within the limit streams through and is kept whole', async () => {
  const source = new PassThrough();
  const kept: { bytes?: Buffer } = {};
  const through = keepWhileStreaming(source, (bytes) => (kept.bytes = bytes));
  source.write('first ');
  const [first] = (await once(through, 'data')) as [Buffer];
  assert.equal(first.toString(), 'first ', 'the first chunk arrives before the body ends');
  assert.equal(kept.bytes === undefined, true, 'nothing kept before the end');
  source.end('second');
  const rest = await readAll(through);
  assert.equal(rest.toString(), 'second');
  assert.equal(kept.bytes?.toString(), 'first second');
});

test('a body over the limit streams through whole but is not kept', async () => {
  const source = new PassThrough();
  const kept: { bytes?: Buffer } = {};
  const through = keepWhileStreaming(source, (bytes) => (kept.bytes = bytes));
  const body = patternBytes(REPLAY_BODY_LIMIT_BYTES + 1000);
  const received = readAll(through);
  source.write(body.subarray(0, 40_000));
  source.end(body.subarray(40_000));
  assert.ok((await received).equals(body));
  assert.equal(kept.bytes, undefined);
});

test('a body cut short fails the stream the try reads, and is not kept', async () => {
  const source = new PassThrough();
  const kept: { bytes?: Buffer } = {};
  const through = keepWhileStreaming(source, (bytes) => (kept.bytes = bytes));
  source.write('partial');
  await once(through, 'data');
  source.destroy();
  const [err] = (await once(through, 'error')) as [Error];
  assert.match(err.message, /cut short/);
  assert.equal(kept.bytes, undefined);
});

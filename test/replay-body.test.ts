// KeptBody: a body of unknown length reaches the first try unchanged and as it arrives; a retry gets the
// bytes read so far and then the rest (or the whole body at once when it has ended), while the body is
// within the replay limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { KeptBody, REPLAY_BODY_LIMIT_BYTES } from '../gateway/listeners/replay-body.js';
import { patternBytes } from './helpers/sample-upstreams.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('the first try reads the body as it arrives; after the end a retry gets it whole', async () => {
  const source = new PassThrough();
  const kept = new KeptBody(source);
  source.write('first ');
  const [first] = (await once(kept.stream, 'data')) as [Buffer];
  assert.equal(first.toString(), 'first ', 'the first chunk arrives before the body ends');
  source.end('second');
  assert.equal((await readAll(kept.stream)).toString(), 'second');
  assert.ok(kept.replayable);
  const again = kept.replay();
  assert.ok(Buffer.isBuffer(again));
  assert.equal(again.toString(), 'first second');
});

test('a retry before the end replays the bytes so far, then streams the rest', async () => {
  const source = new PassThrough();
  const kept = new KeptBody(source);
  source.write('one ');
  await once(kept.stream, 'data');
  const retry = kept.replay();
  assert.ok(retry && !Buffer.isBuffer(retry));
  assert.equal(kept.stream, retry, 'the retry reads the new stream');
  const read = readAll(retry);
  source.write('two ');
  source.end('three');
  assert.equal((await read).toString(), 'one two three');
});

test('a body over the limit streams through whole but can no longer be replayed', async () => {
  const source = new PassThrough();
  const kept = new KeptBody(source);
  const body = patternBytes(REPLAY_BODY_LIMIT_BYTES + 1000);
  const received = readAll(kept.stream);
  source.write(body.subarray(0, 40_000));
  source.end(body.subarray(40_000));
  assert.ok((await received).equals(body));
  assert.equal(kept.replayable, false);
});

test('a body cut short ends the stream the try reads without an error', async () => {
  const source = new PassThrough();
  const kept = new KeptBody(source);
  let failed: Error | undefined;
  kept.stream.on('error', (err: Error) => (failed = err));
  source.write('partial');
  await once(kept.stream, 'data');
  source.destroy();
  await once(kept.stream, 'close');
  assert.equal(kept.stream.readableEnded, false, 'the try sees no end of the body');
  assert.equal(failed, undefined, 'no error that nobody would handle');
});

test('once no retry can come, the copy is dropped and the body goes on streaming', async () => {
  const source = new PassThrough();
  const kept = new KeptBody(source);
  source.write('kept ');
  await once(kept.stream, 'data');
  kept.forget();
  assert.equal(kept.replayable, false);
  const rest = readAll(kept.stream);
  source.end('streamed');
  assert.equal((await rest).toString(), 'streamed');
});

test('a body cut short by its caller, or grown past the limit, is not replayed', async () => {
  const cut = new PassThrough();
  const keptCut = new KeptBody(cut);
  cut.write('partial');
  await once(keptCut.stream, 'data');
  cut.destroy();
  await once(cut, 'close');
  assert.equal(keptCut.replayable, false);
  assert.equal(keptCut.replay(), null);

  const large = new PassThrough();
  const keptLarge = new KeptBody(large);
  const drained = readAll(keptLarge.stream);
  large.end(patternBytes(REPLAY_BODY_LIMIT_BYTES + 1));
  await drained;
  assert.equal(keptLarge.replay(), null);
});

// splice() on its own: a side that closed before the splice began (a reset while the far side was
// being set up) tears the other side down and still reports done, instead of leaving it open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { splice } from '../gateway/listeners/splice.js';

test('a side already closed when the splice begins closes the other side and reports done', async () => {
  const gone = new PassThrough();
  gone.destroy();
  await once(gone, 'close');
  const live = new PassThrough({ allowHalfOpen: true });
  let done = 0;
  splice(gone, live, () => done++);
  await once(live, 'close');
  assert.equal(live.destroyed, true);
  assert.equal(done, 1);
});

test('both sides open: destroying one closes the other, and done comes once', async () => {
  const left = new PassThrough({ allowHalfOpen: true });
  const right = new PassThrough({ allowHalfOpen: true });
  let done = 0;
  splice(left, right, () => done++);
  assert.equal(done, 0);
  left.destroy();
  await once(right, 'close');
  assert.equal(done, 1);
});

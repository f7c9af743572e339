// Joins two byte streams (a TCP socket and an HTTP/2 CONNECT stream, or two sockets) in both directions
// with backpressure and half-close: when one side finishes sending, the other side's write half is
// ended and the reverse direction keeps flowing, so a client that sends, shuts down its write side and
// then reads still gets every byte back. An abrupt end (error, reset) on either side tears down both.
import type { Duplex } from 'node:stream';

const kPartner = Symbol('weft.splice.partner');
const kDone = Symbol('weft.splice.done');
type Spliced = Duplex & { [kPartner]?: Spliced; [kDone]?: () => void };

/** `onDone` runs once, when both sides have closed. Sockets must be created with allowHalfOpen. */
export function splice(a: Duplex, b: Duplex, onDone?: () => void): void {
  const left = a as Spliced;
  const right = b as Spliced;
  left[kPartner] = right;
  right[kPartner] = left;
  let closed = 0;
  const done = () => {
    if (++closed === 2) onDone?.();
  };
  left[kDone] = done;
  right[kDone] = done;
  for (const side of [left, right]) {
    side.on('error', onSideError);
    side.once('close', onSideClose);
  }
  left.pipe(right);
  right.pipe(left);
}

function onSideError(this: Spliced): void {
  const partner = this[kPartner];
  if (partner && !partner.destroyed) partner.destroy();
}

function onSideClose(this: Spliced): void {
  const partner = this[kPartner];
  const clean = this.readableEnded && this.writableFinished && !this.errored;
  if (partner && !partner.destroyed && !clean) partner.destroy();
  this[kDone]?.();
}

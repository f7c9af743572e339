// Joins two byte streams (a TCP socket and an HTTP/2 CONNECT stream, or two sockets) in both directions
// with backpressure and half-close: when one side finishes sending, the other side's write half is
// ended and the reverse direction keeps flowing, so a client that sends, shuts down its write side and
// then reads still gets every byte back. An abrupt end (error, reset) on either side tears down both, and
// the partner is torn down abruptly too (see cutShort), so the party behind it can tell a cut-short stream
// from a finished one: a receiver that reads an upload until EOF must not take a truncated one as whole.
//
// Not stream.pipe(): an HTTP/2 stream's write buffer reports "full" at 16 KiB and completes a write only
// once nghttp2 has sent it, so pipe() would keep one socket read in flight at a time (stop-and-wait).
// Here a direction pauses only when the destination holds more than IN_FLIGHT_BYTES.
import { constants, type Http2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { cancelStream } from '../upstream/h2-cancel.js';
import { cutConnection } from '../transport/cut-connection.js';

/** Bytes a direction may queue at its destination before the source is paused. */
export const IN_FLIGHT_BYTES = 128 * 1024;

const kPartner = Symbol('weft.splice.partner');
const kDone = Symbol('weft.splice.done');
const kWaiting = Symbol('weft.splice.waiting');
const kCorked = Symbol('weft.splice.corked');
type Spliced = Duplex & {
  [kPartner]?: Spliced;
  [kDone]?: () => void;
  [kWaiting]?: boolean;
  [kCorked]?: boolean;
};

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
    side.on('drain', onSideDrain);
    side.on('data', onSideData);
    side.once('end', onSideEnd);
  }
  // What happened before the splice will not be said again. A side whose sender finished (a client that
  // connected and shut down its write side at once): pass the end on, or the far side waits for bytes that
  // never come. A side that closed (the caller reset while the far side was being set up): count it, and
  // tear down the other side, which nothing else would.
  for (const side of [left, right]) {
    if (side.readableEnded) onSideEnd.call(side);
    if (side.closed) onSideClose.call(side);
  }
}

/** Data from one side goes to its partner; the source pauses while the partner holds too much. */
function onSideData(this: Spliced, chunk: Buffer): void {
  const partner = this[kPartner];
  if (!partner || partner.destroyed) return;
  // Chunks read in one pass of the event loop's poll phase leave in one write (writev): a TLS socket
  // hands them out one 16 KiB record per callback, and a syscall per record is most of the cost of a
  // bulk tunnel. Not process.nextTick: ticks run after every read callback, so they batch nothing.
  if (!partner[kCorked]) {
    partner[kCorked] = true;
    partner.cork();
    setImmediate(uncork, partner);
  }
  if (!partner.write(chunk) && partner.writableLength >= IN_FLIGHT_BYTES && !partner[kWaiting]) {
    partner[kWaiting] = true;
    this.pause();
  }
}

function uncork(side: Spliced): void {
  side[kCorked] = false;
  side.uncork();
}

/** The partner's buffer emptied: the side feeding it may read again. */
function onSideDrain(this: Spliced): void {
  if (!this[kWaiting]) return;
  this[kWaiting] = false;
  this[kPartner]?.resume();
}

function onSideEnd(this: Spliced): void {
  const partner = this[kPartner];
  if (!partner) return;
  // Node emits 'end' on an HTTP/2 stream the far side reset too, before 'close': no end to pass on.
  if (wasReset(this)) cutShort(partner);
  else if (!partner.destroyed && !partner.writableEnded) partner.end();
}

function onSideError(this: Spliced): void {
  const partner = this[kPartner];
  if (partner) cutShort(partner);
}

function onSideClose(this: Spliced): void {
  const partner = this[kPartner];
  const clean = this.readableEnded && this.writableFinished && !this.errored && !wasReset(this);
  if (partner && !clean) cutShort(partner);
  this[kDone]?.();
}

/**
 * Ends `side` abruptly, so that the party behind it learns its stream was cut short: an HTTP/2 stream with
 * RST_STREAM CANCEL alone, a TCP or TLS connection with an RST (cut-connection.ts). Idempotent.
 */
function cutShort(side: Spliced): void {
  if (side.destroyed) return;
  if (isHttp2Stream(side)) cancelStream(side);
  else cutConnection(side);
}

/**
 * An HTTP/2 stream closed by RST_STREAM with an error code, or by any RST_STREAM while it could still
 * send ('aborted'): an RST_STREAM NO_ERROR after both END_STREAMs is how a finished stream may close.
 */
function wasReset(side: Duplex): boolean {
  return isHttp2Stream(side) && (side.rstCode !== constants.NGHTTP2_NO_ERROR || side.aborted);
}

function isHttp2Stream(side: Duplex): side is Duplex & Http2Stream {
  return 'rstCode' in side;
}

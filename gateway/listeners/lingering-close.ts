// A connection the gateway answered and ended while its caller may still be sending: whatever the caller
// sends is read and dropped until it closes, is quiet for LINGER_MS, or LINGER_MAX_MS have passed, as
// nginx's lingering close does. Closing at once would reset a caller still sending (the rest of an upload
// the answer did not wait for, or a refused upgrade's body), and its kernel may then drop the answer
// before the caller read it. Sockets here allow half-open, so a caller that keeps its side open (or a
// frozen one, whose kernel still answers keep-alives) would otherwise hold the connection for good.
// A service's answer complete before its request's body keeps the connection its head promised: the rest
// of the body is read and dropped under the same cap (dropRestOfBody).
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** How long a lingering connection waits for its caller to send more or close (nginx's lingering_timeout). */
export const LINGER_MS = 5_000;
/** How long a lingering connection may go on reading what its caller sends (nginx's lingering_time). */
export const LINGER_MAX_MS = 30_000;

const kClosing = Symbol('weft.connection.closing');
const kLingering = Symbol('weft.connection.lingering');
type Tagged = { [kClosing]?: true; [kLingering]?: true };

/** Reads and drops what the caller of an ended `socket` still sends, within LINGER_MS and LINGER_MAX_MS. */
export function linger(socket: Socket): void {
  socket.setTimeout(LINGER_MS, () => socket.destroy());
  capLinger(socket);
  socket.resume();
}

/** Destroys a lingering `connection` LINGER_MAX_MS from now, unless it closed by then. */
export function capLinger(connection: Duplex): void {
  (connection as Duplex & Tagged)[kLingering] = true;
  const cap = setTimeout(() => connection.destroy(), LINGER_MAX_MS).unref();
  connection.once('close', () => clearTimeout(cap));
}

/** Whether `connection` is lingering after its last answer (a drain closes it at once). */
export function isLingering(connection: Duplex): boolean {
  return (connection as Duplex & Tagged)[kLingering] === true;
}

/** The answer being written on `connection` closes it: no request read after it is processed. */
export function markClosing(connection: Duplex): void {
  (connection as Duplex & Tagged)[kClosing] = true;
}

/**
 * An answer that promised keep-alive is complete before its request's body: the rest is read and dropped
 * so that the connection can carry the next request, as nginx does, but a body not done LINGER_MAX_MS
 * from now closes the connection.
 */
export function dropRestOfBody(req: IncomingMessage): void {
  req.resume();
  const socket = req.socket;
  const cap = setTimeout(() => socket.destroy(), LINGER_MAX_MS).unref();
  // Once its answer is written, a request whose connection closes mid-body emits no 'close' itself.
  const clear = () => {
    clearTimeout(cap);
    socket.off('close', clear);
  };
  req.once('close', clear);
  socket.once('close', clear);
}

/**
 * Whether a request Node's server read arrived after an answer that closes its connection (RFC 9112 §9.6:
 * not to be processed), whether that answer is still being written or the connection already ended.
 * Nothing more is read from it then, and the linger's idle timer closes it.
 */
export function arrivedAfterClose(connection: Duplex): boolean {
  if (!connection.writableEnded && (connection as Duplex & Tagged)[kClosing] !== true) return false;
  connection.pause();
  if (connection instanceof Socket) connection.setTimeout(LINGER_MS);
  return true;
}

/**
 * Node's HTTP/1 server ends a connection after an answer that closes it (Connection: close, HTTP/1.0)
 * with `destroySoon()`: a FIN, then destroy as soon as it is written. On a TCP socket given to the server,
 * destroySoon lingers instead.
 */
export function lingerOnServerClose(connection: Duplex): void {
  if (connection instanceof Socket) connection.destroySoon = endAndLinger;
}

function endAndLinger(this: Socket): void {
  if (this.writable) this.end();
  linger(this);
}

// The HTTP/1.1 requests of one caller connection reach their services one at a time, in the order sent.
// Node's server emits each request it parses, so the requests of a caller that pipelines (sends the next
// before the answer to the last) would otherwise be proxied at once: a PUT and a DELETE could reach the
// endpoint in either order, and one connection could take many upstream connections and circuit-breaker
// slots. RFC 9112 §9.3.2 allows parallel handling of pipelined requests only when all are safe; nginx,
// HAProxy and Envoy take them one at a time. Node writes the answers in order either way. Waiting requests
// write nothing, so Node goes on parsing: a connection with more than MAX_WAITING waiting is reset rather
// than let pile them up (clients pipeline few requests, and those without bodies, which the fast path,
// h1-fast-path.ts, takes one at a time itself).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { cutConnection } from '../transport/cut-connection.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Turn {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/** Requests one connection may have waiting for their turn. */
export const MAX_WAITING = 32;

const kCurrent = Symbol('weft.requestTurns.current');
const kWaiting = Symbol('weft.requestTurns.waiting');

type TurnSocket = Socket & { [kCurrent]?: ServerResponse; [kWaiting]?: Turn[] };

/** Hands `req` to `handle` now, or once the answers to the requests before it on its connection are done. */
export function inTurn(req: IncomingMessage, res: ServerResponse, handle: Handler): void {
  const socket = req.socket as TurnSocket;
  const current = socket[kCurrent];
  const waiting = socket[kWaiting];
  if (waiting) {
    if (waiting.length === MAX_WAITING) {
      socket[kWaiting] = undefined;
      cutConnection(socket);
      return;
    }
    waiting.push({ req, res });
  } else if (current === undefined || isDone(current)) {
    take(socket, req, res, handle);
  } else {
    socket[kWaiting] = [{ req, res }];
  }
}

/** `req` is the connection's current request; the next waits for its answer's 'close'. */
function take(socket: TurnSocket, req: IncomingMessage, res: ServerResponse, handle: Handler): void {
  socket[kCurrent] = res;
  res.once('close', () => nextTurn(socket, res, handle));
  handle(req, res);
}

/**
 * The current answer is done: hands on the next waiting request, unless that answer closed the connection
 * (RFC 9112 §9.6: requests after it are not processed) or the connection is gone. Forgets the answer,
 * which holds its exchange, once nothing waits.
 */
function nextTurn(socket: TurnSocket, done: ServerResponse, handle: Handler): void {
  if (socket[kCurrent] !== done) return;
  socket[kCurrent] = undefined;
  const waiting = socket[kWaiting];
  if (!waiting) return;
  if (socket.destroyed || socket.writableEnded || closedItsConnection(done)) {
    socket[kWaiting] = undefined;
    return;
  }
  const turn = waiting.shift() as Turn;
  if (waiting.length === 0) socket[kWaiting] = undefined;
  take(socket, turn.req, turn.res, handle);
}

/** The answer is complete (Node may still hold some of it behind answers before it, in order). */
function isDone(res: ServerResponse): boolean {
  return res.writableEnded || res.destroyed;
}

/** Node marks the answer after which it closes the connection (Connection: close, HTTP/1.0) as the last. */
function closedItsConnection(res: ServerResponse): boolean {
  return (res as ServerResponse & { _last?: boolean })._last === true;
}

// The HTTP/1.1 requests of one caller connection reach their services one at a time, in the order sent.
// Node's server emits each request it parses, so the requests of a caller that pipelines (sends the next
// before the answer to the last) would otherwise be proxied at once: a PUT and a DELETE could reach the
// endpoint in either order, and one connection could take many upstream connections and circuit-breaker
// slots. RFC 9112 §9.3.2 allows parallel handling of pipelined requests only when all are safe; nginx,
// HAProxy and Envoy take them one at a time. Node writes the answers in order either way. Waiting
// requests write nothing, so Node would go on parsing more: past MAX_WAITING the connection is not read
// until they are taken. (The fast path, h1-fast-path.ts, takes its requests one at a time itself.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isClosing } from './lingering-close.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Turn {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/** Requests one connection may have waiting before it is read no further. */
export const MAX_WAITING = 16;

const kCurrent = Symbol('weft.requestTurns.current');
const kWaiting = Symbol('weft.requestTurns.waiting');

/**
 * `_paused` and `parser` are how Node's server pauses a connection whose answers pile up: it then stops
 * parsing the read at hand too, and ignores the resume() that the end of each request's body calls.
 */
type TurnSocket = Socket & {
  [kCurrent]?: ServerResponse;
  [kWaiting]?: Turn[];
  _paused?: boolean;
  parser?: { resume(): void } | null;
};

/** Hands `req` to `handle` now, or once the answers to the requests before it on its connection are done. */
export function inTurn(req: IncomingMessage, res: ServerResponse, handle: Handler): void {
  const socket = req.socket as TurnSocket;
  const current = socket[kCurrent];
  const waiting = socket[kWaiting];
  if (waiting) {
    waiting.push({ req, res });
    // Not at the first: a paused socket does not notice its caller's reset.
    if (waiting.length > MAX_WAITING && !socket._paused) {
      socket._paused = true;
      socket.pause();
    }
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
 * The current answer is done: hands on the waiting requests, unless the connection is closing (RFC 9112
 * §9.6: requests after an answer that closes it are not processed) or gone. Forgets the answer, which
 * holds its exchange, once nothing waits.
 */
function nextTurn(socket: TurnSocket, done: ServerResponse, handle: Handler): void {
  if (socket[kCurrent] !== done) return;
  socket[kCurrent] = undefined;
  const waiting = socket[kWaiting];
  if (!waiting) return;
  if (socket.destroyed || isClosing(socket)) {
    socket[kWaiting] = undefined;
    return;
  }
  const turn = waiting.shift() as Turn;
  if (waiting.length === 0) socket[kWaiting] = undefined;
  else if (waiting.length === MAX_WAITING && socket._paused) {
    socket._paused = false;
    socket.parser?.resume();
    socket.resume();
  }
  take(socket, turn.req, turn.res, handle);
}

function isDone(res: ServerResponse): boolean {
  return res.writableFinished || res.destroyed;
}

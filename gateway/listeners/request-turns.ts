// The HTTP/1.1 requests of one caller connection reach their services one at a time, in the order sent.
// Node's server emits each request it parses, so the requests of a caller that pipelines (sends the next
// before the answer to the last) would otherwise be proxied at once: a PUT and a DELETE could reach the
// endpoint in either order, and one connection could take many upstream connections and circuit-breaker
// slots. RFC 9112 §9.3.2 allows parallel handling of pipelined requests only when all are safe; nginx,
// HAProxy and Envoy take them one at a time. Node writes the answers in order either way, and stops
// reading the connection while a waiting request's body fills its buffer. (The fast path, h1-fast-path.ts,
// takes its requests one at a time itself.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Turn {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

const kCurrent = Symbol('weft.requestTurns.current');
const kWaiting = Symbol('weft.requestTurns.waiting');

type TurnSocket = Socket & { [kCurrent]?: ServerResponse; [kWaiting]?: Turn[] };

/** Hands `req` to `handle` now, or once the answers to the requests before it on its connection are done. */
export function inTurn(req: IncomingMessage, res: ServerResponse, handle: Handler): void {
  const socket = req.socket as TurnSocket;
  const current = socket[kCurrent];
  const waiting = socket[kWaiting];
  // Requests already waiting go first, also in the moment between an answer's finish and its 'close'.
  if (current === undefined || (isDone(current) && !waiting?.length)) {
    socket[kCurrent] = res;
    handle(req, res);
    return;
  }
  if (waiting?.length) {
    waiting.push({ req, res });
    return;
  }
  socket[kWaiting] = [{ req, res }];
  current.once('close', () => nextTurn(socket, handle));
}

/** The answer in progress is done: hands on the waiting requests until one is still being answered. */
function nextTurn(socket: TurnSocket, handle: Handler): void {
  const waiting = socket[kWaiting] ?? [];
  for (let turn = waiting.shift(); turn; turn = waiting.shift()) {
    // The caller went away meanwhile: Node has ended these already.
    if (turn.req.destroyed || turn.res.destroyed) continue;
    socket[kCurrent] = turn.res;
    handle(turn.req, turn.res);
    if (!isDone(turn.res)) {
      if (waiting.length > 0) turn.res.once('close', () => nextTurn(socket, handle));
      return;
    }
  }
}

function isDone(res: ServerResponse): boolean {
  return res.writableFinished || res.destroyed;
}

// An HTTP/1.1 Upgrade request's body, which the gateway must deal with before any tunnel: to a local
// endpoint it goes with the request head (an endpoint that ignores Upgrade answers only once it has it),
// up to 64 KiB and as long as it keeps coming; anywhere else it is refused at once. And the head of an h2c
// offer read again as a plain request (RFC 9113 dropped the h2c upgrade; honouring it is optional).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from '../errors.js';
import type { H1RequestFacts } from '../routing/proxy-headers.js';

/** The largest body an Upgrade request to a local endpoint may carry: it is read whole before dialling. */
const MAX_UPGRADE_BODY_BYTES = 64 * 1024;

/**
 * Why an Upgrade request's body keeps it from `target`, if it does. A body goes only with the request
 * head to a local endpoint, so it must have a length (not chunked) within MAX_UPGRADE_BODY_BYTES; an
 * extended CONNECT stream to another cluster carries the tunnel's bytes, not a request body.
 */
export function upgradeBodyError(
  facts: H1RequestFacts,
  service: string,
  target: { readonly kind: string; readonly cluster: string },
): GatewayError | undefined {
  const instead = 'send the body after the upgrade, or as a request without Upgrade';
  if (facts.bodyLength === 0) return undefined;
  if (facts.bodyLength < 0) {
    return new GatewayError('BAD_REQUEST', `an Upgrade request's body must not be chunked; ${instead}`);
  }
  if (target.kind !== 'local') {
    return new GatewayError(
      'BAD_REQUEST',
      `an Upgrade request to ${service} in cluster ${target.cluster} (another cluster) cannot carry a body; ${instead}`,
    );
  }
  if (facts.bodyLength > MAX_UPGRADE_BODY_BYTES) {
    return new GatewayError(
      'BAD_REQUEST',
      `an Upgrade request's body may be at most ${MAX_UPGRADE_BODY_BYTES} bytes (this one declares ` +
        `${facts.bodyLength}); ${instead}`,
    );
  }
  return undefined;
}

/**
 * Reads the `length` bytes of a request body: those in `head` first, then from the socket, which is left
 * paused. `done` gets the body and the bytes that followed it, or no body when the caller closed or
 * ended its side first, or sent no byte of it for `idleMs`. A caller waiting for 100 Continue is told to
 * send.
 */
export function readDeclaredBody(
  socket: Socket,
  head: Buffer,
  length: number,
  expectsContinue: boolean,
  idleMs: number,
  done: (body: Buffer | undefined, rest: Buffer) => void,
): void {
  if (head.length >= length) {
    done(head.subarray(0, length), head.subarray(length));
    return;
  }
  if (socket.readableEnded || socket.destroyed) {
    done(undefined, EMPTY);
    return;
  }
  const chunks = [head];
  let read = head.length;
  const finish = (body: Buffer | undefined, rest: Buffer) => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onGone);
    socket.removeListener('close', onGone);
    socket.pause();
    done(body, rest);
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    read += chunk.length;
    timer.refresh();
    if (read < length) return;
    const all = Buffer.concat(chunks, read);
    finish(all.subarray(0, length), all.subarray(length));
  };
  const onGone = () => finish(undefined, EMPTY);
  // A caller that declared a body and sends none must not hold the connection forever.
  const timer = setTimeout(onGone, idleMs);
  socket.on('data', onData);
  socket.once('end', onGone);
  socket.once('close', onGone);
  if (expectsContinue && socket.writable) socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
}

const EMPTY = Buffer.alloc(0);

/**
 * `req`'s head as the caller sent it (rawHeaders are latin1, byte for byte), less Upgrade, HTTP2-Settings
 * and those tokens of Connection, which gets `close`. The other Connection tokens stay: the fields they
 * name are still dropped before the request goes on.
 */
export function plainRequestHead(req: IncomingMessage): string {
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const tokens: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === 'connection') {
      for (const token of value.split(',')) {
        const trimmed = token.trim();
        if (trimmed !== '' && !DROPPED_CONNECTION_TOKENS.has(trimmed.toLowerCase())) tokens.push(trimmed);
      }
    } else if (name !== 'upgrade' && name !== 'http2-settings') {
      head += `${raw[i] as string}: ${value}\r\n`;
    }
  }
  tokens.push('close');
  return `${head}Connection: ${tokens.join(', ')}\r\n\r\n`;
}

/** Connection tokens of an upgrade offer, and keep-alive (an HTTP/1.0 parser would let it beat close). */
const DROPPED_CONNECTION_TOKENS = new Set(['upgrade', 'http2-settings', 'keep-alive', 'close']);

// Opaque TCP tunnels between gateways: one mTLS connection per tunnelled TCP connection (ALPN weft-tcp),
// the way Linkerd's opaque transport does it, instead of a CONNECT stream on the shared HTTP/2
// connection. Measured here, HTTP/2 framing costs about 1.5× the CPU per byte of a plain TLS pipe
// (nghttp2 frames, flow control and one JS callback per 16 KiB frame), which put bulk TCP at a third of
// HAProxy's throughput; a TLS pipe is within a few percent of HAProxy. The identity rules are the same
// as for the HTTP/2 connection: the dialler checks the peer's SPIFFE ID, the peer learns the caller's.
//
// Wire format, after the TLS handshake:
//   caller → peer   `weft-tcp/1 <service>\r\n`          then the tunnelled bytes
//   peer → caller   `OK\r\n` | `ERR <CODE> <message>\r\n`  then the tunnelled bytes (after OK)
import { connect as connectTcp } from 'node:net';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import { TCP_KEEPALIVE } from './tcp-keepalive.js';

export const OPAQUE_TCP_ALPN = 'weft-tcp';
const PREAMBLE = 'weft-tcp/1 ';
const MAX_LINE_BYTES = 1024;
const SERVICE_KEY = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface OpaqueDialOptions {
  readonly host: string;
  readonly port: number;
  /** ca/cert/key, servername and the checkServerIdentity that pins the peer's cluster. */
  readonly tls: Omit<ConnectionOptions, 'ALPNProtocols'>;
  readonly service: string;
  readonly timeoutMs: number;
  readonly describe: string;
  /** Turns a handshake failure into a GatewayError (PEER_IDENTITY for a wrong peer). */
  readonly classify: (err: Error) => GatewayError;
}

/**
 * Dials the peer, asks for `service`, and hands over the socket once the peer said OK (with any
 * bytes that came after the answer put back on the socket). Never throws; `callback` runs once.
 */
export function dialOpaqueTunnel(
  options: OpaqueDialOptions,
  callback: (socket: TLSSocket | GatewayError) => void,
): TLSSocket {
  // TLS over a TCP socket of our own, not one tls.connect makes: that one takes no keep-alive options,
  // and a splice can only reset a tunnel cut short through the TCP socket (TLS has no reset).
  // Half-open both ways: tls.connect({ socket }) takes allowHalfOpen from the socket it wraps, and without
  // it the TLS socket ends its own side when the peer's FIN arrives, so what the caller sent after the
  // endpoint had finished sending would be dropped and the endpoint would see a clean end.
  const tcp = connectTcp({ host: options.host, port: options.port, allowHalfOpen: true, ...TCP_KEEPALIVE });
  const connectOptions: ConnectionOptions = {
    ...options.tls,
    socket: tcp,
    host: options.host,
    port: options.port,
    ALPNProtocols: [OPAQUE_TCP_ALPN],
  };
  const socket = connect(connectOptions);
  let settled = false;
  let line = '';
  const settle = (result: TLSSocket | GatewayError, rest?: Buffer) => {
    if (settled) return;
    settled = true;
    socket.setTimeout(0);
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onClose);
    // A failed dial keeps onError (settled, it does nothing): a connection closed before the TLS handshake
    // finished is reported as an 'error' a tick after the 'end' this settled on, and an 'error' without a
    // listener would kill the process.
    if (result instanceof GatewayError) {
      socket.destroy();
    } else {
      socket.removeListener('error', onError);
      putBack(socket, rest);
    }
    callback(result);
  };
  const onError = (err: Error) => settle(options.classify(err));
  // 'end' too: the socket allows half-open, so a peer that only shuts down its side never closes it.
  const onClose = () =>
    settle(new GatewayError('UPSTREAM_RESET', `${options.describe} closed the tunnel before answering`));
  const onData = (chunk: Buffer) => {
    const newline = chunk.indexOf(10);
    line += chunk.toString('latin1', 0, newline < 0 ? chunk.length : newline);
    if (newline < 0) {
      if (line.length > MAX_LINE_BYTES)
        settle(new GatewayError('UPSTREAM_RESET', `${options.describe} sent an invalid tunnel answer`));
      return;
    }
    const answer = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (answer !== 'OK') {
      settle(refusal(answer, options.describe));
      return;
    }
    settle(socket, chunk.subarray(newline + 1));
  };
  socket.setTimeout(options.timeoutMs, () =>
    settle(
      new GatewayError('UPSTREAM_CONNECT', `${options.describe}: no tunnel within ${options.timeoutMs} ms`),
    ),
  );
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.on('end', onClose);
  socket.once('secureConnect', () => {
    socket.setNoDelay(true);
    socket.write(`${PREAMBLE}${options.service}\r\n`, 'latin1');
    socket.on('data', onData);
  });
  return socket;
}

/**
 * Reads the caller's request line from a tunnel socket: the service key, or an error when the line is
 * malformed. Bytes after the line are put back on the socket. `callback` runs once.
 */
export function readTunnelRequest(
  socket: TLSSocket,
  timeoutMs: number,
  callback: (service: string | GatewayError) => void,
): void {
  let line = '';
  let settled = false;
  const settle = (result: string | GatewayError, rest?: Buffer) => {
    if (settled) return;
    settled = true;
    socket.setTimeout(0);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    putBack(socket, rest);
    callback(result);
  };
  const onEnd = () =>
    settle(new GatewayError('BAD_REQUEST', 'the caller closed the tunnel before naming a service'));
  const onData = (chunk: Buffer) => {
    const newline = chunk.indexOf(10);
    line += chunk.toString('latin1', 0, newline < 0 ? chunk.length : newline);
    if (newline < 0) {
      if (line.length > MAX_LINE_BYTES)
        settle(new GatewayError('BAD_REQUEST', 'tunnel request line too long'));
      return;
    }
    const request = line.endsWith('\r') ? line.slice(0, -1) : line;
    const service = request.startsWith(PREAMBLE) ? request.slice(PREAMBLE.length) : '';
    settle(
      SERVICE_KEY.test(service)
        ? service
        : new GatewayError('BAD_REQUEST', `malformed tunnel request "${request.slice(0, 80)}"`),
      chunk.subarray(newline + 1),
    );
  };
  socket.setTimeout(timeoutMs, () => settle(new GatewayError('BAD_REQUEST', 'no tunnel request in time')));
  socket.on('data', onData);
  socket.once('end', onEnd);
}

/**
 * Pauses `socket` and puts back the bytes read after its line. In that order: unshift() on a flowing
 * socket emits the bytes at once, to the line reader still listening, which would swallow them.
 */
function putBack(socket: TLSSocket, rest: Buffer | undefined): void {
  socket.pause();
  if (rest && rest.length > 0) socket.unshift(rest);
}

/** The answer line the peer writes: OK, or the error that refused the tunnel. */
export function tunnelAnswer(err?: GatewayError): string {
  if (!err) return 'OK\r\n';
  return `ERR ${err.code} ${err.message.replace(/[\r\n]+/g, ' ')}\r\n`;
}

/** Codes a peer may refuse a tunnel with; anything else from the wire reads as a reset. */
const REFUSAL_CODES: ReadonlySet<string> = new Set<GatewayErrorCode>([
  'NO_ROUTE',
  'NO_HEALTHY_UPSTREAM',
  'UPSTREAM_CONNECT',
  'FORBIDDEN',
  'BAD_REQUEST',
  'OVERLOADED',
]);

function refusal(answer: string, describe: string): GatewayError {
  const match = /^ERR ([A-Z_]+) (.*)$/.exec(answer);
  if (!match) return new GatewayError('UPSTREAM_RESET', `${describe} sent an invalid tunnel answer`);
  const code = match[1] ?? '';
  const message = `${describe}: ${match[2] ?? ''}`;
  return new GatewayError(REFUSAL_CODES.has(code) ? (code as GatewayErrorCode) : 'UPSTREAM_RESET', message);
}

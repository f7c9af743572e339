// Dedicated (unpooled) connections to a local endpoint for tunnels: a plain TCP connection for opaque
// TCP, and an HTTP/1.1 Upgrade handshake (WebSocket and friends) whose 101 answer hands over the
// socket. Sockets are half-open capable so a tunnel can carry a half-close end to end.
import { connect, type Socket } from 'node:net';
import { GatewayError } from '../errors.js';
import { formatHostPort } from '../config/index.js';
import { TCP_KEEPALIVE } from '../transport/tcp-keepalive.js';
import type { LocalEndpoint } from '../catalog/index.js';
import { newHeaderMap, type HeaderMap } from './exchange.js';
import { H1ResponseParser } from './h1-response-parser.js';

const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

/** Connects to an endpoint; `callback` gets the socket once connected, or UPSTREAM_CONNECT. */
export function dialTcp(
  endpoint: LocalEndpoint,
  timeoutMs: number,
  callback: (socket: Socket | GatewayError) => void,
): Socket {
  const address = formatHostPort(endpoint);
  const socket = connect({
    host: endpoint.host,
    port: endpoint.port,
    allowHalfOpen: true,
    noDelay: true,
    ...TCP_KEEPALIVE,
  });
  let settled = false;
  const settle = (result: Socket | GatewayError) => {
    if (settled) return;
    settled = true;
    socket.setTimeout(0);
    socket.removeListener('error', onError);
    socket.removeListener('timeout', onTimeout);
    if (result instanceof GatewayError) socket.destroy();
    callback(result);
  };
  const onError = (err: Error) =>
    settle(
      new GatewayError('UPSTREAM_CONNECT', `connect to ${address} failed: ${err.message}`, { cause: err }),
    );
  const onTimeout = () =>
    settle(new GatewayError('UPSTREAM_CONNECT', `connect to ${address} timed out after ${timeoutMs} ms`));
  socket.setTimeout(timeoutMs);
  socket.once('connect', () => settle(socket));
  socket.on('error', onError);
  socket.once('timeout', onTimeout);
  return socket;
}

export type UpgradeResult =
  | {
      readonly upgraded: true;
      readonly socket: Socket;
      readonly headers: HeaderMap;
      readonly leftover: Buffer | undefined;
    }
  | UpgradeRefusal;

/**
 * An endpoint's answer other than 101. Its body is kept up to MAX_REFUSAL_BODY_BYTES; `whole` is false
 * when it was longer, and whoever relays it must then mark it cut (a reset), never end it as complete.
 */
export interface UpgradeRefusal {
  readonly upgraded: false;
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: Buffer;
  readonly whole: boolean;
}

export interface UpgradeTimeouts {
  /** To establish the TCP connection. */
  readonly connectMs: number;
  /** From the connection to the upstream's answer (101 or a refusal). */
  readonly answerMs: number;
}

/** How long a local endpoint may take to answer an upgrade (Envoy's default route timeout). */
export const UPGRADE_ANSWER_TIMEOUT_MS = 15_000;

/**
 * Sends an Upgrade request head (already serialized) and waits for the answer: 101 hands over the
 * socket with any bytes that followed the head; any other answer is read whole (bounded) and the
 * socket closed. `signal` aborts the wait (the caller went away): the socket is closed, the answer
 * timer cleared, and `callback` gets DOWNSTREAM_CANCELLED.
 */
export function dialUpgrade(
  endpoint: LocalEndpoint,
  requestHead: string,
  timeouts: UpgradeTimeouts,
  callback: (result: UpgradeResult | GatewayError) => void,
  signal?: AbortSignal,
): void {
  const cancelled = () =>
    new GatewayError(
      'DOWNSTREAM_CANCELLED',
      `the caller left before ${formatHostPort(endpoint)} answered the upgrade`,
    );
  dialTcp(endpoint, timeouts.connectMs, (socket) => {
    if (socket instanceof GatewayError) {
      callback(socket);
      return;
    }
    if (signal?.aborted) {
      socket.destroy();
      callback(cancelled());
      return;
    }
    let status = 0;
    let headers: HeaderMap = newHeaderMap();
    let upgraded = false;
    let settled = false;
    const body: Buffer[] = [];
    let bodyBytes = 0;
    // dialTcp's timer covers the connect; this one the answer to the upgrade.
    const timer = setTimeout(() => {
      finish(
        new GatewayError(
          'UPSTREAM_TIMEOUT',
          `${formatHostPort(endpoint)} did not answer the upgrade within ${timeouts.answerMs} ms`,
        ),
      );
    }, timeouts.answerMs);
    const onAbort = () => finish(cancelled());
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (result: UpgradeResult | GatewayError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', onEnd);
      if (!(result instanceof GatewayError) && result.upgraded) socket.pause();
      else socket.destroy();
      callback(result);
    };
    const refused = (whole: boolean) =>
      finish({ upgraded: false, status, headers, body: Buffer.concat(body), whole });
    const parser = new H1ResponseParser({
      onResponseHead(s, h, upgrade) {
        status = s;
        headers = h;
        upgraded = upgrade;
      },
      onResponseBody(chunk) {
        if (settled) return;
        const room = MAX_REFUSAL_BODY_BYTES - bodyBytes;
        body.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        bodyBytes += chunk.length;
        // Past the bound the rest is not waited for: the relay marks what it kept as cut.
        if (bodyBytes > MAX_REFUSAL_BODY_BYTES) refused(false);
      },
      onResponseComplete() {
        refused(true);
      },
    });
    parser.start(false);
    const onData = (chunk: Buffer) => {
      const result = parser.execute(chunk);
      if (result instanceof GatewayError) finish(result);
      else if (upgraded) finish({ upgraded: true, socket, headers, leftover: result });
    };
    const onEnd = () => {
      const err = parser.finish();
      if (upgraded) return;
      finish(
        err ??
          new GatewayError(
            'UPSTREAM_RESET',
            `${formatHostPort(endpoint)} closed before answering the upgrade`,
          ),
      );
    };
    const onError = (err: Error) =>
      finish(
        new GatewayError('UPSTREAM_RESET', `upgrade to ${formatHostPort(endpoint)} failed: ${err.message}`, {
          cause: err,
        }),
      );
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.write(requestHead, 'latin1');
  });
}

/** Serializes an HTTP/1.1 request head for an upgrade (Connection: Upgrade and the Upgrade token kept). */
export function upgradeRequestHead(
  method: string,
  path: string,
  authority: string,
  protocol: string,
  headers: HeaderMap,
): string {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${authority}\r\nconnection: Upgrade\r\nupgrade: ${protocol}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else for (const item of value) head += `${name}: ${item}\r\n`;
  }
  return `${head}\r\n`;
}

// The outbound path for byte streams: HTTP/1.1 Upgrade requests (WebSocket, …) and connections to
// `tcp:` listeners. Local services are dialled directly and spliced. Remote upgrades ride an extended
// CONNECT stream (:protocol, RFC 8441) on the pooled peer connection; remote TCP gets an opaque mTLS
// connection of its own (see transport/opaque-tunnel.ts for why). A tunnel is counted in the request
// metrics once, when it closes.
import type { IncomingMessage } from 'node:http';
import { ServerResponse } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.js';
import { httpStatusOf } from '../routing/error-status.js';
import {
  ERROR_HEADER,
  headersFromRawH1,
  SERVICE_HEADER,
  SOURCE_CLUSTER_HEADER,
  type H1RequestFacts,
} from '../routing/proxy-headers.js';
import type { AttemptTarget, TargetStats } from '../routing/route-table.js';
import { dialTcp, upgradeRequestHead } from '../upstream/tcp-dial.js';
import type { HeaderMap } from '../upstream/exchange.js';
import type { OutboundContext, OutboundRouter } from './outbound-router.js';
import { splice } from './splice.js';

export interface OutboundTunnelContext extends OutboundContext {
  readonly router: OutboundRouter;
  readonly connectTimeoutMs: number;
  /** Where tcp-listener connections without a usable route are counted. */
  readonly tcpNoRouteStats: TargetStats;
  /** Statistics of tcp-listener connections to `service` in `cluster` (looked up once per connection). */
  tcpStatsFor(service: string, cluster: string): TargetStats;
}

export class OutboundTunnels {
  private readonly context: OutboundTunnelContext;

  constructor(context: OutboundTunnelContext) {
    this.context = context;
  }

  /** An HTTP/1.1 request with Upgrade (Node's 'upgrade' event): `head` is what followed the request head. */
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', onEarlySocketError);
    const facts: H1RequestFacts = { authority: '', bodyLength: 0, upgrade: '', grpc: false };
    const headers = headersFromRawH1(req.rawHeaders, facts);
    if (facts.upgrade === '' || facts.upgrade === 'h2c') {
      // Not a tunnel (h2c upgrade is optional to honour, RFC 9113 dropped it): answer as a plain request.
      if (head.length > 0) socket.unshift(head);
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket);
      res.once('finish', () => socket.end());
      this.context.router.onH1Request(req, res);
      return;
    }
    const started = performance.now();
    const resolved = this.context.router.resolve(facts.authority);
    if (resolved instanceof GatewayError) {
      answerRaw(socket, resolved);
      this.context.noRouteStats.record(httpStatusOf(resolved.code), 0);
      return;
    }
    const { route, name } = resolved;
    const target = route.pick(name.cluster);
    if (target instanceof GatewayError) {
      answerRaw(socket, target);
      this.context.noRouteStats.record(httpStatusOf(target.code), 0);
      return;
    }
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    if (target.kind === 'local') {
      const choice = target.pick();
      if (!choice) {
        answerRaw(
          socket,
          new GatewayError('NO_HEALTHY_UPSTREAM', `no healthy endpoint for service ${route.service}`),
        );
        return;
      }
      headers[SOURCE_CLUSTER_HEADER] = this.context.cluster;
      const requestHead = upgradeRequestHead(method, path, facts.authority, facts.upgrade, headers);
      dialTcp(choice.endpoint, this.context.connectTimeoutMs, (upstream) => {
        if (upstream instanceof GatewayError) {
          answerRaw(socket, upstream);
          choice.stats.record(httpStatusOf(upstream.code), (performance.now() - started) / 1000);
          return;
        }
        upstream.write(requestHead, 'latin1');
        if (head.length > 0) upstream.write(head);
        spliceAndCount(socket, upstream, choice, 101, started);
      });
      return;
    }
    const choice = target.pick();
    if (!choice) {
      answerRaw(
        socket,
        new GatewayError('NO_HEALTHY_UPSTREAM', `no reachable gateway in cluster ${target.cluster}`),
      );
      return;
    }
    const h2: OutgoingHttpHeaders = {
      ...(headers as OutgoingHttpHeaders),
      ':method': 'CONNECT',
      ':protocol': facts.upgrade,
      ':scheme': 'http',
      ':path': path,
      ':authority': facts.authority,
      [SERVICE_HEADER]: route.service,
    };
    choice.gateway.openTunnel(h2, (stream) => {
      if (stream instanceof GatewayError) {
        answerRaw(socket, stream);
        choice.stats.record(httpStatusOf(stream.code), (performance.now() - started) / 1000);
        return;
      }
      stream.once('response', (answer: IncomingHttpHeaders) => {
        const status = Number(answer[':status']);
        if (status === 200) {
          socket.write(switchingProtocolsHead(facts.upgrade, answer), 'latin1');
          if (head.length > 0) stream.write(head);
          spliceAndCount(socket, stream, choice, 101, started);
        } else {
          relayRefusal(socket, stream, status, answer);
          choice.stats.record(status, (performance.now() - started) / 1000);
        }
      });
      stream.on('error', () => socket.destroy());
      socket.on('error', () => stream.destroy());
    });
  }

  /** A connection accepted by a `tcp:` listener bound to `service` (any name form). */
  onTcpConnection(socket: Socket, service: string): void {
    socket.on('error', onEarlySocketError);
    const started = performance.now();
    const fail = (err: GatewayError, stats = this.context.tcpNoRouteStats) => {
      stats.record(httpStatusOf(err.code), (performance.now() - started) / 1000);
      socket.destroy();
    };
    const resolved = this.context.router.resolve(service);
    if (resolved instanceof GatewayError) return fail(resolved);
    const { route, name } = resolved;
    const target = route.pick(name.cluster);
    if (target instanceof GatewayError) return fail(target);
    const stats = this.context.tcpStatsFor(route.service, target.cluster);
    const done = () => stats.record(200, (performance.now() - started) / 1000);
    socket.pause();
    if (target.kind === 'local') {
      const choice = target.pick();
      if (!choice)
        return fail(
          new GatewayError('NO_HEALTHY_UPSTREAM', `no healthy endpoint for ${route.service}`),
          stats,
        );
      dialTcp(choice.endpoint, this.context.connectTimeoutMs, (upstream) => {
        if (upstream instanceof GatewayError) return fail(upstream, stats);
        splice(socket, upstream, done);
        socket.resume();
      });
      return;
    }
    const choice = target.pick();
    if (!choice)
      return fail(
        new GatewayError('NO_HEALTHY_UPSTREAM', `no reachable gateway in cluster ${target.cluster}`),
        stats,
      );
    choice.gateway.openTcpTunnel(route.service, (tunnel) => {
      if (tunnel instanceof GatewayError) return fail(tunnel, stats);
      if (socket.destroyed) {
        tunnel.destroy();
        return;
      }
      splice(socket, tunnel, done);
      socket.resume();
      tunnel.resume();
    });
  }
}

/** Node throws an 'error' nobody listens to; a caller resetting before the tunnel is up just goes away. */
function onEarlySocketError(this: Socket): void {
  this.destroy();
}

function spliceAndCount(
  a: Duplex,
  b: Duplex,
  target: AttemptTarget,
  status: number,
  startedMs: number,
): void {
  splice(a, b, () => target.stats.record(status, (performance.now() - startedMs) / 1000));
}

/** The 101 answer written to an HTTP/1.1 caller once the remote side accepted the upgrade. */
function switchingProtocolsHead(protocol: string, answer: IncomingHttpHeaders): string {
  let head = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${protocol}\r\n`;
  for (const name in answer) {
    if (name.charCodeAt(0) === 58) continue;
    const value = answer[name];
    if (value === undefined) continue;
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else for (const item of value) head += `${name}: ${item}\r\n`;
  }
  return `${head}\r\n`;
}

/** A refused upgrade: the remote answer (status, fields, body) relayed as a one-shot HTTP/1.1 response. */
function relayRefusal(
  socket: Socket,
  stream: ClientHttp2Stream,
  status: number,
  answer: IncomingHttpHeaders,
): void {
  let head = `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Upgrade Refused'}\r\nconnection: close\r\n`;
  for (const name in answer) {
    if (name.charCodeAt(0) === 58 || name === 'content-length') continue;
    const value = answer[name];
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
  }
  socket.write(`${head}\r\n`, 'latin1');
  stream.pipe(socket);
}

/** A gateway error written straight to a socket that Node handed over (upgrade requests). */
export function answerRaw(socket: Socket, err: GatewayError, extra?: HeaderMap): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = httpStatusOf(err.code);
  const body = `${err.message}\n`;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${ERROR_HEADER}: ${err.code}\r\nconnection: close\r\n`;
  if (extra) for (const name in extra) head += `${name}: ${String(extra[name])}\r\n`;
  socket.end(`${head}\r\n${body}`);
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

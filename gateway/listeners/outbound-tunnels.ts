// The outbound path for byte streams: HTTP/1.1 Upgrade requests (WebSocket, …) and connections to
// `tcp:` listeners. A local service is dialled directly; an upgrade to it is spliced only once the
// endpoint answered 101 (bytes the caller sent after its request head go on only then: to an endpoint
// that ignores Upgrade they would be requests weft never saw), and any other answer is relayed, then the
// connection closed. An upgrade request's body (Content-Length, up to 64 KiB) goes to a local endpoint
// with the head; a chunked or larger body, or any body to another cluster, is refused at once (400).
// Remote upgrades ride an extended CONNECT stream (:protocol, RFC 8441) on the pooled peer connection;
// remote TCP gets an opaque mTLS connection of its own (see transport/opaque-tunnel.ts for why). An
// offer to upgrade to h2c is not taken up: Node's parser reads the request again as a plain one. An
// upgrade request carries the caller's traceparent on like any request. A tunnel is counted in the
// request metrics (and, when on, the access log) once, when it closes or is refused.
import { Server, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.js';
import { errorAnswerFields, httpStatusOf } from '../routing/error-status.js';
import { rateLimitedError } from '../resilience/index.js';
import {
  ERROR_HEADER,
  headersFromRawH1,
  isHopByHop,
  originFormTarget,
  fieldCountError,
  headError,
  SERVICE_HEADER,
  SOURCE_CLUSTER_HEADER,
  UPGRADE_HEADER,
  METHOD_HEADER,
  type H1RequestFacts,
} from '../routing/proxy-headers.js';
import type { AttemptTarget, TargetStats } from '../routing/route-targets.js';
import {
  dialTcp,
  dialUpgrade,
  UPGRADE_ANSWER_TIMEOUT_MS,
  upgradeRequestHead,
  type UpgradeRefusal,
} from '../upstream/tcp-dial.js';
import type { HeaderMap } from '../upstream/exchange.js';
import type { ObservedRequest, RequestObserver } from '../observability/index.js';
import { connectUnsupported, type OutboundRouter, type RouterContext } from './outbound-router.js';
import { traceRequestHeaders } from './request-trace.js';
import { cutConnection } from '../transport/cut-connection.js';
import { cancelStream } from '../upstream/h2-cancel.js';
import { handToHttpServer } from './handed-http-server.js';
import { plainRequestHead, readDeclaredBody, upgradeBodyError } from './upgrade-request-body.js';
import { linger } from './lingering-close.js';
import { splice } from './splice.js';
import { recordTunnel, type TunnelEdge } from './tunnel-outcome.js';
import { refuseNonTcp } from '../routing/opaque-tcp-admission.js';

export interface OutboundTunnelContext extends RouterContext {
  readonly router: OutboundRouter;
  readonly connectTimeoutMs: number;
  /** Statistics of tcp-listener connections to `service` in `cluster` (looked up once per connection). */
  tcpStatsFor(service: string, cluster: string): TargetStats;
  /** Access log of the tcp listeners; undefined while access logs are off. */
  readonly tcpObserver: RequestObserver | undefined;
}

/** Node's http server keeps the response that is writing to a connection here (not a public field). */
type SocketWithResponse = Socket & { _httpMessage?: ServerResponse | null };

export class OutboundTunnels {
  private readonly context: OutboundTunnelContext;

  constructor(context: OutboundTunnelContext) {
    this.context = context;
  }

  /** An HTTP/1.1 request with Upgrade (Node's 'upgrade' event): `head` is what followed the request head. */
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', onEarlySocketError);
    this.upgrade(req, socket, head);
  }

  /** An HTTP/1.1 CONNECT from a local app: refused with the reason, as on HTTP/2, after earlier answers. */
  onConnect(socket: Socket): void {
    socket.on('error', onEarlySocketError);
    refuseConnect(socket);
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (waitingForEarlierAnswer(socket, () => this.upgrade(req, socket, head))) return;
    const facts: H1RequestFacts = { authority: '', hostLines: 0, bodyLength: 0, upgrade: '', grpc: false };
    const headers = headersFromRawH1(req.rawHeaders, facts);
    if (facts.upgrade === '' || facts.upgrade === 'h2c') {
      // Not a tunnel (h2c upgrade is optional to honour, RFC 9113 dropped it): a plain request.
      reparseAsPlain(req, socket, head);
      return;
    }
    const started = performance.now();
    const method = req.method ?? 'GET';
    const requestTarget = req.url ?? '/';
    const originForm = originFormTarget(requestTarget, facts);
    const path = originForm instanceof GatewayError ? requestTarget : originForm;
    const observed = traceRequestHeaders(
      headers,
      { method, authority: facts.authority, path },
      this.context.observer,
      this.context.cluster,
    );
    /** Answers `err` on the raw socket and counts the refused tunnel (stats undefined: not counted). */
    const refuse = (err: GatewayError, stats: TargetStats | undefined, edge: TunnelEdge): void => {
      answerRaw(socket, err);
      recordTunnel(stats, observed, started, httpStatusOf(err.code), edge, err.code);
    };
    const badHead =
      fieldCountError(facts) ??
      headError(facts) ??
      (originForm instanceof GatewayError ? originForm : undefined);
    if (badHead) return refuse(badHead, this.context.noRouteStats, NO_ROUTE);
    const resolved = this.context.router.resolve(facts.authority);
    if (resolved instanceof GatewayError) return refuse(resolved, this.context.noRouteStats, NO_ROUTE);
    const { route, name } = resolved;
    const target = route.pick(name.cluster);
    if (target instanceof GatewayError) return refuse(target, this.context.noRouteStats, NO_ROUTE);
    const unpicked: TunnelEdge = { service: route.service, cluster: target.cluster };
    const unserved: TunnelEdge = { service: route.service, cluster: '(none)' };
    const badBody = upgradeBodyError(facts, route.service, target);
    if (badBody) return refuse(badBody, this.context.unservedStatsFor(route.service), unserved);
    // An upgrade is a request of the service's: its local rate limit counts it, as Envoy's does.
    const { limiter, events } = this.context.resilience(route.service);
    if (limiter !== null && !limiter.tryTake()) {
      events?.refusedBy('rate-limit', route.service);
      const err = rateLimitedError(route.service, limiter);
      return refuse(err, this.context.unservedStatsFor(route.service), unserved);
    }
    if (target.kind === 'local') {
      const choice = target.pick();
      if (!choice) {
        const err = new GatewayError(
          'NO_HEALTHY_UPSTREAM',
          `no healthy endpoint for service ${route.service}`,
        );
        return refuse(err, undefined, unpicked);
      }
      headers[SOURCE_CLUSTER_HEADER] = this.context.cluster;
      const requestHead = upgradeRequestHead(method, path, facts.authority, facts.upgrade, headers);
      const timeouts = { connectMs: this.context.connectTimeoutMs, answerMs: UPGRADE_ANSWER_TIMEOUT_MS };
      const expectsContinue = req.headers.expect?.toLowerCase() === '100-continue';
      // The body is part of the request, sent with its head (an endpoint that ignores Upgrade answers
      // only once it has it); only what follows the body waits for a 101.
      readDeclaredBody(socket, head, facts.bodyLength, expectsContinue, timeouts.answerMs, (body, held) => {
        if (body === undefined) {
          socket.destroy();
          recordTunnel(choice.stats, observed, started, 499, choice, 'DOWNSTREAM_CANCELLED');
          return;
        }
        // A caller that leaves before the endpoint answered ends the wait (its socket and timer).
        const waiting = new AbortController();
        const callerGone = () => waiting.abort();
        socket.once('close', callerGone);
        dialUpgrade(
          choice.endpoint,
          body.length > 0 ? requestHead + body.toString('latin1') : requestHead,
          timeouts,
          (result) => {
            socket.removeListener('close', callerGone);
            if (result instanceof GatewayError) {
              if (result.code !== 'DOWNSTREAM_CANCELLED') return refuse(result, choice.stats, choice);
              recordTunnel(choice.stats, observed, started, 499, choice, result.code);
              return;
            }
            if (!result.upgraded) {
              relayLocalRefusal(socket, result);
              recordTunnel(choice.stats, observed, started, result.status, choice);
              return;
            }
            socket.write(switchingProtocolsHead(facts.upgrade, result.headers), 'latin1');
            if (result.leftover) socket.write(result.leftover);
            if (held.length > 0) result.socket.write(held);
            spliceAndCount(socket, result.socket, choice, observed, started);
            result.socket.resume();
            // Paused if its body was read here; a no-op otherwise.
            socket.resume();
          },
          waiting.signal,
        );
      });
      return;
    }
    const choice = target.pick();
    if (!choice) {
      const err = new GatewayError(
        'NO_HEALTHY_UPSTREAM',
        `no reachable gateway in cluster ${target.cluster}`,
      );
      return refuse(err, undefined, unpicked);
    }
    const h2: OutgoingHttpHeaders = {
      ...(headers as OutgoingHttpHeaders),
      ':method': 'CONNECT',
      ':protocol': facts.upgrade,
      ':scheme': 'http',
      ':path': path,
      ':authority': facts.authority,
      [SERVICE_HEADER]: route.service,
      ...(method === 'GET' ? {} : { [METHOD_HEADER]: method }),
    };
    choice.gateway.openTunnel(h2, (stream) => {
      if (stream instanceof GatewayError) return refuse(stream, choice.stats, choice);
      let answered = false;
      // A caller's reset cancels the stream (RST_STREAM CANCEL: destroy() would send NO_ERROR, which the
      // peer can take for a finished stream), until a splice takes both ends and passes resets on itself.
      const cancelOnCallerError = () => cancelStream(stream);
      socket.on('error', cancelOnCallerError);
      stream.once('response', (answer: IncomingHttpHeaders) => {
        answered = true;
        const status = Number(answer[':status']);
        if (status === 200) {
          socket.off('error', cancelOnCallerError);
          socket.write(switchingProtocolsHead(facts.upgrade, answer), 'latin1');
          if (head.length > 0) stream.write(head);
          spliceAndCount(socket, stream, choice, observed, started);
        } else {
          relayRefusal(socket, stream, status, answer);
          const code = answer[ERROR_HEADER];
          recordTunnel(
            choice.stats,
            observed,
            started,
            status,
            choice,
            typeof code === 'string' ? code : undefined,
          );
        }
      });
      // A stream that ends before the peer answered (its connection dropped: 'close', maybe no 'error')
      // is answered here; from the answer on, the splice or the relayed refusal owns both ends. A caller
      // that reset meanwhile closed the stream itself: counted as gone (499), not against the peer.
      stream.on('error', () => undefined);
      stream.once('close', () => {
        if (answered) return;
        if (socket.destroyed) {
          recordTunnel(choice.stats, observed, started, 499, choice, 'DOWNSTREAM_CANCELLED');
          return;
        }
        const err = new GatewayError(
          'UPSTREAM_RESET',
          `the peer gateway in ${choice.cluster} closed the tunnel before answering (HTTP/2 code ${stream.rstCode ?? 0})`,
        );
        refuse(err, choice.stats, choice);
      });
    });
  }

  /** A connection accepted by a `tcp:` listener bound to `service` (any name form). */
  onTcpConnection(socket: Socket, service: string): void {
    socket.on('error', onEarlySocketError);
    const started = performance.now();
    const observed = this.context.tcpObserver?.observe(undefined, this.context.cluster, undefined, undefined);
    // The listener's service comes from the config: a bounded label even when nothing serves it.
    let edge: TunnelEdge = { service, cluster: '(none)' };
    const fail = (err: GatewayError, stats = this.context.tcpStatsFor(edge.service, '(none)')) => {
      recordTunnel(stats, observed, started, httpStatusOf(err.code), edge, err.code);
      socket.destroy();
    };
    const resolved = this.context.router.resolve(service);
    if (resolved instanceof GatewayError) return fail(resolved);
    const { route, name } = resolved;
    edge = { service: route.service, cluster: '(none)' };
    const notTcp = refuseNonTcp(route);
    if (notTcp) return fail(notTcp);
    const target = route.pick(name.cluster);
    if (target instanceof GatewayError) return fail(target);
    const stats = this.context.tcpStatsFor(route.service, target.cluster);
    edge = { service: route.service, cluster: target.cluster };
    socket.pause();
    if (target.kind === 'local') {
      const choice = target.pick();
      if (!choice)
        return fail(
          new GatewayError('NO_HEALTHY_UPSTREAM', `no healthy endpoint for ${route.service}`),
          stats,
        );
      edge = choice;
      dialTcp(choice.endpoint, this.context.connectTimeoutMs, (upstream) => {
        if (upstream instanceof GatewayError) return fail(upstream, stats);
        splice(socket, upstream, () => recordTunnel(stats, observed, started, 200, choice));
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
    edge = choice;
    choice.gateway.openTcpTunnel(route.service, (tunnel) => {
      if (tunnel instanceof GatewayError) return fail(tunnel, stats);
      if (socket.destroyed) {
        tunnel.destroy();
        return;
      }
      splice(socket, tunnel, () => recordTunnel(stats, observed, started, 200, choice));
      socket.resume();
      tunnel.resume();
    });
  }
}

/** The server that parsed a connection's requests (Node sets it; not a public field). */
type SocketWithServer = Socket & { server?: unknown };

/**
 * An Upgrade the gateway does not tunnel is a plain request: Node's parser, which took it as an upgrade
 * and so read no body, parses it again from its head without the offer to upgrade, then what followed
 * (the body, Content-Length or chunked, then anything else). The connection closes once it is answered,
 * as it did when the offer was refused by answering on the socket.
 */
function reparseAsPlain(req: IncomingMessage, socket: Socket, head: Buffer): void {
  const server = (socket as SocketWithServer).server;
  if (!(server instanceof Server)) {
    answerRaw(socket, new GatewayError('INTERNAL', 'the connection has no HTTP/1.1 parser to return to'));
    return;
  }
  socket.removeListener('error', onEarlySocketError);
  socket.setTimeout(0);
  handToHttpServer(
    server as Server,
    socket,
    Buffer.concat([Buffer.from(plainRequestHead(req), 'latin1'), head]),
  );
}

/** What Node's server does on a socket's 'drain' while a response writes to it, after an upgrade took it. */
function relayDrain(this: SocketWithResponse): void {
  const answering = this._httpMessage;
  if (answering?.writableNeedDrain) answering.emit('drain');
}

/**
 * Node emits 'upgrade' and 'connect' even while an earlier request of the connection is still being
 * answered (its response holds the socket): what answers them waits for that answer, or both would write
 * at once, out of order. True when it waits: `retry` runs once the answer is done. Node took its own socket
 * listeners away, so the answer's 'drain' is passed on from here meanwhile.
 */
function waitingForEarlierAnswer(socket: Socket, retry: () => void): boolean {
  const answering = (socket as SocketWithResponse)._httpMessage;
  if (!answering) return false;
  socket.on('drain', relayDrain);
  answering.once('finish', () => {
    socket.removeListener('drain', relayDrain);
    // An answer that closed the connection (Connection: close, a draining gateway) ends it here.
    if (socket.writable) retry();
    else socket.destroy();
  });
  return true;
}

function refuseConnect(socket: Socket): void {
  if (waitingForEarlierAnswer(socket, () => refuseConnect(socket))) return;
  answerRaw(socket, connectUnsupported());
}

/** Node throws an 'error' nobody listens to; a caller resetting before the tunnel is up just goes away. */
function onEarlySocketError(this: Socket): void {
  this.destroy();
}

function spliceAndCount(
  a: Duplex,
  b: Duplex,
  target: AttemptTarget,
  observed: ObservedRequest | undefined,
  startedMs: number,
): void {
  splice(a, b, () => recordTunnel(target.stats, observed, startedMs, 101, target));
}

/** Where a tunnel that matched no route is counted. */
const NO_ROUTE: TunnelEdge = { service: '(unknown)', cluster: '(none)' };

/**
 * The 101 answer written to an HTTP/1.1 caller once the endpoint or the remote side accepted the upgrade,
 * naming the protocol the endpoint chose (else the one offered).
 */
function switchingProtocolsHead(offered: string, answer: IncomingHttpHeaders | HeaderMap): string {
  return `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${answeredUpgrade(answer) ?? offered}\r\n${relayedFieldLines(answer)}\r\n`;
}

/**
 * The head of a refused upgrade's answer, relayed as a one-shot HTTP/1.1 response (the relay frames its
 * body). A 426 keeps the Upgrade field that names what it requires (RFC 9110 §15.5.22).
 */
function refusalHead(status: number, answer: IncomingHttpHeaders | HeaderMap): string {
  const upgrade = status === 426 ? answeredUpgrade(answer) : undefined;
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Upgrade Refused'}\r\nconnection: close\r\n${upgrade === undefined ? '' : `upgrade: ${upgrade}\r\n`}${relayedFieldLines(answer)}`;
}

/** The endpoint's Upgrade field in an answer: its own (a local endpoint) or as the peer relayed it. */
function answeredUpgrade(answer: IncomingHttpHeaders | HeaderMap): string | undefined {
  const value = answer.upgrade ?? answer[UPGRADE_HEADER];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * An answer's fields as HTTP/1.1 field lines for the caller of an upgrade: without pseudo-headers,
 * hop-by-hop fields and Content-Length (the relay decides the connection and the framing).
 */
function relayedFieldLines(answer: IncomingHttpHeaders | HeaderMap): string {
  let lines = '';
  for (const name in answer) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name) || name === 'content-length' || name === UPGRADE_HEADER)
      continue;
    const value = answer[name];
    if (typeof value === 'string') lines += `${name}: ${value}\r\n`;
    else if (value) for (const item of value) lines += `${name}: ${item}\r\n`;
  }
  return lines;
}

/** A refused upgrade: the remote answer (status, fields, body) relayed as a one-shot HTTP/1.1 response. */
function relayRefusal(
  socket: Socket,
  stream: ClientHttp2Stream,
  status: number,
  answer: IncomingHttpHeaders,
): void {
  socket.write(`${refusalHead(status, answer)}\r\n`, 'latin1');
  linger(socket);
  // The caller's answer ends where its connection does, so only a whole body may end it with a FIN. A
  // stream that closed with an error code was cut; so was one short of the length it declared (Node ends
  // a stream reset with NO_ERROR as if whole). The peer declares the length of every whole refusal it
  // sends (peer-router.ts); older peers, and nghttp2 on a 204, may not.
  const declared = answer['content-length'];
  let relayed = 0;
  stream.on('data', (chunk: Buffer) => (relayed += chunk.length));
  stream.pipe(socket, { end: false });
  stream.once('close', () => {
    const whole =
      stream.readableEnded && !stream.rstCode && (declared === undefined || relayed === Number(declared));
    if (whole) socket.end();
    else cutConnection(socket);
  });
}

/** A local endpoint's answer other than 101, read whole (bounded), relayed as a one-shot HTTP/1.1 response. */
function relayLocalRefusal(socket: Socket, refusal: UpgradeRefusal): void {
  const { status, headers, body, whole } = refusal;
  linger(socket);
  if (whole) {
    const head = `${refusalHead(status, headers)}content-length: ${body.length}\r\n\r\n`;
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    return;
  }
  // Longer than what the gateway keeps: what was kept, without a length, then a reset that marks it cut.
  socket.write(Buffer.concat([Buffer.from(`${refusalHead(status, headers)}\r\n`, 'latin1'), body]), () =>
    cutConnection(socket),
  );
}

/** A gateway error written straight to a socket that Node handed over (upgrade requests). */
export function answerRaw(socket: Socket, err: GatewayError, extra?: HeaderMap): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = httpStatusOf(err.code);
  const body = `${err.message}\n`;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries({ ...errorAnswerFields(err), ...extra }))
    head += `${name}: ${String(value)}\r\n`;
  linger(socket);
  socket.end(`${head}\r\n${body}`);
}

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

// The inbound path from other gateways: a stream on the peer listener, from a caller whose cluster the
// TLS client certificate proved. It is served only from this cluster's own endpoints (never a second
// hop, so no loops), after the service's allow list admits the caller. weft-source-cluster is set to
// the proven caller, replacing anything the caller sent, and the caller's traceparent is continued
// with this gateway's span id. Lanes (CONNECT with weft-lane) carry HTTP/1.1 requests, gRPC calls
// included, through the fast path; from the first head it does not recognise on, the whole lane goes
// through Node's parser (lane-http-server.ts). Extended CONNECT streams become Upgrade tunnels;
// weft-tcp connections TCP tunnels.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../errors.js';
import {
  headersFromH2,
  isHopByHop,
  LANE_HEADER,
  SERVICE_HEADER,
  SOURCE_CLUSTER_HEADER,
  UPGRADE_HEADER,
  ERROR_HEADER,
  METHOD_HEADER,
  isToken,
} from '../routing/proxy-headers.js';
import type { ServiceRoute } from '../routing/route-table.js';
import type { LocalChoice, LocalTarget, TargetStats } from '../routing/route-targets.js';
import type { PeerGateway } from '../transport/peer-transport.js';
import { httpStatusOf } from '../routing/error-status.js';
import { readTunnelRequest, tunnelAnswer } from '../transport/opaque-tunnel.js';
import { newHeaderMap, type HeaderMap, type ProxyRequest } from '../upstream/exchange.js';
import { dialTcp, dialUpgrade, UPGRADE_ANSWER_TIMEOUT_MS, upgradeRequestHead } from '../upstream/tcp-dial.js';
import type { DownstreamSink } from './downstream-sink.js';
import { GuardedRequest } from './guarded-request.js';
import { H1ResponseSink } from './h1-response-sink.js';
import { refusedRequestOf, requestOfIncoming } from './incoming-request.js';
import { H2ResponseSink, unsendableHead } from './h2-response-sink.js';
import { FastConnection, type FastPathHost, type FastResponseSink } from './h1-fast-path.js';
import { LaneHttpServer } from './lane-http-server.js';
import { HTTP1_LIMITS } from './outbound-listener.js';
import { requestOfSimpleHead, type SimpleHead } from './simple-request-head.js';
import { splice } from './splice.js';
import { traceRequestHeaders } from './request-trace.js';
import { linger } from './lingering-close.js';
import { recordTunnel } from './tunnel-outcome.js';
import { refuseNonTcp } from '../routing/opaque-tcp-admission.js';
import type { RouterContext } from './outbound-router.js';

/** Idle lanes close after this; longer than the caller's lane idle timeout, so the caller closes first. */
const LANE_KEEP_ALIVE_MS = 120_000;
/**
 * The largest head a lane takes: what a calling gateway accepted (32 KiB from HTTP/1.1 apps, a 64 KiB
 * header list from HTTP/2 ones) plus the fields it adds. Refusing less broke the lane: a 502.
 */
const LANE_MAX_HEADER_BYTES = 80 * 1024;
/**
 * When draining, how long idle lanes stay open: time for the calling gateway, told by GOAWAY, to stop
 * using them. A request it sent meanwhile is answered (with Connection: close), not lost to a lane that
 * ended as it arrived.
 */
const LANE_DRAIN_GRACE_MS = 1_000;

const END_STREAM_FLAG = 0x1;

/** A route a peer's request was admitted to: the service has healthy endpoints in this cluster. */
type AdmittedRoute = ServiceRoute<PeerGateway> & { readonly local: LocalTarget };

function servedHere(route: ServiceRoute<PeerGateway>): route is AdmittedRoute {
  return route.local !== null;
}

export interface PeerContext extends Omit<RouterContext, 'noRouteStats' | 'unservedStatsFor'> {
  readonly connectTimeoutMs: number;
  /**
   * Where requests from peer cluster `caller` to `service` are counted when they are refused: the
   * caller is known from its certificate; `service` is '(unknown)' unless this cluster serves it.
   */
  readonly refusalStatsFor: (caller: string, service: string) => TargetStats;
}

export class PeerRouter {
  private readonly context: PeerContext;
  private readonly lanes = new Set<FastConnection>();
  private readonly laneHttp: LaneHttpServer;
  private draining = false;
  private drainStartedAt = 0;

  constructor(context: PeerContext) {
    this.context = context;
    this.laneHttp = new LaneHttpServer(
      {
        keepAliveTimeoutMs: LANE_KEEP_ALIVE_MS,
        headersTimeoutMs: HTTP1_LIMITS.headersTimeoutMs,
        maxHeaderSize: LANE_MAX_HEADER_BYTES,
      },
      (req, res, caller) => this.onLaneHttpRequest(req, res, caller),
    );
  }

  /** A stream from peer cluster `caller`. */
  onStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    rawHeaders: readonly string[],
    caller: string,
  ): void {
    if (headers[':method'] === 'CONNECT' && headers[LANE_HEADER] === 'http/1.1') {
      this.openLane(stream, caller);
      return;
    }
    const contentType = headers['content-type'];
    const grpc = typeof contentType === 'string' && contentType.startsWith('application/grpc');
    const fields = headersFromH2(rawHeaders);
    fields[SOURCE_CLUSTER_HEADER] = caller;
    const endStream = (flags & END_STREAM_FLAG) !== 0;
    const length = headers['content-length'];
    const declared = length === undefined ? -1 : Number(length);
    const bodyLength = endStream ? 0 : Number.isInteger(declared) && declared >= 0 ? declared : -1;
    const request: ProxyRequest = {
      method: headers[':method'] ?? 'GET',
      path: headers[':path'] ?? '/',
      authority: headers[':authority'] ?? '',
      headers: fields,
      bodyLength,
      body: bodyLength !== 0 ? stream : null,
      grpc,
    };
    const route = this.admit(headers[SERVICE_HEADER], caller);
    const choice = route instanceof GatewayError ? undefined : route.local.pick();
    if (route instanceof GatewayError || !choice) {
      const sink = new H2ResponseSink(
        stream,
        grpc,
        headers.te === 'trailers',
        this.refusalStats(headers[SERVICE_HEADER], caller),
        this.context.onOutcome,
      );
      sink.traceRequest(request, this.context.observer, caller);
      sink.fail(route instanceof GatewayError ? route : this.noHealthyEndpoint(route.service));
      return;
    }
    const stats = route.local.statsForCaller(caller);
    if (request.method === 'CONNECT') {
      const method = headers[METHOD_HEADER] ?? 'GET';
      this.tunnel(stream, headers[':protocol'], method, request, choice, caller, stats);
      return;
    }
    const sink = new H2ResponseSink(stream, grpc, headers.te === 'trailers', stats, this.context.onOutcome);
    sink.traceRequest(request, this.context.observer, caller);
    this.forward(request, route, choice, sink, caller);
  }

  /**
   * An opaque TCP tunnel from peer cluster `caller` (its own mTLS connection): read the service it
   * asks for, admit the caller, dial a local endpoint, answer OK and splice.
   */
  onTunnel(socket: TLSSocket, caller: string): void {
    const started = performance.now();
    const observed = this.context.observer?.observe(undefined, caller, undefined, undefined);
    socket.on('error', () => socket.destroy());
    readTunnelRequest(socket, this.context.connectTimeoutMs, (service) => {
      const admitted = service instanceof GatewayError ? service : this.admit(service, caller);
      const route = admitted instanceof GatewayError ? admitted : (refuseNonTcp(admitted) ?? admitted);
      const choice = route instanceof GatewayError ? undefined : route.local.pick();
      if (route instanceof GatewayError || !choice) {
        const err = route instanceof GatewayError ? route : this.noHealthyEndpoint(route.service);
        const asked = typeof service === 'string' ? service : '(unknown)';
        recordTunnel(
          this.refusalStats(service instanceof GatewayError ? undefined : service, caller),
          observed,
          started,
          httpStatusOf(err.code),
          { service: asked, cluster: '(none)' },
          err.code,
        );
        linger(socket);
        socket.end(tunnelAnswer(err), 'latin1');
        return;
      }
      const stats = route.local.statsForCaller(caller);
      dialTcp(choice.endpoint, this.context.connectTimeoutMs, (upstream) => {
        if (upstream instanceof GatewayError) {
          recordTunnel(stats, observed, started, httpStatusOf(upstream.code), choice, upstream.code);
          linger(socket);
          socket.end(tunnelAnswer(upstream), 'latin1');
          return;
        }
        socket.write(tunnelAnswer(), 'latin1');
        splice(socket, upstream, () => recordTunnel(stats, observed, started, 200, choice));
        socket.resume();
      });
    });
  }

  /**
   * Draining: every answer says Connection: close, so busy lanes close after theirs; idle lanes close
   * once the calling gateways have had LANE_DRAIN_GRACE_MS to stop using them (closeIdle).
   */
  drain(): void {
    this.draining = true;
    this.drainStartedAt = performance.now();
    this.laneHttp.drain();
  }

  /** Closes idle lanes, past the drain's grace (called by the drain loop). */
  closeIdle(): void {
    if (this.draining && performance.now() - this.drainStartedAt < LANE_DRAIN_GRACE_MS) return;
    for (const lane of this.lanes) lane.closeIfIdle();
    this.laneHttp.closeIdle();
  }

  /**
   * A lane: a CONNECT stream carrying a keep-alive HTTP/1.1 connection from the caller's gateway.
   * Each request on it is admitted and routed like a stream of its own.
   */
  private openLane(stream: ServerHttp2Stream, caller: string): void {
    stream.respond({ ':status': 200 });
    const host: FastPathHost = {
      keepAliveTimeoutMs: LANE_KEEP_ALIVE_MS,
      noRouteStats: this.refusalStats(undefined, caller),
      onOutcome: this.context.onOutcome,
      draining: false,
      waitForSplitHeads: true,
      readsBodies: true,
      route: (head, body, sink) => this.onLaneRequest(head, body, sink, caller),
      handOver: (lane, unread) => this.laneHttp.handOver(lane, unread, caller),
    };
    Object.defineProperty(host, 'draining', { get: () => this.draining });
    const lane = new FastConnection(stream, host, null);
    this.lanes.add(lane);
    stream.once('close', () => this.lanes.delete(lane));
    stream.on('aborted', destroyAfterReset);
  }

  private onLaneRequest(
    head: SimpleHead,
    body: Readable | Buffer | null,
    sink: FastResponseSink,
    caller: string,
  ): void {
    this.serveLaneRequest(requestOfSimpleHead(head, body), head.service, sink, caller);
  }

  /** A request on a lane Node's parser reads (lane-http-server.ts). */
  private onLaneHttpRequest(req: IncomingMessage, res: ServerResponse, caller: string): void {
    const request = requestOfIncoming(req, false);
    const grpc = !(request instanceof GatewayError) && request.grpc;
    const service = req.headers[SERVICE_HEADER];
    const stats = this.refusalStats(service, caller);
    const sink = new H1ResponseSink(req, res, grpc, stats, this.context.onOutcome);
    if (request instanceof GatewayError) {
      sink.traceRequest(refusedRequestOf(req), this.context.observer, caller);
      sink.fail(request);
    } else {
      this.serveLaneRequest(request, service, sink, caller);
    }
  }

  private serveLaneRequest(
    request: ProxyRequest,
    service: string | string[] | undefined,
    sink: DownstreamSink,
    caller: string,
  ): void {
    request.headers[SOURCE_CLUSTER_HEADER] = caller;
    sink.traceRequest(request, this.context.observer, caller);
    const route = this.admit(service, caller);
    const choice = route instanceof GatewayError ? undefined : route.local.pick();
    if (route instanceof GatewayError || !choice) {
      sink.stats = this.refusalStats(service, caller);
      sink.fail(route instanceof GatewayError ? route : this.noHealthyEndpoint(route.service));
      return;
    }
    sink.stats = route.local.statsForCaller(caller);
    this.forward(request, route, choice, sink, caller);
  }

  /**
   * Sends a peer's request to a local endpoint under the service's resilience guard (peer policy: see
   * ServiceResilience.peerPolicy): pinned to this cluster, so a retry goes to another local endpoint,
   * never elsewhere.
   */
  private forward(
    request: ProxyRequest,
    route: AdmittedRoute,
    choice: LocalChoice,
    sink: DownstreamSink,
    caller: string,
  ): void {
    const { cluster, resilience } = this.context;
    new GuardedRequest(this.context, route, cluster, request, sink, resilience(route.service), caller).start(
      choice,
    );
  }

  private noHealthyEndpoint(service: string): GatewayError {
    return new GatewayError(
      'NO_HEALTHY_UPSTREAM',
      `service ${service} has no healthy endpoint in cluster ${this.context.cluster}`,
    );
  }

  /** Where a refused request of `caller` is counted: under its service when this cluster serves it. */
  private refusalStats(service: string | string[] | undefined, caller: string): TargetStats {
    const served = typeof service === 'string' && this.context.table().route(service)?.localService;
    return this.context.refusalStatsFor(caller, served ? service : '(unknown)');
  }

  /** The route of a peer's request, served here, or why it is refused. */
  private admit(service: string | string[] | undefined, caller: string): AdmittedRoute | GatewayError {
    if (typeof service !== 'string' || service === '') {
      return new GatewayError('BAD_REQUEST', `a peer request must name its service in ${SERVICE_HEADER}`);
    }
    const route = this.context.table().route(service);
    const local = route?.localService;
    if (!route || !local) {
      return new GatewayError(
        'NO_ROUTE',
        `service ${service} is not served in cluster ${this.context.cluster}`,
      );
    }
    if (local.allow !== null && !local.allow.includes(caller)) {
      return new GatewayError(
        'FORBIDDEN',
        `cluster ${caller} is not allowed to call service ${service} in cluster ${this.context.cluster} (allow: ${local.allow.join(', ') || 'none'})`,
      );
    }
    if (!servedHere(route)) return this.noHealthyEndpoint(service);
    return route;
  }

  private tunnel(
    stream: ServerHttp2Stream,
    protocol: string | string[] | undefined,
    method: string | string[],
    request: ProxyRequest,
    choice: LocalChoice,
    caller: string,
    stats: TargetStats,
  ): void {
    const started = performance.now();
    const fields = request.headers;
    const observed = traceRequestHeaders(
      fields,
      {
        method: typeof method === 'string' ? method : 'GET',
        authority: request.authority,
        path: request.path,
      },
      this.context.observer,
      caller,
    );
    // Until the splice owns it, a reset from the caller must not go unheard (Node throws unheard errors).
    stream.on('error', () => stream.destroy());
    const refuse = (err: GatewayError) => {
      recordTunnel(stats, observed, started, httpStatusOf(err.code), choice, err.code);
      if (stream.destroyed) return;
      const body = `${err.message}\n`;
      stream.respond({
        ':status': httpStatusOf(err.code),
        [ERROR_HEADER]: err.code,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      stream.end(body);
    };
    if (typeof protocol !== 'string') {
      refuse(
        new GatewayError(
          'BAD_REQUEST',
          'plain CONNECT is not served here: TCP tunnels use their own weft-tcp connection',
        ),
      );
      return;
    }
    if (typeof method !== 'string' || !isToken(method)) {
      refuse(new GatewayError('BAD_REQUEST', `${METHOD_HEADER} must be one method name`));
      return;
    }
    const head = upgradeRequestHead(method, request.path, request.authority, protocol, fields);
    const timeouts = { connectMs: this.context.connectTimeoutMs, answerMs: UPGRADE_ANSWER_TIMEOUT_MS };
    // A stream closed while the endpoint has not answered (the caller left, or the drain deadline passed)
    // ends the wait: its socket and 15 s timer would otherwise outlive it, and keep a drained process up.
    const waiting = new AbortController();
    stream.once('close', () => waiting.abort());
    dialUpgrade(
      choice.endpoint,
      head,
      timeouts,
      (result) => {
        if (result instanceof GatewayError) return refuse(result);
        if (stream.destroyed) {
          // The caller went away while the endpoint answered.
          if (result.upgraded) result.socket.destroy();
          recordTunnel(stats, observed, started, 499, choice, 'DOWNSTREAM_CANCELLED');
          return;
        }
        // respond() throws on a head HTTP/2 cannot carry (a repeated single-value field): refuse instead.
        const head: OutgoingHttpHeaders = { ...withoutHopByHop(result.headers), ':status': 200 };
        const upgrade = result.headers.upgrade;
        if (upgrade !== undefined) head[UPGRADE_HEADER] = upgrade;
        if (!result.upgraded) {
          // A whole refusal declares its length, so that the calling gateway can tell a cut one apart.
          head[':status'] = result.status;
          delete head['content-length'];
          if (result.whole) head['content-length'] = result.body.length;
        }
        try {
          stream.respond(head);
        } catch (err) {
          if (result.upgraded) result.socket.destroy();
          refuse(unsendableHead(err));
          return;
        }
        if (!result.upgraded) {
          recordTunnel(stats, observed, started, result.status, choice);
          // What was kept goes first, then the reset that marks it cut.
          if (result.whole) stream.end(result.body);
          else
            stream.write(result.body, () =>
              stream.destroy(
                new GatewayError('UPSTREAM_RESET', 'the refusal was longer than the gateway relays'),
              ),
            );
          return;
        }
        if (result.leftover) stream.write(result.leftover);
        splice(stream, result.socket, () => recordTunnel(stats, observed, started, 101, choice));
        result.socket.resume();
      },
      waiting.signal,
    );
  }
}

function withoutHopByHop(headers: HeaderMap): HeaderMap {
  const out = newHeaderMap();
  for (const name in headers) if (!isHopByHop(name)) out[name] = headers[name];
  return out;
}

/**
 * A lane the calling gateway reset (it gave up on an answer) is over, whatever it still holds. Node
 * leaves a reset stream open while its readable side is paused, as a lane's is while it waits on an
 * answer that cannot leave (flow control), so its 'close', which releases the upstream connection, would
 * never come. Destroyed on the next tick: our own close() emits 'aborted' before it sends RST_STREAM.
 */
function destroyAfterReset(this: ServerHttp2Stream): void {
  process.nextTick(destroyStream, this);
}

function destroyStream(stream: ServerHttp2Stream): void {
  stream.destroy();
}

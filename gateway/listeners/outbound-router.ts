// The outbound path for HTTP: a request from a local app (HTTP/1.1 or HTTP/2/gRPC) → its service name
// (Host / :authority) → the route's pick (local first, else a remote cluster in failover order) → a
// pooled local connection or a stream to a peer gateway. The caller's W3C traceparent is continued with
// this gateway's span id (or a new trace started) before anything else, so every answer carries one.
// Everything per request is a field read, one header pass and a few small objects; errors become
// answers through the sink.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { GatewayError } from '../errors.js';
import type { OutcomeListener } from '../routing/outcome.js';
import { headersFromH2 } from '../routing/proxy-headers.js';
import type { RouteTable, ServiceRoute } from '../routing/route-table.js';
import type { TargetStats } from '../routing/route-targets.js';
import type { ServiceName } from '../routing/service-name.js';
import type { Readable } from 'node:stream';
import type { ProxyRequest } from '../upstream/exchange.js';
import type { LocalUpstreams } from '../upstream/local-upstreams.js';
import type { PeerGateway } from '../transport/peer-transport.js';
import type { DownstreamSink } from './downstream-sink.js';
import { GuardedRequest } from './guarded-request.js';
import type { ServiceResilience } from '../resilience/index.js';
import { H1ResponseSink } from './h1-response-sink.js';
import type { IdleStreams } from './idle-streams.js';
import { refusedRequestOf, requestOfIncoming } from './incoming-request.js';
import { H2ResponseSink } from './h2-response-sink.js';
import type { FastResponseSink } from './h1-fast-path.js';
import { requestOfSimpleHead, type SimpleHead } from './simple-request-head.js';
import type { RequestObserver } from '../observability/index.js';

const END_STREAM_FLAG = 0x1;

/** What both routers (outbound from local apps, peer from other gateways) route with. */
export interface RouterContext {
  readonly cluster: string;
  /** The current route table (swapped atomically on every change). */
  table(): RouteTable<PeerGateway>;
  readonly upstreams: LocalUpstreams;
  /** Where requests without a route are counted. */
  readonly noRouteStats: TargetStats;
  /** Where requests for a known service are counted when no cluster takes them (refused, none healthy). */
  readonly unservedStatsFor: (service: string) => TargetStats;
  readonly onOutcome: OutcomeListener | undefined;
  /** Access log and span export of this listener; undefined (the default) when both are off. */
  readonly observer: RequestObserver | undefined;
  /** Per-service retries, timeouts and circuit breakers. */
  readonly resilience: (service: string) => ServiceResilience;
  /** Answers under the idle timeout. */
  readonly idleStreams: IdleStreams;
}

/** A routed request: the route, and the name it was reached by (for a pinned cluster). */
export interface Resolved {
  readonly route: ServiceRoute<PeerGateway>;
  readonly name: ServiceName;
}

export class OutboundRouter {
  private readonly context: RouterContext;

  constructor(context: RouterContext) {
    this.context = context;
  }

  onH1Request(req: IncomingMessage, res: ServerResponse): void {
    const sink = new H1ResponseSink(req, res, false, this.context.noRouteStats, this.context.onOutcome);
    const request = requestOfIncoming(req, true);
    if (request instanceof GatewayError) {
      sink.traceRequest(refusedRequestOf(req), this.context.observer, this.context.cluster);
      sink.fail(request);
    } else {
      this.forward(request, sink);
    }
  }

  /** A simple HTTP/1.1 request from the fast path (headers already carry pseudo-headers). */
  onFastRequest(head: SimpleHead, body: Readable | Buffer | null, sink: FastResponseSink): void {
    this.forward(requestOfSimpleHead(head, body), sink);
  }

  onH2Stream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    rawHeaders: readonly string[],
  ): void {
    const contentType = headers['content-type'];
    const grpc = typeof contentType === 'string' && contentType.startsWith('application/grpc');
    const sink = new H2ResponseSink(
      stream,
      grpc,
      headers.te === 'trailers',
      this.context.noRouteStats,
      this.context.onOutcome,
    );
    const method = headers[':method'] ?? 'GET';
    if (method === 'CONNECT') {
      sink.fail(connectUnsupported());
      return;
    }
    const endStream = (flags & END_STREAM_FLAG) !== 0;
    // A caller that waits for 100 Continue before its body is told to send it, as Node's HTTP/1.1 server
    // tells one: the gateway may read the body whole before it picks an endpoint (to retry with it).
    if (!endStream && headers.expect?.toLowerCase() === '100-continue') sendContinue(stream);
    const length = headers['content-length'];
    const declared = length === undefined ? -1 : Number(length);
    const bodyLength = endStream ? 0 : Number.isInteger(declared) && declared >= 0 ? declared : -1;
    const request: ProxyRequest = {
      method,
      path: headers[':path'] ?? '/',
      authority: headers[':authority'] ?? headers.host ?? '',
      headers: headersFromH2(rawHeaders),
      bodyLength,
      body: bodyLength !== 0 ? stream : null,
      grpc,
    };
    this.forward(request, sink);
  }

  /** Resolves the name a request (or tunnel) asks for; a GatewayError when it names nothing routable. */
  resolve(authority: string): Resolved | GatewayError {
    const table = this.context.table();
    const name = table.resolve(authority);
    if (!name) {
      return new GatewayError(
        'NO_ROUTE',
        authority
          ? `"${authority}" is not a service name of this fabric (use <service>[.<namespace>] or <service>.<namespace>.svc.${table.scope.zone})`
          : 'the request names no service (no Host / :authority)',
      );
    }
    const route = table.route(name.service);
    if (!route)
      return new GatewayError(
        'NO_ROUTE',
        `unknown service ${name.service}: no cluster of the fabric exports it`,
      );
    return { route, name };
  }

  private forward(request: ProxyRequest, sink: DownstreamSink): void {
    sink.traceRequest(request, this.context.observer, this.context.cluster);
    const resolved = this.resolve(request.authority);
    if (resolved instanceof GatewayError) {
      sink.fail(resolved);
      return;
    }
    const { route, name } = resolved;
    if (route.protocol === 'tcp') {
      sink.stats = this.context.unservedStatsFor(route.service);
      sink.fail(
        new GatewayError(
          'BAD_REQUEST',
          `service ${route.service} is a TCP service; reach it through a tcp: listener`,
        ),
      );
      return;
    }
    const target = route.pick(name.cluster);
    if (target instanceof GatewayError) {
      sink.stats = this.context.unservedStatsFor(route.service);
      sink.fail(target);
      return;
    }
    const choice = target.pick();
    if (!choice) {
      sink.stats = this.context.unservedStatsFor(route.service);
      sink.fail(new GatewayError('NO_HEALTHY_UPSTREAM', `no healthy upstream for service ${route.service}`));
      return;
    }
    const resilience = this.context.resilience(route.service);
    new GuardedRequest(this.context, route, name.cluster, request, sink, resilience).start(choice);
  }
}

function sendContinue(stream: ServerHttp2Stream): void {
  try {
    stream.additionalHeaders({ ':status': 100 });
  } catch {
    // The caller reset the stream meanwhile: nothing to tell it.
  }
}

/** The answer to CONNECT from a local app, on HTTP/1.1 or HTTP/2: opaque TCP has listeners of its own. */
export function connectUnsupported(): GatewayError {
  return new GatewayError(
    'BAD_REQUEST',
    'CONNECT is not supported on the outbound listener; bind a tcp: listener to the service instead',
  );
}

// One outbound request under its service's resilience policy: the service's local rate limit (over it:
// 429 with Retry-After, or RESOURCE_EXHAUSTED, at once), a small body kept for replays (replay-body.ts),
// a circuit-breaker slot per try, a per-try timeout, a request timeout (from the end of the request;
// both until the response head; a gRPC call has its own deadline instead), and retries on another
// endpoint, gateway or cluster when a try fails
// before any response byte reached the caller (decideRetry says which failures, and spends the retry
// budget). Each abandoned try is reported to the outcome listener; the try that answers is reported by
// the downstream sink as usual. Once the answer has begun, the idle timeout watches its progress
// (idle-streams.ts).
// Implements Exchange so the sink cancels whatever try is current when its caller goes away.
import type { Readable } from 'node:stream';
import { GatewayError, neverSent, refusedUnprocessed } from '../errors.js';
import {
  decideRetry,
  rateLimitedError,
  type AttemptResult,
  type CircuitBreaker,
  type RateLimiter,
  type ServiceResilience,
  type SlotWaiter,
} from '../resilience/index.js';
import { isGrpcServerFailure, isLocalOriginFailure, isOwnLimit } from '../routing/error-status.js';
import type { ServicePolicy } from '../config/index.js';
import type { OutcomeListener } from '../routing/outcome.js';
import { SERVICE_HEADER, SOURCE_CLUSTER_HEADER } from '../routing/proxy-headers.js';
import type { RouteTable, ServiceRoute } from '../routing/route-table.js';
import type { LocalChoice, RemoteChoice } from '../routing/route-targets.js';
import type { PeerGateway } from '../transport/peer-transport.js';
import type { Exchange, HeaderMap, ProxyRequest, ResponseSink } from '../upstream/exchange.js';
import type { LocalUpstreams } from '../upstream/local-upstreams.js';
import type { DownstreamSink } from './downstream-sink.js';
import type { IdleStreams, IdleWatched } from './idle-streams.js';
import { UploadWatch, type UploadWatcher } from './upload-watch.js';
import { KeptBody, readWholeBody, replayableBody, withReplayedBody } from './replay-body.js';
import { grpcDeadlineMs } from '../routing/grpc-deadline.js';

export type Choice = LocalChoice | RemoteChoice<PeerGateway>;

export interface GuardedContext {
  readonly cluster: string;
  table(): RouteTable<PeerGateway>;
  readonly upstreams: LocalUpstreams;
  readonly onOutcome: OutcomeListener | undefined;
  readonly idleStreams: IdleStreams;
}

export class GuardedRequest implements Exchange, SlotWaiter, UploadWatcher, IdleWatched {
  private readonly context: GuardedContext;
  private readonly route: ServiceRoute<PeerGateway>;
  private readonly pinned: string | undefined;
  /** The caller's request; its body is replaced by a copying stream when a streamed body is kept. */
  private request: ProxyRequest;
  private readonly sink: DownstreamSink;
  private readonly guard: ServiceResilience;
  /** The guard's policy for this request: the service's, or for a call from a peer its peer policy. */
  private readonly policy: ServicePolicy;
  /**
   * For a request from a peer gateway: the calling cluster its certificate proved. Such a request is
   * named to the endpoint as coming from there, stays counted under its caller and follows the peer
   * policy (no local rate limit: that limits local apps); the peer router pins it to this cluster.
   */
  private readonly caller: string | undefined;
  private tried: Set<string> | undefined;
  private retries = 0;
  private current: Attempt | undefined;
  /** The try waiting for a circuit-breaker slot, and that breaker (a departed cluster's leaves the registry). */
  private queuedFor: { readonly choice: Choice; readonly breaker: CircuitBreaker } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Watches a streamed request body until it ends (the request timer starts then). */
  private upload: UploadWatch | undefined;
  /** A gRPC call's body is still streaming: its per-try timeout starts when it ends (see start). */
  private grpcBodyStreaming = false;
  /** The whole body, kept so that every try (and retry) can send it. */
  private bodyBytes: Buffer | null = null;
  /** A body of unknown length, kept while it streams so that a retry can replay it. */
  private kept: KeptBody | undefined;
  /**
   * The kept body for the retry just decided, taken at once: a retry waiting for a circuit-breaker slot
   * must not find the copy grown past the limit or the previous try's stream drained by nobody.
   */
  private retryBody: Buffer | Readable | undefined;
  private stopReading: (() => void) | undefined;
  /** The response head reached the caller, or the request ended: no more retries or timeouts. */
  settled = false;
  /** Chunks moved since the answer began, either way (IdleWatched). */
  moved = 0;
  movedAtSweep = 0;
  stillSinceMs = 0;
  /** The answer stopped because the caller does not read it (its sink asked to wait for 'drain'). */
  waitingForCaller = false;
  /** Counts the request body's chunks while the answer streams (a call streaming both ways). */
  private countingBody: Readable | undefined;
  private watchingIdle = false;

  constructor(
    context: GuardedContext,
    route: ServiceRoute<PeerGateway>,
    pinned: string | undefined,
    request: ProxyRequest,
    sink: DownstreamSink,
    guard: ServiceResilience,
    caller?: string,
  ) {
    this.context = context;
    this.route = route;
    this.pinned = pinned;
    this.request = request;
    this.sink = sink;
    this.guard = guard;
    this.caller = caller;
    this.policy = caller === undefined ? guard.policy : guard.peerPolicy;
  }

  start(first: Choice): void {
    const limiter = this.policy.rateLimit === null ? null : this.guard.limiter;
    if (limiter !== null && !limiter.tryTake()) {
      this.rateLimited(first, limiter);
      return;
    }
    this.guard.budget.recordRequest();
    const { requestMs, perTryMs } = this.policy.timeouts;
    const { body, bodyLength } = this.request;
    if (this.request.grpc) {
      // A gRPC call carries its own deadline, counted from its start as its client counts it. The
      // request timeout, made for requests that end before their answer, would cut a streaming call or
      // a watch the client still waits for; without a deadline the call waits as it would calling the
      // service directly (the idle timeout still bounds a stream once it is answering).
      const deadlineMs = grpcDeadlineMs(this.request.headers['grpc-timeout']);
      if (deadlineMs !== undefined) this.armTimer(deadlineMs, () => this.deadlinePassed(deadlineMs));
      // The per-try timeout still counts from the end of the request, as for any request.
      if (perTryMs > 0 && body !== null && !Buffer.isBuffer(body) && !body.readableEnded) {
        this.grpcBodyStreaming = true;
        body.once('end', () => {
          this.grpcBodyStreaming = false;
          if (!this.settled) this.current?.arm(perTryMs);
        });
      }
    } else if (requestMs > 0 || perTryMs > 0) {
      // Both timeouts count from the end of the request, as Envoy's: an upload may take as long as it
      // flows, and is bounded by its progress meanwhile (upload-watch.ts).
      if (body === null || Buffer.isBuffer(body) || body.readableEnded) this.armRequestTimer(requestMs);
      else this.upload = new UploadWatch(body, requestMs || perTryMs, this);
    }
    this.sink.exchange = this;
    const { retries } = this.policy;
    if (body !== null && !Buffer.isBuffer(body) && retries.attempts > 0) {
      if (replayableBody(this.request)) {
        this.stopReading = readWholeBody(body, bodyLength, (bytes) => this.bodyRead(first, bytes));
        return;
      }
      if (bodyLength < 0) {
        this.kept = new KeptBody(body);
        this.request = { ...this.request, body: this.kept.stream };
      }
    }
    this.send(first);
  }

  /** The caller went away. */
  cancel(): void {
    this.answerOver();
    this.settle();
    this.stopReading?.();
    this.current?.abandon();
  }

  /** A try waiting for a circuit-breaker slot is given up: leave the queue instead of holding a place. */
  private leaveBreakerQueue(): void {
    const queued = this.queuedFor;
    if (!queued) return;
    this.queuedFor = undefined;
    queued.breaker.withdraw(this);
  }

  private bodyRead(first: Choice, bytes: Buffer | null): void {
    this.stopReading = undefined;
    if (this.settled) return;
    if (bytes === null) {
      // Node's parsers hold a body to its declared length: a short one means the caller went away.
      this.settle();
      this.sink.fail(
        new GatewayError('DOWNSTREAM_CANCELLED', 'the caller went away before its request body was complete'),
      );
      return;
    }
    this.bodyBytes = bytes;
    this.send(first);
  }

  settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.upload?.stop();
    this.kept?.forget();
    this.leaveBreakerQueue();
  }

  /**
   * Refused by the service's local rate limit: counted under the destination the pick chose, but never
   * reported as that upstream's outcome (it was not tried) and never spending retry budget.
   */
  private rateLimited(first: Choice, limiter: RateLimiter): void {
    this.settled = true;
    const service = this.route.service;
    this.guard.events?.refusedBy('rate-limit', service);
    this.sink.stats = first.stats;
    this.sink.fail(rateLimitedError(service, limiter));
  }

  /** The circuit breaker freed a slot for the try that waited in `send` (SlotWaiter). */
  slotGranted(granted: boolean): void {
    const queued = this.queuedFor;
    this.queuedFor = undefined;
    if (!granted || !queued) return;
    const { choice, breaker } = queued;
    // Not inside the stack of the request that freed the slot: a try that fails at once (a pool in
    // reconnect backoff) frees it for the next waiter, and a long queue would nest one call per waiter.
    queueMicrotask(() => {
      if (this.settled) breaker.release();
      else this.dispatch(choice, breaker);
    });
  }

  private send(choice: Choice): void {
    this.tried?.add(choice.via);
    const breaker = this.guard.breaker(choice.cluster);
    const admission = breaker.acquire(this);
    if (admission === 'admitted') this.dispatch(choice, breaker);
    else if (admission === 'queued') this.waitFor(choice, breaker);
    else {
      this.guard.events?.refusedBy('circuit-breaker', this.route.service, choice.cluster);
      this.settle();
      this.aimAt(choice);
      this.sink.fail(
        new GatewayError(
          'OVERLOADED',
          `too many requests in flight to service ${this.route.service} in ${choice.cluster} (circuit breaker)`,
        ),
      );
    }
  }

  /**
   * The try waits for a slot at `choice`. Should the wait end the request (timeout, the caller leaves),
   * that is counted at `choice` but reported against no one: neither the previous try, already reported,
   * nor `choice`, which never saw the request.
   */
  private waitFor(choice: Choice, breaker: CircuitBreaker): void {
    this.queuedFor = { choice, breaker };
    this.sink.target = undefined;
    if (this.caller === undefined) this.sink.stats = choice.stats;
  }

  /** The try goes to `choice`: report it there, and count it there unless it came from a peer. */
  private aimAt(choice: Choice): void {
    this.sink.target = choice;
    if (this.caller === undefined) this.sink.stats = choice.stats;
  }

  private dispatch(choice: Choice, breaker: CircuitBreaker): void {
    const attempt = new Attempt(this, choice, breaker);
    this.current = attempt;
    this.aimAt(choice);
    const { perTryMs } = this.policy.timeouts;
    if (perTryMs > 0 && this.upload === undefined && !this.grpcBodyStreaming) attempt.arm(perTryMs);
    const body = this.bodyBytes ?? this.retryBody;
    this.retryBody = undefined;
    const request = body ? withReplayedBody(this.request, body) : this.request;
    attempt.body = request.body;
    if ('gateway' in choice) {
      if (request.headers[SOURCE_CLUSTER_HEADER] !== undefined) delete request.headers[SOURCE_CLUSTER_HEADER];
      attempt.exchange = choice.gateway.dispatch(request, this.route.service, attempt);
    } else {
      const headers = request.headers;
      headers[SOURCE_CLUSTER_HEADER] = this.caller ?? this.context.cluster;
      // A try at a peer gateway before this one named the service for that hop only.
      if (headers[SERVICE_HEADER] !== undefined) delete headers[SERVICE_HEADER];
      attempt.exchange = this.context.upstreams.dispatch(
        this.route.protocol,
        choice.endpoint,
        request,
        attempt,
      );
    }
  }

  /** A try failed before anything reached the caller: retry elsewhere, or answer with `err`. */
  failed(attempt: Attempt, result: AttemptResult, err: GatewayError): boolean {
    if (this.settled) return false;
    // Where a retry would go, first: with nowhere to go, no retry-budget unit is spent.
    this.tried ??= new Set([attempt.choice.via]);
    const route = this.context.table().route(this.route.service) ?? this.route;
    const refused = refusedUnprocessed(err);
    // Refused, or stopped by this gateway's own limit (a full pool, a wait for a connection): the try
    // reached no upstream that failed.
    const upstreamAtFault = !refused && !isOwnLimit(err.code);
    // Refused unprocessed, the same upstream may take it again: by then its pool knows the upstream's
    // stream limit and opens another connection rather than queue or send beyond it.
    const next = route.pickRetry(this.tried, this.pinned) ?? (refused ? attempt.choice : undefined);
    if (!next) return false;
    // At this try's own cluster the retry always gets in: retiring this try frees its slot, or a queue
    // place when a waiter takes the slot. Elsewhere the breaker may be full.
    const destinationFull =
      next.cluster !== attempt.choice.cluster && this.guard.breaker(next.cluster).full();
    const verdict = decideRetry(
      this.policy.retries,
      this.guard.budget,
      {
        method: this.request.method,
        grpc: this.request.grpc,
        replayable:
          this.request.body === null ||
          Buffer.isBuffer(this.request.body) ||
          this.bodyBytes !== null ||
          (this.kept?.replayable ?? false),
      },
      result,
      this.retries,
      destinationFull,
    );
    if (!verdict.retry) {
      if (verdict.refusedBy === 'retry-budget')
        this.guard.events?.refusedBy('retry-budget', this.route.service, attempt.choice.cluster);
      else if (verdict.refusedBy === 'circuit-breaker')
        this.guard.events?.refusedBy('circuit-breaker', this.route.service, next.cluster);
      return false;
    }
    if (this.kept) {
      const body = this.kept.replay();
      if (!body) return false;
      this.retryBody = body;
    }
    // The upstream's load, not its health, must not count towards ejecting it.
    if (upstreamAtFault) attempt.report(result, err);
    attempt.retire();
    this.retries++;
    this.guard.events?.retry(this.route.service, verdict.condition);
    this.send(next);
    return true;
  }

  private armRequestTimer(requestMs: number): void {
    if (requestMs > 0) this.armTimer(requestMs, () => this.requestTimedOut(requestMs));
  }

  private armTimer(ms: number, fire: () => void): void {
    if (this.settled) return;
    this.timer = setTimeout(fire, ms);
    this.timer.unref();
  }

  /** UploadWatcher: the request body ended, so the request timeout and the try's per-try timeout start. */
  bodyEnded(): void {
    this.upload = undefined;
    const { requestMs, perTryMs } = this.policy.timeouts;
    this.armRequestTimer(requestMs);
    if (perTryMs > 0) this.current?.arm(perTryMs);
  }

  /** UploadWatcher: the request body stopped moving, or no try began to read it, within the timeout. */
  uploadStalled(unread: boolean, ms: number): void {
    this.upload = undefined;
    const service = this.route.service;
    this.timeOut(
      unread
        ? `no connection to service ${service} began to take the request body within ${ms} ms`
        : `the request body to service ${service} moved no byte for ${ms} ms (the caller stopped sending or the upstream stopped reading)`,
    );
  }

  private requestTimedOut(requestMs: number): void {
    const current = this.current;
    if (this.queuedFor === undefined && current?.exchange?.queued) {
      // Never sent: the upstream is busy, not failing, and must not be ejected for it.
      this.timeOut(
        `no connection to ${current.choice.via} (service ${this.route.service}) came free within ${requestMs} ms (request timeout): every connection the gateway may open to it is busy`,
        'OVERLOADED',
      );
      return;
    }
    this.timeOut(
      `no response from service ${this.route.service} within ${requestMs} ms (request timeout${this.retries > 0 ? `, ${this.retries} retries` : ''})`,
    );
  }

  private deadlinePassed(deadlineMs: number): void {
    this.timeOut(
      `the call's deadline (grpc-timeout, ${deadlineMs} ms) passed before service ${this.route.service} answered`,
      'DEADLINE_EXCEEDED',
    );
  }

  get idleMs(): number {
    return this.policy.timeouts.idleMs;
  }

  /** The answer's head reached the caller and its body follows: watch its progress (idle timeout). */
  answerBegan(attempt: Attempt): void {
    if (this.idleMs === 0) return;
    const body = attempt.body;
    if (body !== null && !Buffer.isBuffer(body) && !body.readableEnded && body.readableFlowing !== null) {
      (body as CountedBody)[kCounted] = this;
      body.on('data', countBodyChunk);
      this.countingBody = body;
    }
    this.watchingIdle = true;
    this.context.idleStreams.watch(this);
  }

  /** Exchange: the caller's answer is over; a body it may still be sending goes nowhere. */
  answered(): void {
    this.kept?.drop();
  }

  /** The answer ended, failed, or its caller left. */
  answerOver(): void {
    if (!this.watchingIdle) return;
    this.watchingIdle = false;
    this.context.idleStreams.unwatch(this);
    const body = this.countingBody;
    if (body) {
      this.countingBody = undefined;
      body.off('data', countBodyChunk);
    }
  }

  /** IdleWatched: nothing moved for the idle timeout. */
  idleTimedOut(): void {
    this.answerOver();
    const service = this.route.service;
    const stalled = this.waitingForCaller
      ? 'the caller stopped reading it'
      : `neither service ${service} nor the caller sent anything`;
    this.current?.abandon();
    this.sink.fail(
      new GatewayError(
        'STREAM_IDLE',
        `the answer from service ${service} moved no byte for ${this.idleMs} ms (idle timeout): ${stalled}`,
      ),
    );
  }

  private timeOut(
    message: string,
    code: 'UPSTREAM_TIMEOUT' | 'DEADLINE_EXCEEDED' | 'OVERLOADED' = 'UPSTREAM_TIMEOUT',
  ): void {
    if (this.settled) return;
    this.settle();
    this.current?.abandon();
    this.sink.fail(new GatewayError(code, message));
  }

  get downstream(): DownstreamSink {
    return this.sink;
  }

  get onOutcome(): OutcomeListener | undefined {
    return this.context.onOutcome;
  }
}

const kCounted = Symbol('weft.guarded.counted');
type CountedBody = Readable & { [kCounted]?: GuardedRequest };

/** A chunk of a request body moved while its answer streams (a 'data' listener: no closure per request). */
function countBodyChunk(this: CountedBody): void {
  const guarded = this[kCounted];
  if (guarded) guarded.moved++;
}

/** One try: forwards to the downstream sink while it is the current try, else swallows. */
class Attempt implements ResponseSink {
  readonly choice: Choice;
  exchange: Exchange | undefined;
  /** The request body this try sends (a retry's is a replay of the caller's). */
  body: ProxyRequest['body'] = null;
  private readonly owner: GuardedRequest;
  /** Holds this try's slot until the try finishes. */
  private readonly breaker: CircuitBreaker;
  private readonly startedAtMs = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private active = true;
  private headSent = false;
  private released = false;

  constructor(owner: GuardedRequest, choice: Choice, breaker: CircuitBreaker) {
    this.owner = owner;
    this.choice = choice;
    this.breaker = breaker;
  }

  /** Starts the per-try timeout; a try already over (dropped for a retry still waiting) gets none. */
  arm(perTryMs: number): void {
    if (!this.active) return;
    this.timer = setTimeout(() => this.timedOut(perTryMs), perTryMs);
    this.timer.unref();
  }

  interim(status: number, headers: HeaderMap): void {
    if (this.active && !this.headSent) this.owner.downstream.interim(status, headers);
  }

  head(status: number, headers: HeaderMap, endStream: boolean): void {
    if (!this.active) return;
    // A gRPC server's failure arrives as HTTP 200 with the status in a trailers-only head.
    const grpcFailure = endStream && this.owner.downstream.grpc && isGrpcServerFailure(headers);
    if ((status >= 500 || grpcFailure) && !this.owner.settled) {
      const grpcStatus = endStream ? Number(headers['grpc-status']) : Number.NaN;
      const result: AttemptResult = {
        kind: 'upstream-origin',
        status,
        ...(Number.isNaN(grpcStatus) ? {} : { grpcStatus }),
        requestSent: true,
        responseStarted: false,
      };
      const err = new GatewayError(
        'UPSTREAM_RESET',
        `upstream answered ${Number.isNaN(grpcStatus) ? status : `grpc-status ${grpcStatus}`}`,
      );
      if (this.tryElsewhere(result, err)) return;
    }
    this.headSent = true;
    this.owner.settle();
    // A complete answer frees its slot before the caller hears it: answering can start the caller's next
    // pipelined request, which must not find this slot still taken.
    if (endStream) this.finish();
    else clearTimeout(this.timer);
    this.owner.downstream.head(status, headers, endStream);
    if (!endStream && this.active) this.owner.answerBegan(this);
  }

  data(chunk: Buffer): boolean {
    if (!this.active) return true;
    const owner = this.owner;
    owner.moved++;
    const more = owner.downstream.data(chunk);
    if (!more) owner.waitingForCaller = true;
    return more;
  }

  onDrain(resume: () => void): void {
    const owner = this.owner;
    owner.downstream.onDrain(() => {
      owner.waitingForCaller = false;
      resume();
    });
  }

  end(trailers: HeaderMap | null): void {
    if (!this.active) return;
    this.finish();
    this.owner.answerOver();
    this.owner.downstream.end(trailers);
  }

  fail(err: GatewayError): void {
    if (!this.active) return;
    if (!this.headSent) {
      const result: AttemptResult = {
        kind: isLocalOriginFailure(err.code) ? 'local-origin' : 'upstream-origin',
        code: err.code,
        status: 0,
        requestSent: !neverSent(err.code),
        responseStarted: false,
      };
      if (this.tryElsewhere(result, err)) return;
    }
    this.finish();
    this.owner.settle();
    this.owner.answerOver();
    this.owner.downstream.fail(err);
  }

  /** Drops this try (retry, timeout or the caller left): cancel the upstream, free the slot. */
  abandon(): void {
    if (!this.active) return;
    this.finish();
    this.exchange?.cancel();
  }

  /** Reports an abandoned try to the outcome listener (the sink reports only the last one). */
  report(result: AttemptResult, err: GatewayError): void {
    const listener = this.owner.onOutcome;
    if (!listener) return;
    const choice = this.choice;
    listener({
      service: choice.service,
      cluster: choice.cluster,
      ...(choice.remote ? { gateway: choice.via } : { endpoint: choice.via }),
      status: result.status,
      kind: result.kind,
      ...(result.kind === 'local-origin' ? { code: err.code } : {}),
      durationMs: performance.now() - this.startedAtMs,
    });
  }

  /**
   * Another try follows this failed one: cancel the upstream and free the circuit-breaker slot first, so
   * the retry is not refused (or queued) behind the very try it replaces.
   */
  retire(): void {
    this.finish();
    this.exchange?.cancel();
  }

  private tryElsewhere(result: AttemptResult, err: GatewayError): boolean {
    this.active = false;
    if (this.owner.failed(this, result, err)) return true;
    this.active = true;
    return false;
  }

  private timedOut(perTryMs: number): void {
    if (!this.active || this.headSent) return;
    const exchange = this.exchange;
    // Still waiting for a connection: never sent, and the upstream is busy, not failing.
    const queued = exchange?.queued === true;
    const err = queued
      ? new GatewayError(
          'OVERLOADED',
          `no connection to ${this.choice.via} came free within ${perTryMs} ms (per-try timeout): every connection the gateway may open to it is busy`,
        )
      : new GatewayError(
          'UPSTREAM_TIMEOUT',
          `no response head from ${this.choice.via} within ${perTryMs} ms (per-try timeout)`,
        );
    const result: AttemptResult = {
      kind: 'local-origin',
      code: err.code,
      status: 0,
      requestSent: !queued,
      responseStarted: false,
    };
    if (this.tryElsewhere(result, err)) return;
    this.finish();
    exchange?.cancel();
    this.owner.settle();
    this.owner.downstream.fail(err);
  }

  private finish(): void {
    this.active = false;
    clearTimeout(this.timer);
    if (!this.released) {
      this.released = true;
      this.breaker.release();
    }
  }
}

// Keep-alive HTTP/1.1 connections to one destination (a local endpoint over TCP, or a peer gateway
// over lanes): idle connections are reused newest first
// (so the oldest age out), new ones are opened up to `maxConnections`, and requests beyond that wait
// in a bounded FIFO queue. Idle connections are closed after `idleTimeoutMs`, shorter than the common
// server keep-alive timeouts (Node: 5 s) so the pool rarely reuses a connection the server is closing;
// when that race is lost anyway, a bodyless request is replayed once on a fresh connection.
import { GatewayError } from '../errors.js';
import type { ByteStream, Exchange, ProxyRequest, ResponseSink } from './exchange.js';
import { H1Connection, H1Exchange, type H1ConnectionOwner } from './h1-connection.js';

export interface H1PoolOptions {
  readonly describe: string;
  /** Opens one connection's byte stream (see H1ConnectionOwner.dial). */
  readonly dial: (connection: H1Connection) => ByteStream | GatewayError;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxQueued: number;
  readonly classifyError?: (connection: H1Connection, err: Error) => GatewayError | undefined;
  /**
   * Whether an idle connection may still carry requests (default: always). A lane whose HTTP/2
   * connection the peer is draining (GOAWAY) may not: the peer ends idle lanes soon, and a request sent
   * on one as it ends would be lost.
   */
  readonly reusable?: (connection: H1Connection) => boolean;
}

export class H1Pool implements H1ConnectionOwner {
  readonly describe: string;
  readonly connectTimeoutMs: number;
  private readonly options: H1PoolOptions;
  private readonly idle: H1Connection[] = [];
  private readonly all = new Set<H1Connection>();
  private readonly queue: H1Exchange[] = [];
  private closed = false;
  private readonly cancelQueued = (exchange: H1Exchange): void => {
    const at = this.queue.indexOf(exchange);
    if (at >= 0) this.queue.splice(at, 1);
    exchange.queued = false;
  };

  constructor(options: H1PoolOptions) {
    this.options = options;
    this.describe = options.describe;
    this.connectTimeoutMs = options.connectTimeoutMs;
  }

  dial(connection: H1Connection): ByteStream | GatewayError {
    return this.options.dial(connection);
  }

  classifyError(connection: H1Connection, err: Error): GatewayError | undefined {
    return this.options.classifyError?.(connection, err);
  }

  /** Sends a request; the response (or failure) goes to `sink`. */
  dispatch(request: ProxyRequest, sink: ResponseSink): Exchange {
    const exchange = new H1Exchange(request, sink, this.cancelQueued);
    this.place(exchange, false);
    return exchange;
  }

  /** Whether a request dispatched now would start at once, not wait in the queue for a connection. */
  get hasRoom(): boolean {
    if (this.all.size < this.options.maxConnections) return true;
    const reusable = this.options.reusable;
    return reusable ? this.idle.some(reusable) : this.idle.length > 0;
  }

  get stats(): { open: number; idle: number; queued: number } {
    return { open: this.all.size, idle: this.idle.length, queued: this.queue.length };
  }

  /**
   * Closes idle connections older than the idle timeout, and those that may not be reused; called by
   * the pool set's sweeper.
   */
  sweep(nowMs: number): void {
    const limit = nowMs - this.options.idleTimeoutMs;
    while (this.idle.length > 0 && (this.idle[0] as H1Connection).idleSinceMs <= limit) {
      (this.idle.shift() as H1Connection).abort();
    }
    const reusable = this.options.reusable;
    if (!reusable) return;
    for (const connection of this.idle.filter((c) => !reusable(c))) connection.abort();
  }

  /** True when nothing is open or waiting (the pool can be dropped). */
  get empty(): boolean {
    return this.all.size === 0 && this.queue.length === 0;
  }

  /** Drops idle connections; busy ones finish their exchange and then close. */
  close(): void {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.abort();
    for (const exchange of this.queue.splice(0)) {
      exchange.queued = false;
      exchange.sink.fail(new GatewayError('UPSTREAM_CONNECT', `upstream pool ${this.address} closed`));
    }
  }

  /** Drops every connection now. */
  destroy(): void {
    this.close();
    for (const connection of this.all) connection.abort();
  }

  released(connection: H1Connection): void {
    const next = this.dequeue();
    if (next) {
      connection.run(next);
      return;
    }
    if (this.closed) connection.abort();
    else this.idle.push(connection);
  }

  removed(connection: H1Connection): void {
    this.all.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    const next = this.dequeue();
    if (next) this.place(next, true);
  }

  private dequeue(): H1Exchange | undefined {
    const next = this.queue.shift();
    if (next) next.queued = false;
    return next;
  }

  connectFailed(_connection: H1Connection, exchange: H1Exchange, err: GatewayError): void {
    if (!exchange.cancelled) exchange.sink.fail(err);
  }

  replay(exchange: H1Exchange): void {
    this.place(exchange, true);
  }

  private place(exchange: H1Exchange, fresh: boolean): void {
    if (this.closed) {
      exchange.sink.fail(new GatewayError('UPSTREAM_CONNECT', `upstream pool ${this.address} is closed`));
      return;
    }
    if (!fresh) {
      const connection = this.reusableIdle();
      if (connection) {
        connection.run(exchange);
        return;
      }
    }
    if (this.all.size < this.options.maxConnections) {
      this.all.add(new H1Connection(this, exchange));
      return;
    }
    if (this.queue.length >= this.options.maxQueued) {
      exchange.sink.fail(
        new GatewayError(
          'OVERLOADED',
          `upstream ${this.address}: ${this.all.size} connections busy and ${this.queue.length} requests waiting`,
        ),
      );
      return;
    }
    exchange.queued = true;
    this.queue.push(exchange);
  }

  private get address(): string {
    return this.describe;
  }

  /** The newest idle connection that may be reused; those that may not are closed on the way. */
  private reusableIdle(): H1Connection | undefined {
    const reusable = this.options.reusable;
    for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
      if (!reusable || reusable(connection)) return connection;
      connection.abort();
    }
    return undefined;
  }
}

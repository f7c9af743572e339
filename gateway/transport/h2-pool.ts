// A few long-lived multiplexed HTTP/2 connections to one destination (a peer gateway, or a local h2c
// endpoint). Requests go to the ready connection with the fewest open streams; another connection is
// opened only when every one is at the peer's stream limit (up to maxConnections; past it, while every
// connection stays full, up to overflowConnections more, an idle one retired once another has room,
// then a prompt OVERLOADED: a stream nghttp2 queued locally would wait unsent, for good behind long-lived
// calls — watches, event streams — that hold every stream the peer allows). PINGs take any ready
// connection: they need no stream. A failed connect
// starts an exponential backoff during which requests fail fast with the last error instead of piling
// up on a dead address. Keep-alive pings measure RTT and detect a frozen peer: while a ping is
// unanswered past pingTimeoutMs the pool reports itself unavailable (pickers route around it) and
// after deadAfterMs the connections are dropped.
import type { SecureClientSessionOptions } from 'node:http2';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { H2Connection, type H2ConnectionEvents } from './h2-connection.js';

export interface H2PoolOptions {
  /** `https://host:port` or `http://host:port`. */
  readonly authority: string;
  readonly describe: string;
  /** TLS options for the next connection (read per connect, so reloaded material applies to new ones only). */
  readonly tls?: () => SecureClientSessionOptions;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** Connections opened past maxConnections while every one is at the peer's stream limit. */
  readonly overflowConnections: number;
  readonly backoff: BackoffPolicy;
  readonly pingTimeoutMs: number;
  readonly deadAfterMs: number;
  readonly classifyConnectError?: (err: Error) => GatewayError | undefined;
  /** The destination's stream limit per connection assumed until its SETTINGS arrive (H2ConnectionOptions). */
  readonly assumedMaxStreams?: number;
  /** Connection count changes (for metrics). */
  readonly onConnectionsChanged?: () => void;
  readonly now?: () => number;
}

export interface H2PoolState {
  readonly connections: number;
  readonly connected: number;
  readonly streams: number;
  readonly rttMs?: number;
  readonly available: boolean;
  readonly lastError?: string;
  readonly backoffMs?: number;
}

type ReadyWaiter = (connection: H2Connection | GatewayError) => void;

export class H2Pool implements H2ConnectionEvents {
  readonly describe: string;
  private readonly options: H2PoolOptions;
  private readonly connections: H2Connection[] = [];
  private readonly now: () => number;
  private failures = 0;
  private backoffUntilMs = 0;
  private lastError: GatewayError | undefined;
  private waiters: ReadyWaiter[] = [];
  private unresponsive = false;
  private closed = false;

  constructor(options: H2PoolOptions) {
    this.options = options;
    this.describe = options.describe;
    this.now = options.now ?? Date.now;
  }

  /**
   * True unless the destination is known bad right now: in connect backoff, or not answering pings.
   * A field read: pickers call it per request.
   */
  get available(): boolean {
    return !this.closed && !this.unresponsive && (this.backoffUntilMs === 0 || this.hasReady());
  }

  /**
   * A connection to open a stream on: ready with room, or still connecting (Node queues streams
   * until the session is up). A GatewayError while in backoff or after close.
   */
  acquire(): H2Connection | GatewayError {
    if (this.closed) return closedError(this.describe);
    let best: H2Connection | undefined;
    for (const connection of this.connections) {
      if (connection.hasCapacity && (!best || connection.activeStreams < best.activeStreams))
        best = connection;
    }
    if (best) return best;
    // A connection still connecting takes no more streams than the peer allows per connection, as its
    // SETTINGS told a ready one (until then, Node's assumption), or the peer refuses the excess once up.
    let limit = 0;
    for (const connection of this.connections)
      if (connection.state === 'ready') limit = connection.maxStreams;
    for (const connection of this.connections) {
      if (
        connection.state === 'connecting' &&
        !connection.retired &&
        connection.activeStreams < (limit || connection.maxStreams)
      )
        return connection;
    }
    return this.open();
  }

  /** Like acquire, but waits for remote SETTINGS (extended CONNECT needs them). */
  acquireReady(callback: ReadyWaiter): void {
    const connection = this.acquire();
    if (connection instanceof GatewayError || connection.state === 'ready') callback(connection);
    else this.waiters.push(callback);
  }

  /**
   * A connection for a keep-alive or health PING: any ready one, the oldest first, whatever its streams (a
   * PING takes no stream slot: a peer at its stream limit still answers); else as acquireReady.
   */
  acquireForPing(callback: ReadyWaiter): void {
    for (const connection of this.connections) {
      if (connection.state === 'ready' && !connection.session.destroyed) {
        callback(connection);
        return;
      }
    }
    this.acquireReady(callback);
  }

  /** Keep-alive tick: ping ready connections, judge the outstanding ones. */
  tick(): void {
    const nowMs = this.now();
    let late = false;
    for (const connection of this.connections) {
      if (connection.state !== 'ready') continue;
      const sent = connection.pingSentAtMs;
      if (sent === 0) {
        connection.ping(nowMs);
        continue;
      }
      const waited = nowMs - sent;
      if (waited >= this.options.deadAfterMs) {
        connection.destroy(
          new GatewayError(
            'UPSTREAM_TIMEOUT',
            `${this.describe}: no answer to keep-alive ping for ${waited} ms`,
          ),
        );
      } else if (waited >= this.options.pingTimeoutMs) {
        late = true;
      }
    }
    this.unresponsive = late && !this.connections.some((c) => c.state === 'ready' && c.pingSentAtMs === 0);
  }

  state(): H2PoolState {
    let connected = 0;
    let streams = 0;
    let rttMs: number | undefined;
    for (const connection of this.connections) {
      if (connection.state === 'ready') connected++;
      streams += connection.activeStreams;
      if (connection.rttMs !== undefined) rttMs = connection.rttMs;
    }
    const nowMs = this.now();
    return {
      connections: this.connections.length,
      connected,
      streams,
      ...(rttMs === undefined ? {} : { rttMs }),
      available: this.available,
      ...(this.lastError ? { lastError: this.lastError.message } : {}),
      ...(this.backoffUntilMs > nowMs ? { backoffMs: this.backoffUntilMs - nowMs } : {}),
    };
  }

  get openStreams(): number {
    let streams = 0;
    for (const connection of this.connections) streams += connection.activeStreams;
    return streams;
  }

  get connectedCount(): number {
    let n = 0;
    for (const connection of this.connections) if (connection.state === 'ready') n++;
    return n;
  }

  get connectingCount(): number {
    let n = 0;
    for (const connection of this.connections) if (connection.state === 'connecting') n++;
    return n;
  }

  /** GOAWAY on every connection; open streams finish. Resolves when all are closed. */
  close(): void {
    this.closed = true;
    this.flushWaiters(new GatewayError('UPSTREAM_CONNECT', `${this.describe}: connection pool closed`));
    for (const connection of this.connections) connection.close();
  }

  /**
   * Retires every connection (their open streams finish); new streams get new connections. With `keep`,
   * a connected one whose socket it refuses is destroyed instead, with `refusal`; returns how many were.
   */
  recycle(keep?: (socket: Duplex) => boolean, refusal?: GatewayError): number {
    let destroyed = 0;
    for (const connection of [...this.connections]) {
      const socket = connection.connectedSocket;
      if (keep && socket && !keep(socket)) {
        connection.destroy(refusal);
        destroyed++;
      } else {
        connection.retire();
      }
    }
    return destroyed;
  }

  /**
   * Destroys every connection now (the peer stopped answering). New ones wait out a backoff, as after a
   * failed connect: a lane replaying its request on a fresh connection would otherwise dial the frozen
   * peer again and wait out a connect timeout before the request is retried elsewhere.
   */
  dropConnections(err: GatewayError): void {
    this.connectFailed(err);
    for (const connection of [...this.connections]) connection.destroy(err);
  }

  destroy(): void {
    this.close();
    for (const connection of [...this.connections]) connection.destroy();
  }

  get idle(): boolean {
    return this.connections.length === 0;
  }

  // H2ConnectionEvents -------------------------------------------------------------------------

  onReady(connection: H2Connection): void {
    this.failures = 0;
    this.backoffUntilMs = 0;
    this.lastError = undefined;
    this.options.onConnectionsChanged?.();
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter(connection);
  }

  onClosed(connection: H2Connection, err: GatewayError | undefined): void {
    const at = this.connections.indexOf(connection);
    if (at >= 0) this.connections.splice(at, 1);
    if (err) {
      if (connection.everReady) this.lastError = err;
      else this.connectFailed(err);
    }
    this.options.onConnectionsChanged?.();
    if (this.waiters.length > 0) {
      const next = this.acquire();
      if (next instanceof GatewayError || next.state !== 'connecting') {
        this.flushWaiters(next instanceof H2Connection ? next : (err ?? this.lastError ?? next));
      }
    }
  }

  onStreamClosed(connection: H2Connection): void {
    if (connection.state === 'draining' && connection.activeStreams === 0) connection.destroy();
    // A field read first: this runs as every stream closes, and the pool is past maxConnections rarely.
    else if (
      this.connections.length > this.options.maxConnections &&
      this.openCount() > this.options.maxConnections
    )
      this.retireIdleSurplus();
  }

  // ------------------------------------------------------------------------------------------

  private open(): H2Connection | GatewayError {
    if (this.closed) return closedError(this.describe);
    if (this.backoffUntilMs > this.now() && this.lastError) return this.lastError;
    const open = this.openCount();
    if (open >= this.options.maxConnections + this.options.overflowConnections) {
      return new GatewayError(
        'OVERLOADED',
        `${this.describe}: all ${open} connections are at the stream limit the peer set; try again when calls end`,
      );
    }
    let connection: H2Connection;
    try {
      connection = new H2Connection(
        {
          authority: this.options.authority,
          ...(this.options.tls ? { tls: this.options.tls() } : {}),
          connectTimeoutMs: this.options.connectTimeoutMs,
          describe: this.describe,
          ...(this.options.classifyConnectError
            ? { classifyConnectError: this.options.classifyConnectError }
            : {}),
          ...(this.options.assumedMaxStreams ? { assumedMaxStreams: this.options.assumedMaxStreams } : {}),
        },
        this,
      );
    } catch (err) {
      // http2.connect throws at once for an authority a URL cannot hold; addresses are checked when
      // parsed, so this is the last line: an answer and a backoff, not a crash of the request's handler.
      const error = new GatewayError('UPSTREAM_CONNECT', `${this.describe}: ${(err as Error).message}`, {
        cause: err,
      });
      this.connectFailed(error);
      return error;
    }
    this.connections.push(connection);
    this.options.onConnectionsChanged?.();
    return connection;
  }

  /** A connection that never came up: remember why, and back off before the next attempt. */
  private connectFailed(err: GatewayError): void {
    this.lastError = err;
    this.failures++;
    this.backoffUntilMs = this.now() + backoffDelayMs(this.failures, this.options.backoff);
  }

  /**
   * Past maxConnections, the newest idle connection retires once another connection has room for new
   * streams. Not while it is the only one with room (the others full of long calls): every call would
   * then dial a connection of its own.
   */
  private retireIdleSurplus(): void {
    let idle: H2Connection | undefined;
    for (const connection of this.connections) {
      if (connection.state === 'ready' && connection.activeStreams === 0) idle = connection;
    }
    if (!idle) return;
    for (const connection of this.connections) {
      if (connection !== idle && connection.hasCapacity) {
        idle.retire();
        return;
      }
    }
  }

  /**
   * Connections that take new streams. A draining one (GOAWAY, or its stream budget spent) takes none and
   * closes after its last: not counted, or long streams on connections an endpoint retires (grpc-go's
   * MaxConnectionAge) would leave no room for new ones.
   */
  private openCount(): number {
    let open = 0;
    for (const connection of this.connections) if (!connection.retired) open++;
    return open;
  }

  private hasReady(): boolean {
    for (const connection of this.connections) if (connection.state === 'ready') return true;
    return false;
  }

  private flushWaiters(result: H2Connection | GatewayError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter(result);
  }
}

function closedError(describe: string): GatewayError {
  return new GatewayError('UPSTREAM_CONNECT', `${describe}: connection pool closed`);
}

// Probes of peer gateways over the existing peer connection (an HTTP/2 PING through a `ping` function the
// transport provides), with interval, timeout and rise/fall, and the measured RTT per gateway. Probes are
// sent every interval whether or not earlier ones were answered (up to a cap), so a frozen peer collects
// one failure per interval once its first unanswered probe times out: with the defaults (every 250 ms,
// 1 s timeout, fall 2) a SIGSTOPped or dead gateway is unhealthy within 1.5 s, and not `responsive` (the
// soft signal: its last probe failed) within 1.25 s. Results apply in the order probes were sent, so a
// late answer never overrides newer news. Lifecycle: construct → start → setPeers as the fabric changes
// → close. Timers are unref()'d.
import type { ProbeConfig } from '../config/index.js';
import type { HealthLogger } from './local-health-checker.js';
import { RiseFall, type HealthStatus } from './rise-fall.js';

export interface PeerRef {
  /** Stable key of one gateway (e.g. the transport's `cluster/id@address`). */
  readonly key: string;
  readonly cluster: string;
}

/** Resolves the round-trip time in ms; rejects when the peer cannot be pinged. Should honour `signal`. */
export type PeerPing = (peer: PeerRef, signal: AbortSignal) => Promise<number>;

export interface PeerHealthProberOptions extends ProbeConfig {
  readonly ping: PeerPing;
  readonly logger?: HealthLogger;
  /** Epoch ms, for timestamps. */
  readonly now?: () => number;
}

export interface PeerHealth {
  readonly key: string;
  readonly cluster: string;
  readonly status: HealthStatus;
  /** Whether to fail traffic over from it (rise/fall applied). */
  readonly healthy: boolean;
  /** Its last probe succeeded (or none failed yet): the fast signal for picking gateways. */
  readonly responsive: boolean;
  /** Smoothed round-trip time (EWMA). */
  readonly rttMs?: number;
  readonly lastRttMs?: number;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  /** Probes sent and not answered yet. */
  readonly outstanding: number;
  readonly probes: number;
  readonly lastError?: string;
  readonly changedAt?: number;
}

export interface PeerHealthChange {
  readonly key: string;
  readonly cluster: string;
  readonly healthy: boolean;
  readonly reason: string;
  /**
   * Down because the peer refuses new connections: it is draining (or its process is gone, and then
   * its connections are gone too). What it still carries is left to finish; a peer that stops
   * answering (frozen, unreachable) is not refused.
   */
  readonly refused: boolean;
}

const RTT_SMOOTHING = 0.3;

class Peer {
  readonly ref: PeerRef;
  readonly state: RiseFall;
  rttMs: number | undefined;
  lastRttMs: number | undefined;
  lastError: string | undefined;
  /** What the probe that took it down failed with (later ones may fail with its dropped connection). */
  downError: string | undefined;
  /** The last failed probe was a refused connection. */
  lastRefused = false;
  changedAt: number | undefined;
  probes = 0;
  nextSeq = 0;
  appliedSeq = -1;
  readonly inFlight = new Set<AbortController>();
  removed = false;

  constructor(ref: PeerRef, rise: number, fall: number) {
    this.ref = ref;
    this.state = new RiseFall(rise, fall);
  }
}

export class PeerHealthProber {
  private readonly options: PeerHealthProberOptions;
  private readonly now: () => number;
  private readonly peers = new Map<string, Peer>();
  private readonly listeners = new Set<(change: PeerHealthChange) => void>();
  /** Unanswered probes allowed per peer: enough to keep one failure per interval during a timeout. */
  private readonly maxOutstanding: number;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;

  constructor(options: PeerHealthProberOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.maxOutstanding = Math.ceil(options.timeoutMs / options.intervalMs) + 1;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
    for (const peer of this.peers.values()) this.probe(peer);
  }

  /** Stops probing; probes in flight are aborted. Idempotent. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const peer of this.peers.values()) this.drop(peer);
    this.peers.clear();
    this.listeners.clear();
  }

  /** The gateways to probe (e.g. every gateway of every remote cluster in the fabric snapshot). */
  setPeers(peers: Iterable<PeerRef>): void {
    if (this.closed) return;
    const wanted = new Map<string, PeerRef>();
    for (const ref of peers) wanted.set(ref.key, ref);
    for (const [key, peer] of this.peers) {
      if (wanted.has(key)) continue;
      this.drop(peer);
      this.peers.delete(key);
    }
    for (const [key, ref] of wanted) {
      if (this.peers.has(key)) continue;
      const peer = new Peer(ref, this.options.rise, this.options.fall);
      this.peers.set(key, peer);
      if (this.started) this.probe(peer);
    }
  }

  /** Unknown peers are healthy (nothing says otherwise). */
  isHealthy(key: string): boolean {
    return this.peers.get(key)?.state.healthy ?? true;
  }

  /**
   * Whether to send a peer gateway new requests now: its last probe answered (one failure is enough to
   * route around it) and rise/fall calls it healthy (one coming back takes traffic once `rise` probes in a
   * row answered, not at the first: a flapping replica would lose the requests sent in each flap). A
   * field read per request; unknown peers are usable.
   */
  isUsable(key: string): boolean {
    const state = this.peers.get(key)?.state;
    return state === undefined || (state.failures === 0 && state.healthy);
  }

  rttMs(key: string): number | undefined {
    return this.peers.get(key)?.rttMs;
  }

  /** The best smoothed RTT among the cluster's healthy gateways. */
  clusterRttMs(cluster: string): number | undefined {
    let best: number | undefined;
    for (const peer of this.peers.values()) {
      if (peer.ref.cluster !== cluster || !peer.state.healthy || peer.rttMs === undefined) continue;
      if (best === undefined || peer.rttMs < best) best = peer.rttMs;
    }
    return best;
  }

  /**
   * Why the cluster's gateways are down, for a reason a person reads: what the probe that took one of
   * them down failed with (a failed connection's error names the gateway). Undefined while none is down.
   */
  clusterProbeError(cluster: string): string | undefined {
    for (const peer of this.peers.values()) {
      if (peer.ref.cluster === cluster && !peer.state.healthy && peer.downError !== undefined)
        return peer.downError;
    }
    return undefined;
  }

  /** Called synchronously when a gateway's healthy answer flips. Returns an unsubscribe function. */
  subscribe(listener: (change: PeerHealthChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  state(): PeerHealth[] {
    return [...this.peers.values()].map((p) => ({
      key: p.ref.key,
      cluster: p.ref.cluster,
      status: p.state.status,
      healthy: p.state.healthy,
      responsive: p.state.failures === 0,
      ...(p.rttMs === undefined ? {} : { rttMs: Math.round(p.rttMs * 100) / 100 }),
      ...(p.lastRttMs === undefined ? {} : { lastRttMs: Math.round(p.lastRttMs * 100) / 100 }),
      consecutiveSuccesses: p.state.successes,
      consecutiveFailures: p.state.failures,
      outstanding: p.inFlight.size,
      probes: p.probes,
      ...(p.lastError === undefined ? {} : { lastError: p.lastError }),
      ...(p.changedAt === undefined ? {} : { changedAt: p.changedAt }),
    }));
  }

  private tick(): void {
    for (const peer of this.peers.values()) this.probe(peer);
  }

  private probe(peer: Peer): void {
    const seq = peer.nextSeq++;
    peer.probes++;
    if (peer.inFlight.size >= this.maxOutstanding) {
      peer.lastRefused = false;
      this.apply(peer, seq, false, `${peer.inFlight.size} probes unanswered`);
      return;
    }
    const { timeoutMs } = this.options;
    const controller = new AbortController();
    peer.inFlight.add(controller);
    let decided = false;
    const timedOut = () => {
      if (decided) return;
      decided = true;
      peer.lastRefused = false;
      this.apply(peer, seq, false, `no answer to PING within ${timeoutMs} ms`);
      controller.abort(new Error(`no answer within ${timeoutMs} ms`));
    };
    // The verdict waits for this turn's socket reads: after a stall of the event loop, timers run before
    // I/O, and an answer that arrived in time would otherwise count as none (every peer at once).
    const timer = setTimeout(() => setImmediate(timedOut), timeoutMs);
    timer.unref();
    const settle = (ok: boolean, detail: unknown) => {
      peer.inFlight.delete(controller);
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      if (ok) this.apply(peer, seq, true, undefined, detail as number);
      else {
        peer.lastRefused = isConnectionRefused(detail);
        this.apply(peer, seq, false, detail instanceof Error ? detail.message : String(detail));
      }
    };
    let pending: Promise<number>;
    try {
      pending = this.options.ping(peer.ref, controller.signal);
    } catch (err) {
      settle(false, err);
      return;
    }
    pending.then(
      (rtt) => settle(true, rtt),
      (err: unknown) => settle(false, err),
    );
  }

  private apply(peer: Peer, seq: number, ok: boolean, error: string | undefined, rttMs?: number): void {
    if (peer.removed || seq <= peer.appliedSeq) return;
    peer.appliedSeq = seq;
    if (ok && rttMs !== undefined) {
      peer.lastRttMs = rttMs;
      peer.rttMs = peer.rttMs === undefined ? rttMs : peer.rttMs + RTT_SMOOTHING * (rttMs - peer.rttMs);
    }
    peer.lastError = error;
    const transition = peer.state.record(ok);
    if (transition !== 'down' && transition !== 'up') return;
    peer.changedAt = this.now();
    const healthy = transition === 'up';
    const why = error ?? 'no answer';
    peer.downError = healthy ? undefined : why;
    const reason = healthy
      ? `answered ${this.options.rise} probe(s) in a row`
      : `${this.options.fall} probe(s) failed in a row: ${why}`;
    const fields = { peer: peer.ref.key, cluster: peer.ref.cluster, reason };
    if (healthy) this.options.logger?.info(fields, 'peer gateway answers probes again');
    else this.options.logger?.warn(fields, 'peer gateway stopped answering probes');
    const refused = !healthy && peer.lastRefused;
    const change = { key: peer.ref.key, cluster: peer.ref.cluster, healthy, reason, refused };
    for (const listener of this.listeners) listener(change);
  }

  private drop(peer: Peer): void {
    peer.removed = true;
    for (const controller of peer.inFlight) controller.abort(new Error('peer gateway removed'));
    peer.inFlight.clear();
  }
}

/** ECONNREFUSED anywhere in the error's cause chain. */
function isConnectionRefused(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  }
  return false;
}

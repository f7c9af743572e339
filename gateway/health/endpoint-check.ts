// The active check loop of one endpoint of one service: probe, wait the (jittered) interval counted from
// the start of the previous probe, probe again. Probes never overlap: the next is scheduled only when the
// previous has finished, and each is bounded by the timeout. `stop()` cancels the probe in flight
// (AbortSignal) and the timer; a stopped check reports nothing more. Timers are unref()'d.
import type { HealthCheckConfig } from '../config/index.js';
import type { HealthProbe, ProbeTarget } from './health-probe.js';
import { RiseFall, type HealthTransition } from './rise-fall.js';

/** Intervals vary by ±10% so checks of many endpoints spread out instead of firing together. */
const CHECK_JITTER = 0.1;

export interface EndpointCheckOptions {
  readonly service: string;
  readonly target: ProbeTarget;
  readonly config: HealthCheckConfig;
  readonly probe: HealthProbe;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** Epoch ms, for the timestamps shown in the admin API. */
  readonly now: () => number;
  /**
   * The stopped check this one replaces when only timings or thresholds changed: its state carries
   * over, so a reload does not make an endpoint known to be down 'unknown' (and healthy) again.
   */
  readonly previous?: EndpointCheck;
  /** After each probe that changed the state; never re-entrant for one check. */
  readonly onTransition: (check: EndpointCheck, transition: Exclude<HealthTransition, undefined>) => void;
}

export class EndpointCheck {
  readonly service: string;
  readonly target: ProbeTarget;
  readonly config: HealthCheckConfig;
  readonly state: RiseFall;
  checks = 0;
  lastCheckAt: number | undefined;
  lastDurationMs: number | undefined;
  lastError: string | undefined;
  /** Epoch ms of the last status change. */
  changedAt: number | undefined;
  private readonly options: EndpointCheckOptions;
  private timer: NodeJS.Timeout | undefined;
  private attempt: AbortController | undefined;
  private stopped = false;

  constructor(options: EndpointCheckOptions) {
    this.options = options;
    this.service = options.service;
    this.target = options.target;
    this.config = options.config;
    this.state = new RiseFall(options.config.rise, options.config.fall, options.previous?.state);
    this.lastError = options.previous?.lastError;
    this.changedAt = options.previous?.changedAt;
  }

  /** First probe after a short random delay (at most 10% of the interval). */
  start(): void {
    this.schedule(this.options.random() * CHECK_JITTER * this.config.intervalMs);
  }

  stop(reason: string): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.attempt?.abort(new Error(reason));
  }

  /** Whether a probe is in flight now. */
  get probing(): boolean {
    return this.attempt !== undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const { intervalMs, timeoutMs } = this.config;
    const attempt = new AbortController();
    this.attempt = attempt;
    const timeout = setTimeout(() => attempt.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timeout.unref();
    const startedAt = performance.now();
    let ok: boolean;
    let reason: string | undefined;
    try {
      const result = await this.options.probe(this.target, attempt.signal);
      ok = result.healthy;
      reason = result.healthy ? undefined : result.reason;
    } catch (err) {
      ok = false;
      reason = err instanceof Error ? err.message : String(err);
    }
    clearTimeout(timeout);
    this.attempt = undefined;
    if (this.stopped) return;
    const elapsedMs = performance.now() - startedAt;
    this.checks++;
    this.lastCheckAt = this.options.now();
    this.lastDurationMs = Math.round(elapsedMs * 10) / 10;
    this.lastError = reason;
    const transition = this.state.record(ok);
    if (transition) {
      this.changedAt = this.lastCheckAt;
      this.options.onTransition(this, transition);
    }
    const jitter = 1 + CHECK_JITTER * (2 * this.options.random() - 1);
    this.schedule(intervalMs * jitter - elapsedMs);
  }
}

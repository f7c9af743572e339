// One finding of `weft check`: what was checked, how it went, what was seen and what to do next.
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable id: config, tls-files, certificate, identity, trust-anchor, redis, redis-acl, clock, peer:<cluster>/<id>, peers. */
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found, one line. */
  readonly message: string;
  /** What to do next; present for warn and fail. */
  readonly hint?: string;
  readonly durationMs: number;
}

export interface CheckReport {
  readonly ok: boolean;
  readonly config: string;
  readonly summary: Readonly<Record<CheckStatus, number>>;
  readonly checks: readonly CheckResult[];
}

/** The outcome of one check body, before timing is added. */
export type Finding = Omit<CheckResult, 'id' | 'title' | 'durationMs'>;

export const ok = (message: string): Finding => ({ status: 'ok', message });
export const warn = (message: string, hint: string): Finding => ({ status: 'warn', message, hint });
export const fail = (message: string, hint: string): Finding => ({ status: 'fail', message, hint });
export const skip = (message: string): Finding => ({ status: 'skip', message });

// One active health check of one endpoint: a function that answers healthy or not (with why), never
// rejects, and gives up promptly when its signal aborts (timeout, endpoint removed, checker closed).

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

export type ProbeResult = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

/** Resolves when the check is decided; on abort resolves unhealthy with the abort reason's message. */
export type HealthProbe = (target: ProbeTarget, signal: AbortSignal) => Promise<ProbeResult>;

export const HEALTHY: ProbeResult = Object.freeze({ healthy: true });

export function unhealthy(reason: string): ProbeResult {
  return { healthy: false, reason };
}

/** The abort reason as text ("no answer within 1000 ms", "endpoint removed"). */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : 'aborted';
}

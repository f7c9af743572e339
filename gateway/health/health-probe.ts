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

/**
 * One probe attempt as a promise: `start` begins it and returns its cleanup (close the socket, the
 * channel); `finish` settles the attempt once and runs the cleanup; an abort of `signal` finishes it
 * unhealthy with the abort reason. A signal already aborted starts nothing.
 */
export function probeAttempt(
  signal: AbortSignal,
  start: (finish: (result: ProbeResult) => void) => () => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(unhealthy(abortReason(signal)));
      return;
    }
    let settled = false;
    /** Nothing to clean up until `start` returns; a finish during `start` cleans up right after it. */
    let cleanup = (): void => {};
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      cleanup();
      resolve(result);
    };
    const onAbort = () => finish(unhealthy(abortReason(signal)));
    cleanup = start(finish);
    if (settled) cleanup();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

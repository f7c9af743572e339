// An HTTP/2 PING on an existing session as a promise of the round-trip time: the cheapest proof that the
// process at the far end is alive and its event loop turning (a SIGSTOPped or wedged gateway never acks).
import type { ClientHttp2Session } from 'node:http2';
import { abortReason } from './health-probe.js';

/** Resolves the RTT in ms; rejects when the session is gone, the ping fails, or `signal` aborts. */
export function pingHttp2Session(session: ClientHttp2Session, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error(abortReason(signal)));
      return;
    }
    if (session.destroyed || session.closed) {
      reject(new Error('HTTP/2 session closed'));
      return;
    }
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      reject(new Error(abortReason(signal)));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let sent: boolean;
    try {
      sent = session.ping((err, durationMs) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(durationMs);
      });
    } catch (err) {
      if (!settled) {
        settled = true;
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
      return;
    }
    if (!sent && !settled) {
      settled = true;
      signal.removeEventListener('abort', onAbort);
      reject(new Error('HTTP/2 PING not sent (too many outstanding)'));
    }
  });
}

// An HTTP/2 PING on an existing session as a promise of the round-trip time: the cheapest proof that the
// process at the far end is alive and its event loop turning (a SIGSTOPped or wedged gateway never acks).
// A PING whose connection goes away first says nothing either way: the peer's GOAWAY (a connection it
// retires gracefully, on a drain or a trust change) leaves it unanswered, as Node answers no PING on a
// closing session, and a connection that closes cancels it. Those reject with PingCancelled, so a caller
// can ask again on another connection instead of counting a failure.
import type { ClientHttp2Session } from 'node:http2';
import { abortReason } from './health-probe.js';

/** The PING's connection went away (GOAWAY, or closed) before its answer. */
export class PingCancelled extends Error {}

/** Node's error for a PING whose session closed before the answer. */
const NODE_PING_CANCEL = 'ERR_HTTP2_PING_CANCEL';

/**
 * Resolves the RTT in ms; rejects when the session is gone, the ping fails, or `signal` aborts, with
 * PingCancelled when the connection went away before the answer.
 */
export function pingHttp2Session(session: ClientHttp2Session, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error(abortReason(signal)));
      return;
    }
    if (session.destroyed || session.closed) {
      reject(new PingCancelled('HTTP/2 session closed'));
      return;
    }
    let settled = false;
    const settle = (err: Error | undefined, durationMs = 0) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      session.removeListener('goaway', onGoaway);
      if (err) reject(err);
      else resolve(durationMs);
    };
    const onAbort = () => settle(new Error(abortReason(signal)));
    const onGoaway = () =>
      settle(new PingCancelled('the connection is going away (GOAWAY) before the PING was answered'));
    signal.addEventListener('abort', onAbort, { once: true });
    session.once('goaway', onGoaway);
    let sent: boolean;
    try {
      sent = session.ping((err, durationMs) => {
        if (!err) settle(undefined, durationMs);
        else if ((err as { code?: unknown }).code === NODE_PING_CANCEL)
          settle(new PingCancelled('the connection closed before the PING was answered', { cause: err }));
        else settle(err);
      });
    } catch (err) {
      settle(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (!sent) settle(new Error('HTTP/2 PING not sent (too many outstanding)'));
  });
}

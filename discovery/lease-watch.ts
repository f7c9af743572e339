// The lease poll: every heartbeat interval, while the feed is trusted, read every lease with the server
// time. It renews what the model knows about live gateways (heartbeats are not in the feed), finds
// gateways whose feed entry was missed, and names the expired ones for the reaper.
import { sleep } from './backoff.js';
import { pollLeases, type LeasePoll, type ReaderContext } from './registry-reader.js';
import type { RedisClient } from './redis-client.js';

export interface LeaseWatchOptions {
  readonly intervalMs: number;
  readonly staleForMs: number;
  readonly ctx: ReaderContext;
  /** Polls only while this says the registry is connected (a full sync vouches for the model). */
  readonly active: () => boolean;
  readonly onPolled: (poll: LeasePoll) => void;
  readonly onError: (err: unknown) => void;
}

/** Runs until the signal aborts. Never rejects. */
export async function watchLeases(
  client: RedisClient,
  options: LeaseWatchOptions,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    await sleep(options.intervalMs, signal);
    if (signal.aborted || !options.active()) continue;
    try {
      const poll = await pollLeases(client, options.ctx, options.staleForMs);
      if (!signal.aborted) options.onPolled(poll);
    } catch (err) {
      if (!signal.aborted) options.onError(err);
    }
  }
}

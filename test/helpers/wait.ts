// Deadline-bounded polling for tests: wait until a condition holds, or until a probe finds a value,
// instead of sleeping a fixed time. A timeout names what was awaited, the deadline, and the last error
// the condition or probe threw (an error counts as "not yet": the next poll may succeed).
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

const POLL_MS = 25;

/**
 * A value `within` can return. `false` is left out on purpose: a probe written `() => ready && value`
 * must not resolve at once with `false`; write `ready ? value : undefined`, or use `waitFor`.
 */
type Found = object | string | number | bigint | symbol | true;

/** Resolves once `condition` returns true; rejects after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  await within(what, timeoutMs, async () => ((await condition()) ? true : undefined));
}

/**
 * Calls `probe` every 25 ms (after the previous call settles) until it returns a value other than
 * undefined and resolves with that value; rejects after `timeoutMs`. The probe runs at least once, and
 * the wait gives up only after a call that ended at or after the deadline.
 */
export async function within<T extends Found>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const reason =
        last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : inspect(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`, { cause: last });
    }
    await sleep(POLL_MS);
  }
}

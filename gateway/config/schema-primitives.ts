// The building blocks every config schema section shares: DNS labels and names, durations (→ ms) and
// host:port addresses, each with an error message that says what a valid value looks like.
import { z } from 'zod';
import { MAX_TIMER_MS, parseDurationMs } from './duration.js';
import { parseHostPort, type HostPort } from './host-port.js';

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

export const label = (what: string) =>
  z.string().regex(DNS_LABEL, `${what} must be a DNS label: lower-case letters, digits and '-', at most 63`);

export const dnsName = (what: string) => z.string().regex(DNS_NAME, `${what} must be a lower-case DNS name`);

/** A duration text ("500ms", "2s") → milliseconds, at least `minMs`. */
const durationText = (minMs = 0) =>
  z.string().transform((text, ctx) => {
    const ms = parseDurationMs(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration such as 500ms, 2s, 1m` });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is too short: at least ${minMs} ms` });
      return z.NEVER;
    }
    // Every duration here is a timer's, and a longer timer would fire at once.
    if (ms > MAX_TIMER_MS) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is too long: at most 24d (${MAX_TIMER_MS} ms)` });
      return z.NEVER;
    }
    return ms;
  });

/** A duration with a default, in milliseconds. */
export const duration = (fallback: string, minMs = 0) =>
  z.string().default(fallback).pipe(durationText(minMs));

export const optionalDuration = (minMs = 0) => durationText(minMs).optional();

export const hostPort = z.string().transform((text, ctx): HostPort => {
  const parsed = parseHostPort(text);
  if (!parsed) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not host:port (e.g. 127.0.0.1:4140 or [::1]:4140)`,
    });
    return z.NEVER;
  }
  return parsed;
});

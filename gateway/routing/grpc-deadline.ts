// A gRPC call's deadline as its caller sends it: grpc-timeout, at most 8 digits and a unit (hours,
// minutes, seconds, milliseconds, microseconds, nanoseconds; gRPC's PROTOCOL-HTTP2.md).
import { MAX_TIMER_MS } from '../config/index.js';

const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;

const MS_PER_UNIT: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/**
 * The deadline in whole milliseconds (at least 1); undefined when the field is absent or malformed, or
 * too far off for a timer (over about 24.8 days: clients write "no deadline" as 30 days and more).
 */
export function grpcDeadlineMs(value: string | string[] | undefined): number | undefined {
  const parts = typeof value === 'string' ? GRPC_TIMEOUT.exec(value) : null;
  if (!parts) return undefined;
  const ms = Math.max(1, Math.ceil(Number(parts[1]) * (MS_PER_UNIT[parts[2] as string] as number)));
  return ms <= MAX_TIMER_MS ? ms : undefined;
}

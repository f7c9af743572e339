// The options a gateway passes to Discovery, and their validation. Bad options fail the constructor
// with one DiscoveryError listing every problem; local service exports are validated the same way.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { DiscoveryError } from './errors.js';
import type { Locality, ServiceExport } from './fabric.js';
import { CLUSTER_NAME, GATEWAY_ID } from './keys.js';
import { localitySchema, serviceSchema } from './records.js';
import type { RedisConfig } from './redis-config.js';

export interface DiscoveryOptions {
  readonly redis: RedisConfig;
  readonly cluster: string;
  readonly locality: Locality;
  /** Replica id, unique within the cluster (e.g. the host or pod name). */
  readonly gatewayId: string;
  /** host:port other gateways dial. */
  readonly peerAddress: string;
  readonly version: string;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly staleForMs: number;
  readonly resyncIntervalMs: number;
  readonly snapshotFile: string;
  /** Default: silent. */
  readonly logger?: Logger;
  /** Metrics are registered here (default: a private registry nobody scrapes). */
  readonly metrics?: Registry;
  /** Injectable clock (epoch ms) for stale/evict tests. Default Date.now. */
  readonly now?: () => number;
  /** How long start() waits for the first full sync before resolving anyway. Default 5000. */
  readonly startTimeoutMs?: number;
  /** Debounce of the disk snapshot writes: at most one write per delay while the fabric changes. Default 5000. */
  readonly snapshotWriteDelayMs?: number;
  /** A Redis command without reply for this long fails (frozen Redis). Default 2000. */
  readonly commandTimeoutMs?: number;
}

const positiveMs = z.number().int().positive().max(86_400_000);

const optionsSchema = z
  .object({
    cluster: z.string().regex(CLUSTER_NAME, 'cluster must be a DNS label'),
    locality: localitySchema,
    gatewayId: z.string().regex(GATEWAY_ID, 'gatewayId: letters, digits, . _ -; at most 128'),
    peerAddress: z
      .string()
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'peerAddress must be host:port'),
    version: z.string().min(1).max(64),
    leaseTtlMs: positiveMs,
    heartbeatIntervalMs: positiveMs,
    staleForMs: z.number().int().min(0).max(86_400_000),
    resyncIntervalMs: positiveMs,
    snapshotFile: z.string().min(1, 'snapshotFile is required'),
    startTimeoutMs: positiveMs.optional(),
    snapshotWriteDelayMs: z.number().int().min(0).max(600_000).optional(),
    commandTimeoutMs: positiveMs.optional(),
  })
  .refine((o) => o.heartbeatIntervalMs < o.leaseTtlMs, {
    message: 'heartbeatIntervalMs must be shorter than leaseTtlMs',
    path: ['heartbeatIntervalMs'],
  });

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

export function validateOptions(options: DiscoveryOptions): void {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new DiscoveryError('OPTIONS_INVALID', `invalid discovery options: ${problems(parsed.error)}`);
  }
  if (!options.redis || !['standalone', 'sentinel', 'cluster'].includes(options.redis.mode)) {
    throw new DiscoveryError(
      'OPTIONS_INVALID',
      'invalid discovery options: redis.mode must be standalone, sentinel or cluster',
    );
  }
}

/**
 * Checks a whole local export set; throws RECORD_INVALID naming every bad entry. Entries `accepted`
 * says were checked before, unchanged, skip the schema (key and duplicates are still checked).
 */
export function validateServices(
  services: readonly ServiceExport[],
  accepted: (service: ServiceExport) => boolean = () => false,
): void {
  const errors: string[] = [];
  const seen = new Set<string>();
  services.forEach((service, i) => {
    const parsed = accepted(service)
      ? undefined
      : serviceSchema.safeParse({ v: 1, ...service, ports: service.ports ?? [] });
    if (parsed && !parsed.success) errors.push(`services[${i}]: ${problems(parsed.error)}`);
    if (service.key !== `${service.name}.${service.namespace}`) {
      errors.push(`services[${i}]: key must be name.namespace (${service.name}.${service.namespace})`);
    }
    if (seen.has(service.key)) errors.push(`services[${i}]: duplicate service ${service.key}`);
    seen.add(service.key);
  });
  if (errors.length > 0) {
    throw new DiscoveryError('RECORD_INVALID', `invalid local services: ${errors.join('; ')}`);
  }
}

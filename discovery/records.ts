// The records stored in Redis (and in the disk snapshot), their schemas and their canonical encoding.
// Everything read from Redis is untrusted: decode* never throws, it returns a reason the caller logs and
// counts. Encoding is canonical (fixed key order) so a writer can compare what Redis holds byte for byte.
import { z } from 'zod';
import { CLUSTER_NAME, GATEWAY_ID, KEY_LAYOUT_VERSION, parseGatewayKey } from './keys.js';
import { MAX_ALLOWED_CLUSTERS, type Locality, type Protocol, type ServiceExport } from './fabric.js';

export type SkipReason =
  | 'invalid_json'
  | 'invalid_schema'
  | 'foreign_version'
  | 'key_mismatch'
  | 'bad_key'
  | 'invalid_feed_entry'
  | 'invalid_snapshot';

export const SKIP_REASONS: readonly SkipReason[] = [
  'invalid_json',
  'invalid_schema',
  'foreign_version',
  'key_mismatch',
  'bad_key',
  'invalid_feed_entry',
  'invalid_snapshot',
];

export interface ClusterRecord {
  readonly name: string;
  readonly locality: Locality;
}

export interface GatewayRecordData {
  readonly cluster: string;
  readonly id: string;
  readonly peerAddress: string;
  readonly startedAt: number;
  readonly version: string;
}

/** A service as stored: a ServiceExport with its ports always present. */
export interface ServiceRecord {
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly protocol: Protocol;
  readonly ports: readonly number[];
  readonly allow: readonly string[] | null;
  readonly endpoints: { readonly total: number; readonly healthy: number };
}

/** A stored service with the exact text it was read as: equal text means an equal record. */
export interface StoredService {
  readonly record: ServiceRecord;
  readonly text: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?):([0-9]{1,5})$/;

const label = z.string().regex(DNS_LABEL);
const port = z.number().int().min(1).max(65535);
const count = z.number().int().min(0).max(10_000_000);

export const localitySchema = z.object({
  cloud: z.string().min(1).max(63),
  region: z.string().min(1).max(63),
  zone: z.string().min(1).max(63).optional(),
});

const clusterSchema = z.object({
  v: z.literal(KEY_LAYOUT_VERSION),
  name: z.string().regex(CLUSTER_NAME),
  locality: localitySchema,
});

const gatewaySchema = z.object({
  v: z.literal(KEY_LAYOUT_VERSION),
  cluster: z.string().regex(CLUSTER_NAME),
  id: z.string().regex(GATEWAY_ID),
  peerAddress: z
    .string()
    .regex(HOST_PORT)
    .refine((text) => Number(text.slice(text.lastIndexOf(':') + 1)) <= 65535, 'port out of range'),
  startedAt: z.number().int().min(0),
  version: z.string().min(1).max(64),
});

export const serviceSchema = z
  .object({
    v: z.literal(KEY_LAYOUT_VERSION),
    name: label,
    namespace: label,
    protocol: z.enum(['http', 'grpc', 'tcp']),
    ports: z.array(port).max(64),
    allow: z.array(z.string().regex(CLUSTER_NAME)).max(MAX_ALLOWED_CLUSTERS).nullable(),
    endpoints: z.object({ total: count, healthy: count }),
  })
  .refine((s) => s.endpoints.healthy <= s.endpoints.total, 'healthy endpoints exceed total');

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: SkipReason; detail: string };

function parseJson(text: string): Decoded<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reason: 'invalid_json', detail: (err as Error).message };
  }
}

function parseVersioned<T>(raw: unknown, schema: z.ZodType<T>): Decoded<T> {
  if (typeof raw === 'object' && raw !== null && 'v' in raw && raw.v !== KEY_LAYOUT_VERSION) {
    return { ok: false, reason: 'foreign_version', detail: `record version ${JSON.stringify(raw.v)}` };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: 'invalid_schema', detail: `${where}${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, value: parsed.data };
}

/** Decodes the text of a record; `validate*` do the same for an already parsed value. */
export function decodeCluster(field: string, text: string): Decoded<ClusterRecord> {
  const json = parseJson(text);
  return json.ok ? validateCluster(field, json.value) : json;
}

export function decodeGateway(field: string, text: string): Decoded<GatewayRecordData> {
  const json = parseJson(text);
  return json.ok ? validateGateway(field, json.value) : json;
}

export function decodeService(field: string, text: string): Decoded<ServiceRecord> {
  const json = parseJson(text);
  return json.ok ? validateService(field, json.value) : json;
}

export function validateCluster(field: string, raw: unknown): Decoded<ClusterRecord> {
  if (!CLUSTER_NAME.test(field)) return { ok: false, reason: 'bad_key', detail: 'not a cluster name' };
  const decoded = parseVersioned(raw, clusterSchema);
  if (!decoded.ok) return decoded;
  if (decoded.value.name !== field) {
    return { ok: false, reason: 'key_mismatch', detail: `record names cluster ${decoded.value.name}` };
  }
  const { name, locality } = decoded.value;
  return { ok: true, value: { name, locality: freezeLocality(locality) } };
}

export function validateGateway(field: string, raw: unknown): Decoded<GatewayRecordData> {
  const key = parseGatewayKey(field);
  if (!key) return { ok: false, reason: 'bad_key', detail: 'not <cluster>/<id>' };
  const decoded = parseVersioned(raw, gatewaySchema);
  if (!decoded.ok) return decoded;
  const { cluster, id, peerAddress, startedAt, version } = decoded.value;
  if (cluster !== key.cluster || id !== key.id) {
    return { ok: false, reason: 'key_mismatch', detail: `record names ${cluster}/${id}` };
  }
  return { ok: true, value: { cluster, id, peerAddress, startedAt, version } };
}

export function validateService(field: string, raw: unknown): Decoded<ServiceRecord> {
  const decoded = parseVersioned(raw, serviceSchema);
  if (!decoded.ok) return decoded;
  const { name, namespace, protocol, ports, allow, endpoints } = decoded.value;
  if (`${name}.${namespace}` !== field) {
    return { ok: false, reason: 'key_mismatch', detail: `record names ${name}.${namespace}` };
  }
  return {
    ok: true,
    value: Object.freeze({
      key: field,
      name,
      namespace,
      protocol,
      ports: Object.freeze([...ports]),
      allow: allow ? Object.freeze([...allow]) : null,
      endpoints: Object.freeze({ total: endpoints.total, healthy: endpoints.healthy }),
    }),
  };
}

function freezeLocality(locality: Locality): Locality {
  return Object.freeze(
    locality.zone === undefined
      ? { cloud: locality.cloud, region: locality.region }
      : { cloud: locality.cloud, region: locality.region, zone: locality.zone },
  );
}

export function encodeCluster(record: ClusterRecord): string {
  const { cloud, region, zone } = record.locality;
  return JSON.stringify({ v: KEY_LAYOUT_VERSION, name: record.name, locality: { cloud, region, zone } });
}

export function encodeGateway(record: GatewayRecordData): string {
  const { cluster, id, peerAddress, startedAt, version } = record;
  return JSON.stringify({ v: KEY_LAYOUT_VERSION, cluster, id, peerAddress, startedAt, version });
}

export function encodeService(record: ServiceRecord): string {
  const { name, namespace, protocol, ports, allow, endpoints } = record;
  return JSON.stringify({
    v: KEY_LAYOUT_VERSION,
    name,
    namespace,
    protocol,
    ports,
    allow,
    endpoints: { total: endpoints.total, healthy: endpoints.healthy },
  });
}

/** The record a gateway writes for one of its local exports (also what its own view shows). */
export function serviceRecordOf(service: ServiceExport): ServiceRecord {
  return Object.freeze({
    key: service.key,
    name: service.name,
    namespace: service.namespace,
    protocol: service.protocol,
    ports: Object.freeze([...(service.ports ?? [])]),
    allow: service.allow ? Object.freeze([...service.allow]) : null,
    endpoints: Object.freeze({ total: service.endpoints.total, healthy: service.endpoints.healthy }),
  });
}

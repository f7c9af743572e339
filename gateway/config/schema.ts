// The gateway config file's schema (YAML → validated, fully defaulted object). Unknown keys are rejected
// everywhere; durations become `…Ms`; addresses become HostPort. Every field is documented in README.md.
import { z } from 'zod';
import { MAX_ALLOWED_CLUSTERS } from '../../discovery/index.js';
import { dnsConfigSchema } from './dns-schema.js';
import { DNS_LABEL, dnsName, duration, hostPort, label } from './schema-primitives.js';
import { failoverConfigSchema, serviceResilienceFields } from './resilience-schema.js';

const redisTls = z.union([
  z.boolean(),
  z.strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    servername: z.string().optional(),
    insecureSkipVerify: z.boolean().default(false),
  }),
]);

const redisAuth = {
  username: z.string().optional(),
  password: z.string().optional(),
  tls: redisTls.optional(),
};

const redis = z.union([
  z.string().regex(/^rediss?:\/\//, 'redis must be a redis:// or rediss:// URL, or an object'),
  z.strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'url must start with redis:// or rediss://'),
    ...redisAuth,
  }),
  z.strictObject({
    sentinels: z.array(hostPort).min(1, 'list at least one sentinel host:port'),
    name: z.string().min(1, 'name the Sentinel master set'),
    db: z.number().int().min(0).default(0),
    sentinelUsername: z.string().optional(),
    sentinelPassword: z.string().optional(),
    ...redisAuth,
  }),
  z.strictObject({
    cluster: z.array(hostPort).min(1, 'list at least one cluster node host:port'),
    ...redisAuth,
  }),
]);

const endpoint = z.union([
  hostPort.transform((address) => ({ address, weight: 1 })),
  z.strictObject({ address: hostPort, weight: z.number().int().min(1).max(1000).default(1) }),
]);

const healthTiming = {
  interval: duration('2s', 10),
  timeout: duration('1s', 10),
  rise: z.number().int().min(1).default(2),
  fall: z.number().int().min(1).default(2),
};

const health = z.union([
  z.strictObject({ http: z.string().startsWith('/', 'http health path must start with /'), ...healthTiming }),
  z.strictObject({ grpc: z.union([z.literal(true), z.string()]), ...healthTiming }),
  z.strictObject({ tcp: z.literal(true), ...healthTiming }),
]);

const service = z.strictObject({
  name: label('service name'),
  namespace: label('namespace').default('default'),
  protocol: z.enum(['http', 'grpc', 'tcp']).default('http'),
  endpoints: z.array(endpoint).default([]),
  health: health.optional(),
  allow: z.array(label('cluster name')).max(MAX_ALLOWED_CLUSTERS).optional(),
  ...serviceResilienceFields,
});

/**
 * A service this gateway calls but does not serve, with the settings its local apps' calls to it follow
 * (those of a service it serves go on its `services[]` entry).
 */
const call = z.strictObject({
  service: z
    .string()
    .refine((key) => key.split('.').length === 2 && key.split('.').every((l) => DNS_LABEL.test(l)), {
      message: 'name the service as name.namespace (DNS labels), e.g. hello.default',
    }),
  ...serviceResilienceFields,
});

const tcpListener = z.strictObject({
  listen: hostPort,
  service: z.string().min(1, 'name the service, e.g. db.default'),
});

const otlpEndpoint = z.string().refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  },
  {
    message:
      'otlpEndpoint must be an http(s) URL of an OTLP/HTTP traces receiver, e.g. http://127.0.0.1:4318/v1/traces',
  },
);

/** Span export over OTLP/HTTP; absent (the default) means no spans and no OpenTelemetry SDK loaded. */
const tracing = z.strictObject({
  otlpEndpoint,
  sampleRate: z
    .number()
    .min(0, 'sampleRate is a share of new traces, 0..1')
    .max(1, 'sampleRate is a share of new traces, 0..1')
    .default(1),
  serviceName: z.string().min(1, 'serviceName must not be empty').default('weft-gateway'),
});

/**
 * The most streams one HTTP/2 caller connection may be allowed: each can pin an endpoint connection and a
 * 1 MiB stream window of unread answer, so 10000 already lets one connection hold gigabytes.
 */
const MAX_CALLER_STREAMS = 10_000;

export const gatewayConfigSchema = z.strictObject({
  cluster: label('cluster'),
  locality: z.strictObject({
    cloud: label('cloud'),
    region: z.string().min(1),
    zone: z.string().min(1).optional(),
  }),
  trustDomain: dnsName('trustDomain'),
  zone: dnsName('zone').default('clusterset.local'),
  defaultNamespace: label('defaultNamespace').default('default'),
  redis,
  tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) }),
  listen: z
    .strictObject({
      outbound: hostPort.prefault('127.0.0.1:4140'),
      peer: hostPort.prefault('0.0.0.0:4143'),
      admin: hostPort.prefault('127.0.0.1:9990'),
      control: hostPort.prefault('127.0.0.1:9991'),
      dns: hostPort.optional(),
    })
    .prefault({}),
  advertise: hostPort.optional(),
  services: z.array(service).default([]),
  calls: z.array(call).default([]),
  tcp: z.array(tcpListener).default([]),
  discovery: z
    .strictObject({
      leaseTtl: duration('5s', 100),
      heartbeatInterval: duration('1s', 10),
      staleFor: duration('30s'),
      resyncInterval: duration('10s', 100),
      snapshotFile: z.string().optional(),
    })
    .prefault({}),
  drainTimeout: duration('10s'),
  limits: z
    .strictObject({
      callerStreams: z
        .number()
        .int('callerStreams is a whole number of streams')
        .min(1, 'callerStreams must be at least 1')
        .max(MAX_CALLER_STREAMS, `callerStreams is at most ${MAX_CALLER_STREAMS}`)
        .default(100),
    })
    .prefault({}),
  dns: dnsConfigSchema.optional(),
  failover: failoverConfigSchema,
  observability: z
    .strictObject({
      accessLogSampleRate: z
        .number()
        .min(0, 'accessLogSampleRate is a share of requests, 0..1')
        .max(1, 'accessLogSampleRate is a share of requests, 0..1')
        .default(0),
      tracing: tracing.optional(),
    })
    .prefault({}),
});

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type ParsedGatewayConfig = z.output<typeof gatewayConfigSchema>;

// The admin API's routes (hono): probes, Prometheus metrics and the read-only /api/v1 JSON views of the
// fabric. Every handler reads its sources at request time; nothing here caches or mutates state. Any
// exception becomes a 500 JSON error, never a crashed process.
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { FabricView, LeaseLookup } from '../../discovery/index.js';
import type { LocalCatalog } from '../catalog/index.js';
import type {
  ClustersResponse,
  EndpointsResponse,
  GatewayIdentity,
  GatewaysResponse,
  RoutesResponse,
  ServicesResponse,
  StatusResponse,
} from './api-types.js';
import {
  catalogEndpointsJson,
  clustersJson,
  discoveryJson,
  gatewaysJson,
  servicesJson,
  type ReportInput,
} from './fabric-report.js';
import { addFabricRoutes, FABRIC_ENDPOINTS, type FabricRouteSources } from './fabric-routes.js';
import { errorBody, json } from './json-response.js';
import { metricsText } from './metrics-text.js';

export interface AdminSources {
  readonly metrics: Registry;
  readonly ready: () => boolean;
  readonly health: () => boolean;
  readonly view: FabricView;
  readonly catalog: LocalCatalog;
  readonly discoveryStatus: () => unknown;
  readonly dataPlaneState?: () => unknown;
  readonly identity: GatewayIdentity;
  readonly now: () => number;
  /** Live lease ends for lease countdowns (Discovery.leaseOf); without it the snapshot's are shown. */
  readonly leaseOf?: LeaseLookup;
  /** The dashboard, fabric picture, event stream and golden metrics routes; absent: not served. */
  readonly fabric?: Omit<FabricRouteSources, 'report' | 'discoveryStatus'>;
}

export const ADMIN_ENDPOINTS = [
  '/healthz',
  '/readyz',
  '/metrics',
  '/api/v1/status',
  '/api/v1/clusters',
  '/api/v1/gateways',
  '/api/v1/services',
  '/api/v1/routes',
  '/api/v1/endpoints',
  '/api/v1/discovery',
  ...FABRIC_ENDPOINTS,
] as const;

function dataPlaneField(state: unknown, field: string): unknown {
  if (state === null || typeof state !== 'object') return null;
  return (state as Record<string, unknown>)[field] ?? null;
}

export function buildAdminApp(sources: AdminSources): Hono {
  const app = new Hono();
  const input = (): ReportInput => ({
    snapshot: sources.view.snapshot(),
    local: sources.catalog.services(),
    identity: sources.identity,
    nowMs: sources.now(),
    leaseOf: sources.leaseOf,
  });

  app.get('/healthz', (c) =>
    sources.health() ? json(c, { status: 'ok' }) : json(c, { status: 'unhealthy' }, 503),
  );

  app.get('/readyz', (c) => {
    if (sources.ready()) return json(c, { status: 'ready' });
    const snapshot = sources.view.snapshot();
    const reason =
      snapshot.syncedAt === null
        ? `discovery has not synced with Redis yet (routing from ${snapshot.source === 'disk' ? 'the on-disk snapshot' : 'nothing'})`
        : 'the gateway is starting or draining';
    return json(
      c,
      { status: 'not-ready', reason, source: snapshot.source, connected: snapshot.connected },
      503,
    );
  });

  app.get('/metrics', async (c) =>
    c.body(await metricsText(sources.metrics), 200, { 'content-type': sources.metrics.contentType }),
  );

  app.get('/api/v1', (c) => json(c, { gateway: sources.identity, endpoints: ADMIN_ENDPOINTS }));

  app.get('/api/v1/status', (c) => {
    const report = input();
    const body: StatusResponse = {
      gateway: { ...sources.identity, ready: sources.ready() },
      discovery: discoveryJson(report, sources.discoveryStatus()),
      clusters: clustersJson(report),
      services: servicesJson(report),
    };
    return json(c, body);
  });

  app.get('/api/v1/clusters', (c) => {
    const report = input();
    const body: ClustersResponse = { revision: report.snapshot.revision, clusters: clustersJson(report) };
    return json(c, body);
  });

  app.get('/api/v1/gateways', (c) => {
    const report = input();
    const body: GatewaysResponse = { revision: report.snapshot.revision, gateways: gatewaysJson(report) };
    return json(c, body);
  });

  app.get('/api/v1/services', (c) => {
    const report = input();
    const body: ServicesResponse = { revision: report.snapshot.revision, services: servicesJson(report) };
    return json(c, body);
  });

  app.get('/api/v1/routes', (c) => {
    let body: RoutesResponse = { source: 'none', revision: null, routes: [] };
    if (sources.dataPlaneState) {
      const state = sources.dataPlaneState();
      const revision = dataPlaneField(state, 'revision');
      body = {
        source: 'data-plane',
        revision: typeof revision === 'number' ? revision : null,
        routes: dataPlaneField(state, 'routes'),
      };
    }
    return json(c, body);
  });

  app.get('/api/v1/endpoints', (c) => {
    let body: EndpointsResponse = {
      source: 'catalog',
      endpoints: catalogEndpointsJson(sources.catalog.services()),
      peers: null,
      upstreamPools: null,
    };
    if (sources.dataPlaneState) {
      const state = sources.dataPlaneState();
      body = {
        source: 'data-plane',
        endpoints: dataPlaneField(state, 'endpoints'),
        peers: dataPlaneField(state, 'peers'),
        upstreamPools: dataPlaneField(state, 'upstreamPools'),
      };
    }
    return json(c, body);
  });

  app.get('/api/v1/discovery', (c) => json(c, discoveryJson(input(), sources.discoveryStatus())));

  if (sources.fabric) {
    addFabricRoutes(app, {
      ...sources.fabric,
      report: input,
      discoveryStatus: sources.discoveryStatus,
    });
  }

  app.notFound((c) =>
    json(
      c,
      errorBody('NOT_FOUND', `no such admin endpoint: ${c.req.method} ${c.req.path}; try GET /api/v1`),
      404,
    ),
  );

  app.onError((err, c) => json(c, errorBody('INTERNAL', err.message || String(err)), 500));

  return app;
}

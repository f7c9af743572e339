// The admin listener's visibility routes: the dashboard page at `/`, the fabric picture as JSON
// (`/api/v1/fabric`) and live as server-sent events (`/api/v1/events`, one `fabric` message per push
// interval), and the golden metrics per edge (`/api/v1/golden?scope=fabric|local`). The fabric-wide
// parts come from the other gateways' stats records (FabricStats reads them from Redis, cached).
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { sleep, type FabricSnapshot } from '../../discovery/index.js';
import type { FabricEvents, FabricStats } from '../observability/index.js';
import { dashboardPage } from './dashboard/dashboard-page.js';
import { fabricPicture, goldenJson, type FabricPicture } from './fabric-picture.js';
import type { ReportInput } from './fabric-report.js';
import { errorBody, json } from './json-response.js';

export interface FabricRouteSources {
  readonly report: () => ReportInput;
  readonly discoveryStatus: () => unknown;
  readonly events: FabricEvents;
  readonly stats: FabricStats;
  /** Interval of `fabric` messages on /api/v1/events. */
  readonly pushIntervalMs: number;
  /** Concurrent event streams allowed; more get 503. */
  readonly maxStreams: number;
  /** Aborts when the admin server closes: every stream ends. */
  readonly closed: AbortSignal;
}

/** Push intervals an event stream may take to accept one push before it is ended. */
const STALLED_PUSHES = 10;

export const FABRIC_ENDPOINTS = ['/', '/api/v1/fabric', '/api/v1/events', '/api/v1/golden'] as const;

function gatewaysOf(snapshot: FabricSnapshot): { cluster: string; id: string }[] {
  return [...snapshot.clusters.values()].flatMap((c) =>
    c.gateways.map((g) => ({ cluster: c.name, id: g.id })),
  );
}

export function addFabricRoutes(app: Hono, sources: FabricRouteSources): void {
  /**
   * How to end each open event stream (their count is the limit's): one listener on `closed` ends them
   * all, not one listener each.
   */
  const openStreams = new Set<() => void>();
  sources.closed.addEventListener('abort', () => openStreams.forEach((end) => end()), { once: true });

  const picture = async (): Promise<FabricPicture> => {
    const report = sources.report();
    const remote = await sources.stats.remote(gatewaysOf(report.snapshot));
    return fabricPicture({
      report,
      discoveryStatus: sources.discoveryStatus(),
      local: sources.stats.localRecord(),
      remote,
      events: sources.events.recent(),
      statsError: sources.stats.status().lastError,
    });
  };

  // One rendering serves every event stream for half a push interval: open dashboards cost one picture
  // per interval between them, not one each (a fabric of thousands of services makes a picture of a
  // megabyte or so).
  let shared: { at: number; body: Promise<string> } | undefined;
  const sharedPicture = (): Promise<string> => {
    const now = performance.now();
    if (!shared || now - shared.at >= sources.pushIntervalMs / 2) {
      shared = { at: now, body: picture().then((p) => JSON.stringify(p)) };
    }
    return shared.body;
  };

  app.get('/', (c) => {
    const page = dashboardPage();
    const headers = { etag: page.etag, 'cache-control': 'no-cache' };
    if (c.req.header('if-none-match') === page.etag) return c.body(null, 304, headers);
    return c.body(page.html, 200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
  });

  app.get('/api/v1/fabric', async (c) => json(c, await picture()));

  app.get('/api/v1/golden', async (c) => {
    const scope = c.req.query('scope') ?? 'fabric';
    if (scope !== 'fabric' && scope !== 'local') {
      return json(
        c,
        errorBody('BAD_REQUEST', `scope must be fabric or local, not ${JSON.stringify(scope)}`),
        400,
      );
    }
    const local = sources.stats.localRecord();
    if (scope === 'local') return json(c, goldenJson('local', [local], local.at));
    const remote = await sources.stats.remote(gatewaysOf(sources.report().snapshot));
    return json(c, goldenJson('fabric', [local, ...remote], local.at));
  });

  app.get('/api/v1/events', (c) => {
    if (openStreams.size >= sources.maxStreams) {
      return json(
        c,
        errorBody('OVERLOADED', `at most ${sources.maxStreams} event streams at once; close a dashboard tab`),
        503,
      );
    }
    const ended = new AbortController();
    const end = () => ended.abort();
    openStreams.add(end);
    return streamSSE(
      c,
      async (stream) => {
        stream.onAbort(end);
        let id = 0;
        try {
          while (!ended.signal.aborted) {
            const body = await sharedPicture();
            if (ended.signal.aborted) break;
            // A client that stays connected but reads nothing would hold its slot for good: a push it has
            // not taken within STALLED_PUSHES intervals ends the stream.
            const stalled = setTimeout(() => stream.abort(), STALLED_PUSHES * sources.pushIntervalMs);
            await stream.writeSSE({ event: 'fabric', id: String(++id), data: body, retry: 2000 });
            clearTimeout(stalled);
            await sleep(sources.pushIntervalMs, ended.signal);
          }
        } finally {
          openStreams.delete(end);
        }
      },
      async (err, stream) => {
        await stream.writeSSE({ event: 'error', data: JSON.stringify(errorBody('INTERNAL', err.message)) });
      },
    );
  });
}

// A tunnel (an HTTP Upgrade or an opaque TCP connection) is counted once, when it closes or is refused:
// in the request metrics of its edge and, when something observes it, in the access log (and, for an
// upgrade that carried a sampled traceparent, as a span).
import type { ObservedRequest } from '../observability/index.js';
import type { AttemptTarget, TargetStats } from '../routing/route-targets.js';

/** Which edge a tunnel belongs to: the service, the cluster serving it, the endpoint or gateway (a pick). */
export type TunnelEdge = Pick<AttemptTarget, 'service' | 'cluster'> & { readonly via?: string };

/** `stats` undefined: a refusal the metrics do not count (no edge was picked). */
export function recordTunnel(
  stats: TargetStats | undefined,
  observed: ObservedRequest | undefined,
  startedMs: number,
  status: number,
  edge: TunnelEdge,
  code?: string,
): void {
  const durationMs = performance.now() - startedMs;
  stats?.record(status, durationMs / 1000);
  if (observed === undefined) return;
  observed.finish({
    service: edge.service,
    destination: edge.cluster,
    ...(edge.via !== undefined ? { upstream: edge.via } : {}),
    status,
    ...(code !== undefined ? { error: code } : {}),
    durationMs,
  });
}

// Prometheus metrics of health and failover: endpoint check state, peer gateway health and RTT, outlier
// ejections, failover policy shares and transitions, retries and what refused them (budget, circuit
// breaker, rate limit). Gauges read their sources at scrape time (no per-request cost); counters are
// bumped by the few calls below, made on rare paths (an ejection, a retry, a refusal), never per request.
import { Counter, Gauge, type Registry } from 'prom-client';
import type {
  CircuitBreakerState,
  FailoverDecision,
  FailoverEvent,
  OutlierTrackerState,
  RetryBudgetState,
  ScopedOutlierEvent,
} from '../resilience/index.js';
import type { EndpointHealth } from './local-health-checker.js';
import type { PeerHealth } from './peer-health-prober.js';

/** Where the gauges read from; each optional, so the metrics can be attached piece by piece. */
export interface FailoverMetricSources {
  readonly endpoints?: () => readonly EndpointHealth[];
  readonly peers?: () => readonly PeerHealth[];
  readonly outliers?: () => OutlierTrackerState;
  readonly decisions?: () => Iterable<{ readonly service: string; readonly decision: FailoverDecision }>;
  readonly breakers?: () => Iterable<{
    readonly service: string;
    readonly cluster: string;
    readonly state: CircuitBreakerState;
  }>;
  readonly budgets?: () => Iterable<{ readonly service: string; readonly state: RetryBudgetState }>;
}

export class FailoverMetrics {
  private readonly failovers: Counter<'service' | 'cluster' | 'type' | 'cause'>;
  private readonly ejections: Counter<'scope' | 'group' | 'reason'>;
  private readonly retries: Counter<'service' | 'condition'>;
  private readonly refused: Counter<'service' | 'cluster' | 'by'>;

  constructor(registry: Registry, sources: FailoverMetricSources) {
    const registers = [registry];
    this.failovers = new Counter({
      name: 'weft_failover_events_total',
      help: 'Failover policy transitions per service: failover (a cluster lost its traffic, cause says why), failback (a recovered cluster starts taking it back), mode (normal, stale, panic, none)',
      labelNames: ['service', 'cluster', 'type', 'cause'],
      registers,
    });
    this.ejections = new Counter({
      name: 'weft_outlier_ejections_total',
      help: 'Passive outlier ejections by scope (endpoint: group is the service; gateway: group is the cluster; cluster: group is the service) and reason',
      labelNames: ['scope', 'group', 'reason'],
      registers,
    });
    this.retries = new Counter({
      name: 'weft_retries_total',
      help: 'Retries sent, by service and what was retried (not-sent, reset, timeout, gateway-error, 5xx, unavailable)',
      labelNames: ['service', 'condition'],
      registers,
    });
    this.refused = new Counter({
      name: 'weft_requests_refused_total',
      help: 'Requests or retries refused by a limit: retry-budget, circuit-breaker (per destination cluster), rate-limit',
      labelNames: ['service', 'cluster', 'by'],
      registers,
    });
    new Gauge({
      name: 'weft_endpoint_health',
      help: 'Active health of each local endpoint: 1 healthy (or unchecked), 0 failing its check',
      labelNames: ['service', 'endpoint', 'status'],
      registers,
      collect() {
        this.reset();
        for (const e of sources.endpoints?.() ?? [])
          this.set({ service: e.service, endpoint: e.endpoint, status: e.status }, e.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'weft_peer_gateway_up',
      help: 'Peer gateway probe result: 1 answering (rise/fall applied), 0 out',
      labelNames: ['cluster', 'gateway'],
      registers,
      collect() {
        this.reset();
        for (const p of sources.peers?.() ?? [])
          this.set({ cluster: p.cluster, gateway: p.key }, p.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'weft_peer_gateway_rtt_seconds',
      help: 'Smoothed round-trip time of HTTP/2 PING probes to each answering peer gateway',
      labelNames: ['cluster', 'gateway'],
      registers,
      collect() {
        this.reset();
        // A gateway that is out has no round trip: its last one would read as a live measurement.
        for (const p of sources.peers?.() ?? [])
          if (p.healthy && p.rttMs !== undefined)
            this.set({ cluster: p.cluster, gateway: p.key }, p.rttMs / 1000);
      },
    });
    new Gauge({
      name: 'weft_outlier_ejected',
      help: 'Members ejected right now per scope and group; panic=1 when the whole group is ejected',
      labelNames: ['scope', 'group', 'panic'],
      registers,
      collect() {
        this.reset();
        const state = sources.outliers?.();
        if (!state) return;
        for (const [scope, groups] of [
          ['endpoint', state.endpoints],
          ['gateway', state.gateways],
          ['cluster', state.clusters],
        ] as const) {
          for (const g of groups) {
            if (g.ejected > 0) this.set({ scope, group: g.group, panic: g.panic ? '1' : '0' }, g.ejected);
          }
        }
      },
    });
    new Gauge({
      name: 'weft_failover_share',
      help: 'Share of new requests for a service each cluster gets now (failover policy), with the policy mode',
      labelNames: ['service', 'cluster', 'mode'],
      registers,
      collect() {
        this.reset();
        for (const { service, decision } of sources.decisions?.() ?? []) {
          for (const c of decision.clusters)
            this.set({ service, cluster: c.cluster, mode: decision.mode }, c.share);
        }
      },
    });
    new Gauge({
      name: 'weft_circuit_breaker_requests',
      help: 'Requests in flight (active) and waiting (pending) per service and destination cluster',
      labelNames: ['service', 'cluster', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { service, cluster, state } of sources.breakers?.() ?? []) {
          this.set({ service, cluster, state: 'active' }, state.active);
          this.set({ service, cluster, state: 'pending' }, state.pending);
        }
      },
    });
    new Gauge({
      name: 'weft_retry_budget_remaining',
      help: 'Retries the budget of each service allows right now',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const { service, state } of sources.budgets?.() ?? []) this.set({ service }, state.remaining);
      },
    });
  }

  failoverEvent(event: FailoverEvent): void {
    if (event.type === 'mode')
      this.failovers.inc({ service: event.service, cluster: '', type: 'mode', cause: event.mode });
    else
      this.failovers.inc({
        service: event.service,
        cluster: event.cluster,
        type: event.type,
        cause: event.type === 'failover' ? event.cause : '',
      });
  }

  outlierEvent(event: ScopedOutlierEvent): void {
    if (event.type === 'ejected')
      this.ejections.inc({ scope: event.scope, group: event.group, reason: event.reason });
  }

  retry(service: string, condition: string): void {
    this.retries.inc({ service, condition });
  }

  refusedBy(by: 'retry-budget' | 'circuit-breaker' | 'rate-limit', service: string, cluster = ''): void {
    this.refused.inc({ service, cluster, by });
  }

  /** Removes the counters' series of departed services and clusters (see routing/departures.ts). */
  async forget(services: ReadonlySet<string>, clusters: ReadonlySet<string>): Promise<void> {
    const departed = (labels: { service?: string | number; cluster?: string | number }) =>
      services.has(String(labels.service)) || clusters.has(String(labels.cluster));
    await Promise.all([
      removeSeries(this.failovers, departed),
      removeSeries(this.retries, departed),
      removeSeries(this.refused, departed),
      // A gateway ejection's group is its cluster; an endpoint or cluster ejection's, the service.
      removeSeries(this.ejections, (l) => (l.scope === 'gateway' ? clusters : services).has(String(l.group))),
    ]);
  }
}

async function removeSeries<T extends string>(
  counter: Counter<T>,
  matches: (labels: Partial<Record<T, string | number>>) => boolean,
): Promise<void> {
  for (const { labels } of (await counter.get()).values) if (matches(labels)) counter.remove(labels);
}

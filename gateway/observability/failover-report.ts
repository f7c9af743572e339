// Turns the failover policy's own transition reports (gateway/resilience FailoverEvent: failover,
// failback, routing mode) into fabric events, for FabricEvents.report(): the dashboard, the admin API and
// the stats record tell each decision as the policy made it (tiers, weights, hold-down).
import type { FailoverEvent } from '../resilience/index.js';
import type { FabricEvent } from './fabric-event.js';

export function fabricEventOfFailover(event: FailoverEvent): Omit<FabricEvent, 'at' | 'observer'> {
  switch (event.type) {
    case 'failover':
      return {
        kind: 'failover',
        service: event.service,
        cluster: event.cluster,
        from: event.cluster,
        to: event.to.length > 0 ? event.to.join(',') : null,
        reason: event.reason,
      };
    case 'failback':
      return {
        kind: 'failback',
        service: event.service,
        cluster: event.cluster,
        from: event.from.length > 0 ? event.from.join(',') : null,
        to: event.cluster,
        reason: event.reason,
      };
    case 'mode':
      return {
        kind: 'routing-mode',
        service: event.service,
        from: event.previous,
        to: event.mode,
        reason: `${event.previous} → ${event.mode}: ${event.reason}`,
      };
  }
}

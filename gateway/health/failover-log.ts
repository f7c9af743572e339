// One log line per failover, failback, policy mode change and outlier ejection or return, with the
// reason; the components emit each transition once, so these are never per request.
import type { FailoverEvent, ScopedOutlierEvent } from '../resilience/index.js';
import type { HealthLogger } from './local-health-checker.js';

export function logFailoverEvent(logger: HealthLogger, event: FailoverEvent): void {
  switch (event.type) {
    case 'failover':
      logger.warn(
        {
          service: event.service,
          cluster: event.cluster,
          cause: event.cause,
          to: event.to,
          reason: event.reason,
        },
        'failover',
      );
      return;
    case 'failback':
      logger.info(
        { service: event.service, cluster: event.cluster, from: event.from, reason: event.reason },
        'failback',
      );
      return;
    case 'mode': {
      const fields = {
        service: event.service,
        mode: event.mode,
        previous: event.previous,
        reason: event.reason,
      };
      if (event.mode === 'normal') logger.info(fields, 'failover mode');
      else logger.warn(fields, 'failover mode');
    }
  }
}

export function logOutlierEvent(logger: HealthLogger, event: ScopedOutlierEvent): void {
  const fields = {
    scope: event.scope,
    group: event.group,
    member: event.member,
    reason: event.reason,
    ejections: event.ejections,
    ...(event.type === 'ejected' ? { forMs: event.durationMs } : {}),
  };
  if (event.type === 'ejected') logger.warn(fields, 'outlier ejected');
  else logger.info(fields, 'outlier returned');
}

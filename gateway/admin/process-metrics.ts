// Process metrics (RSS, heap, event-loop lag, open handles) on the gateway's registry, registered once per
// registry however many admin servers share it: prom-client throws on a second registration.
import { collectDefaultMetrics, type Registry } from 'prom-client';

const PROBE = 'process_resident_memory_bytes';

export function registerProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric(PROBE)) return;
  collectDefaultMetrics({ register: registry });
}

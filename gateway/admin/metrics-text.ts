// /metrics without stalling the gateway: prom-client's `metrics()` collects and renders every metric
// family in one event-loop turn, and a large fabric's scrape (tens of thousands of series) held requests
// for hundreds of milliseconds. Here each family is collected and rendered in a turn of its own, so
// requests are served between families. The text is what `metrics()` gives (Prometheus text format).
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Registry } from 'prom-client';

export async function metricsText(registry: Registry): Promise<string> {
  const families: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    families.push(await registry.getSingleMetricAsString(metric.name));
    await nextTurn();
  }
  return `${families.join('\n\n')}\n`;
}

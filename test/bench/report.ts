// Turns samples into the benchmark's answer: a median and range per metric and variant, and one verdict
// row per line of DESIGN.md's performance budget with the weft/HAProxy ratio next to its must and aim.
//
// Throughput ratios are the median over rounds of each round's weft/HAProxy ratio (the variants of one
// round run back to back, so they saw the same machine). Added latency is chain minus direct per round;
// its ratio is weft's median added latency over HAProxy's.
import type { Metric, Sample } from './measures.js';
import { VARIANTS, type Variant } from './topology.js';

export interface Summary {
  readonly metric: Metric | 'latency.addedP50ms' | 'latency.addedP99ms';
  readonly variant: Variant;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: number;
  readonly errors: number;
  readonly requests: number;
}

export type Outcome = 'PASS' | 'MISS' | 'n/a';

export interface Verdict {
  readonly measure: string;
  readonly weft: number | undefined;
  readonly haproxy: number | undefined;
  /** weft / HAProxy, or the absolute figure where the budget is absolute. */
  readonly value: number | undefined;
  readonly must: string;
  readonly aim: string;
  readonly mustOutcome: Outcome;
  readonly aimOutcome: Outcome;
  readonly note?: string;
}

const LABELS: Record<Summary['metric'], string> = {
  'http.rps': 'HTTP/1.1 keep-alive req/s (wrk)',
  'grpc.rps': 'gRPC unary req/s (h2load, h2c)',
  'tcp.gbps': 'bulk TCP Gbit/s (iperf3)',
  'latency.p50ms': 'latency p50 ms at fixed rate (hey)',
  'latency.p99ms': 'latency p99 ms at fixed rate (hey)',
  'latency.addedP50ms': 'added latency p50 ms (chain − direct)',
  'latency.addedP99ms': 'added latency p99 ms (chain − direct)',
  'rss.idleMbA': 'RSS idle MB, gateway A (at start)',
  'rss.idleMbB': 'RSS idle MB, gateway B (at start)',
  'rss.quietMbA': 'RSS idle MB, gateway A (30 s quiet)',
  'rss.quietMbB': 'RSS idle MB, gateway B (30 s quiet)',
  'rss.floorMb': 'RSS idle MB, runtime floor (no gateway code)',
  'rss.perConnKb': 'RSS KB per idle proxied connection (A)',
};

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function summarize(
  metric: Summary['metric'],
  variant: Variant,
  samples: readonly Sample[],
): Summary | undefined {
  if (samples.length === 0) return undefined;
  const values = samples.map((s) => s.value);
  return {
    metric,
    variant,
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    samples: samples.length,
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    requests: samples.reduce((sum, s) => sum + (s.requests ?? 0), 0),
  };
}

/** Chain minus direct latency, per round in which both ran. */
function addedLatency(samples: readonly Sample[], metric: Metric, chain: Variant): Sample[] {
  const of = (variant: Variant) => samples.filter((s) => s.metric === metric && s.variant === variant);
  const direct = new Map(of('direct').map((s) => [s.round, s.value]));
  return of(chain).flatMap((s) => {
    const base = direct.get(s.round);
    // Rounded to a microsecond: hey reports 0.1 ms steps, and float noise must not turn 2.0 × into a MISS.
    return base === undefined ? [] : [{ ...s, value: Math.round((s.value - base) * 1000) / 1000 }];
  });
}

export function summarizeAll(samples: readonly Sample[]): Summary[] {
  const out: Summary[] = [];
  const metrics = [...new Set(samples.map((s) => s.metric))];
  for (const metric of metrics) {
    for (const variant of VARIANTS) {
      const summary = summarize(
        metric,
        variant,
        samples.filter((s) => s.metric === metric && s.variant === variant),
      );
      if (summary) out.push(summary);
    }
  }
  for (const [metric, added] of [
    ['latency.p50ms', 'latency.addedP50ms'],
    ['latency.p99ms', 'latency.addedP99ms'],
  ] as const) {
    for (const chain of ['haproxy', 'weft'] as const) {
      const summary = summarize(added, chain, addedLatency(samples, metric, chain));
      if (summary) out.push(summary);
    }
  }
  return out;
}

function perRoundRatios(samples: readonly Sample[], metric: Metric): number[] {
  const haproxy = new Map(
    samples.filter((s) => s.metric === metric && s.variant === 'haproxy').map((s) => [s.round, s.value]),
  );
  return samples
    .filter((s) => s.metric === metric && s.variant === 'weft')
    .flatMap((s) => {
      const base = haproxy.get(s.round);
      return base === undefined || base <= 0 ? [] : [s.value / base];
    });
}

const outcome = (value: number | undefined, ok: (v: number) => boolean): Outcome =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : ok(value) ? 'PASS' : 'MISS';

/** The idle-RSS row's note: what the runtime and the named libraries take before any gateway code. */
const floorNote = (floor: Summary | undefined) =>
  floor ? { note: `runtime floor ${floor.median.toFixed(1)} MB (no gateway code)` } : {};

/** Share of failed requests above which a sample's figure is not trusted. */
const ERROR_TOLERANCE = 0.001;

export function verdicts(samples: readonly Sample[], summaries: readonly Summary[]): Verdict[] {
  const find = (metric: Summary['metric'], variant: Variant) =>
    summaries.find((s) => s.metric === metric && s.variant === variant);
  const errorNote = (metric: Summary['metric']) => {
    const bad = (['haproxy', 'weft'] as const).filter((v) => {
      const s = find(metric, v);
      return s !== undefined && s.errors > ERROR_TOLERANCE * Math.max(1, s.requests + s.errors);
    });
    return bad.length > 0 ? { note: `errors in ${bad.join(', ')}: figures not comparable` } : {};
  };
  const out: Verdict[] = [];

  for (const [metric, must, aim] of [
    ['http.rps', 0.25, 0.5],
    ['grpc.rps', 0.25, 0.5],
    ['tcp.gbps', 0.8, 1.0],
  ] as const) {
    const weft = find(metric, 'weft');
    const haproxy = find(metric, 'haproxy');
    if (!weft && !haproxy) continue;
    const ratios = perRoundRatios(samples, metric);
    const value = ratios.length > 0 ? median(ratios) : undefined;
    const note = errorNote(metric);
    out.push({
      measure: LABELS[metric],
      weft: weft?.median,
      haproxy: haproxy?.median,
      value,
      must: `≥ ${must} ×`,
      aim: `≥ ${aim} ×`,
      mustOutcome: note.note ? 'n/a' : outcome(value, (v) => v >= must),
      aimOutcome: note.note ? 'n/a' : outcome(value, (v) => v >= aim),
      ...note,
    });
  }

  for (const [metric, raw] of [
    ['latency.addedP50ms', 'latency.p50ms'],
    ['latency.addedP99ms', 'latency.p99ms'],
  ] as const) {
    const weft = find(metric, 'weft');
    const haproxy = find(metric, 'haproxy');
    if (!weft && !haproxy) continue;
    const value = weft && haproxy && haproxy.median > 0 ? weft.median / haproxy.median : undefined;
    const note = errorNote(raw);
    const unmeasurable =
      haproxy && haproxy.median <= 0 ? { note: 'HAProxy added no measurable latency: no ratio' } : {};
    out.push({
      measure: LABELS[metric],
      weft: weft?.median,
      haproxy: haproxy?.median,
      value,
      must: '≤ 2 ×',
      aim: '≤ 1 ×',
      mustOutcome: note.note ? 'n/a' : outcome(value, (v) => v <= 2),
      aimOutcome: note.note ? 'n/a' : outcome(value, (v) => v <= 1),
      ...unmeasurable,
      ...note,
    });
  }

  const idleA = find('rss.quietMbA', 'weft');
  const idleB = find('rss.quietMbB', 'weft');
  if (idleA || idleB || find('rss.quietMbA', 'haproxy')) {
    const worst = Math.max(idleA?.median ?? Number.NaN, idleB?.median ?? Number.NaN);
    const haproxyWorst = Math.max(
      find('rss.quietMbA', 'haproxy')?.median ?? Number.NaN,
      find('rss.quietMbB', 'haproxy')?.median ?? Number.NaN,
    );
    out.push({
      measure: 'gateway RSS idle MB, 30 s quiet (larger of A, B)',
      weft: Number.isFinite(worst) ? worst : undefined,
      haproxy: Number.isFinite(haproxyWorst) ? haproxyWorst : undefined,
      value: Number.isFinite(worst) ? worst : undefined,
      must: '≤ 60 MB',
      aim: '—',
      mustOutcome: outcome(Number.isFinite(worst) ? worst : undefined, (v) => v <= 60),
      aimOutcome: 'n/a',
      ...floorNote(find('rss.floorMb', 'weft')),
    });
  }
  const perConn = find('rss.perConnKb', 'weft');
  const haproxyPerConn = find('rss.perConnKb', 'haproxy');
  if (perConn || haproxyPerConn) {
    out.push({
      measure: LABELS['rss.perConnKb'],
      weft: perConn?.median,
      haproxy: haproxyPerConn?.median,
      value: perConn?.median,
      must: '≤ 40 KB',
      aim: '—',
      mustOutcome: outcome(perConn?.median, (v) => v <= 40),
      aimOutcome: 'n/a',
    });
  }
  return out;
}

function formatNumber(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  if (magnitude >= 10_000) return `${(value / 1000).toFixed(1)}k`;
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatSummaries(summaries: readonly Summary[]): string {
  const rows = summaries.map((s) => [
    LABELS[s.metric],
    s.variant,
    formatNumber(s.median),
    s.samples > 1 ? `${formatNumber(s.min)} – ${formatNumber(s.max)}` : '',
    String(s.samples),
    s.errors > 0 ? `${s.errors} errors` : '',
  ]);
  return table(['measure', 'variant', 'median', 'range', 'n', 'notes'], rows);
}

export function formatVerdicts(rows: readonly Verdict[]): string {
  return table(
    ['budget line', 'weft', 'HAProxy', 'weft/HAProxy', 'must', 'aim', 'must', 'aim', 'notes'],
    rows.map((v) => [
      v.measure,
      formatNumber(v.weft),
      formatNumber(v.haproxy),
      v.must.includes('×') ? `${formatNumber(v.value)} ×` : '',
      v.must,
      v.aim,
      v.mustOutcome,
      v.aimOutcome,
      v.note ?? '',
    ]),
  );
}

// Parsers for the load generators' output: wrk's text summary, h2load's text summary, iperf3's JSON and
// hey's text summary. Each returns the figure the benchmark records plus the error counts that make a sample
// untrustworthy (a chain that answers 502 quickly must not look fast). Throws when the text does not
// have the expected shape, quoting it, so a tool version change fails loudly instead of reading 0.

export interface ThroughputResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  /** Requests that failed or answered outside 2xx/3xx. */
  readonly errors: number;
}

export interface BulkResult {
  readonly bitsPerSecond: number;
}

export interface LatencyResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
}

class ToolOutputError extends Error {
  constructor(tool: string, what: string, output: string) {
    super(`${tool}: cannot find ${what} in its output:\n${output.slice(0, 2000)}`);
    this.name = 'ToolOutputError';
  }
}

function numberAfter(tool: string, output: string, pattern: RegExp, what: string): number {
  const match = pattern.exec(output);
  const value = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  if (!Number.isFinite(value)) throw new ToolOutputError(tool, what, output);
  return value;
}

export function parseWrk(output: string): ThroughputResult {
  const requestsPerSecond = numberAfter('wrk', output, /Requests\/sec:\s+([\d.]+)/, 'Requests/sec');
  const requests = numberAfter('wrk', output, /(\d+) requests in /, 'the request count');
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  // A read error is a connection the server closed (or reset) while wrk waited for a response.
  const socketErrors = socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requestsPerSecond, requests, errors: Number(non2xx?.[1] ?? 0) + socketErrors };
}

export function parseH2load(output: string): ThroughputResult {
  const requestsPerSecond = numberAfter('h2load', output, /finished in [\d.]+m?s, ([\d.]+) req\/s/, 'req/s');
  const requests = numberAfter('h2load', output, /(\d+) succeeded/, 'the succeeded count');
  const failed = numberAfter('h2load', output, /(\d+) failed/, 'the failed count');
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  if (!statuses) throw new ToolOutputError('h2load', 'the status code counts', output);
  const bad = Number(statuses[3]) + Number(statuses[4]);
  // h2load counts a 4xx/5xx as succeeded: take it out of the good requests.
  const good = Math.max(0, requests - bad);
  const rate = requests > 0 ? (requestsPerSecond * good) / requests : 0;
  return { requestsPerSecond: rate, requests: good, errors: failed + bad };
}

export function parseIperf3(json: string): BulkResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new ToolOutputError('iperf3', 'a JSON document', json);
  }
  const report = parsed as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  if (report.error) throw new Error(`iperf3: ${report.error}`);
  const bitsPerSecond = report.end?.sum_received?.bits_per_second;
  if (typeof bitsPerSecond !== 'number') throw new ToolOutputError('iperf3', 'end.sum_received', json);
  return { bitsPerSecond };
}

/**
 * hey's text summary: percentiles in seconds with 0.1 ms resolution, the status code distribution and,
 * when requests failed below HTTP, an error distribution ("[count]\terror text").
 */
export function parseHey(output: string): LatencyResult {
  const seconds = (pct: number) =>
    numberAfter('hey', output, new RegExp(`\\b${pct}% in ([\\d.]+) secs`), `the ${pct}% latency`);
  const requestsPerSecond = numberAfter('hey', output, /Requests\/sec:\s+([\d.]+)/, 'Requests/sec');
  let requests = 0;
  let errors = 0;
  for (const match of output.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)) {
    const status = Number(match[1]);
    const count = Number(match[2]);
    if (status >= 200 && status < 400) requests += count;
    else errors += count;
  }
  const errorSection = output.split('Error distribution:')[1] ?? '';
  for (const match of errorSection.matchAll(/\[(\d+)\]\t/g)) errors += Number(match[1]);
  if (requests === 0) throw new ToolOutputError('hey', 'one successful request', output);
  return { p50Ms: seconds(50) * 1000, p99Ms: seconds(99) * 1000, requests, errors, requestsPerSecond };
}

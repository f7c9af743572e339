// Gateway memory: a process's resident set from /proc/<pid>/status, and the cost of idle proxied
// connections: open keep-alive client connections through a gateway, make one request on each so the
// gateway holds whatever per-connection state proxying needs, leave them idle, and read the RSS growth.
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { pause } from './managed-process.js';
import type { Metric, Sample } from './measures.js';
import type { TcpTarget } from './tools.js';
import type { Variant } from './topology.js';

export async function residentKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** Reads RSS until two reads 200 ms apart differ by under 1% (or 3 s pass): allocation has settled. */
export async function settledResidentKb(pid: number): Promise<number> {
  const deadline = Date.now() + 3_000;
  let previous = await residentKb(pid);
  for (;;) {
    await pause(200);
    const current = await residentKb(pid);
    if (Math.abs(current - previous) < previous * 0.01 || Date.now() > deadline) return current;
    previous = current;
  }
}

/** How long a gateway stays without traffic before its idle RSS is read (see quietResidentKb). */
const QUIET_MS = 30_000;

/**
 * RSS once the process has been quiet for QUIET_MS and two seconds of reads agree within 1% (at most
 * 45 s). Module loading at startup grows V8's young generation to its maximum (some 20 MB here); V8's
 * memory reducer gives it back once it judges the process quiet (seen 12-24 s after a gateway started,
 * later for the gateway that answers the other's probes), so an RSS read at start is the startup
 * transient, not the idle footprint.
 */
export async function quietResidentKb(pid: number): Promise<number> {
  const started = Date.now();
  const reads: number[] = [];
  for (;;) {
    await pause(500);
    reads.push(await residentKb(pid));
    const last = reads.slice(-4);
    const stable = last.length === 4 && Math.max(...last) - Math.min(...last) < Math.min(...last) * 0.01;
    const waited = Date.now() - started;
    if ((waited >= QUIET_MS && stable) || waited >= 45_000) return reads[reads.length - 1] as number;
  }
}

/** Whether a response with this head is complete after `bodyBytes` bytes (content-length or chunked). */
function responseComplete(head: string, bodyBytes: number, received: Buffer): boolean {
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
  if (length !== undefined) return bodyBytes >= Number(length);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return received.subarray(-5).toString() === '0\r\n\r\n';
  throw new Error(`response has neither content-length nor chunked encoding:\n${head}`);
}

/** One keep-alive request; resolves with the socket still open once the full response has arrived. */
function openProxiedConnection(target: TcpTarget, authority: string): Promise<Socket> {
  return new Promise((resolveOpen, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    socket.setTimeout(10_000);
    let received = Buffer.alloc(0);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('timeout', () => fail(new Error('no response within 10 s')));
    socket.once('close', () =>
      fail(new Error(`connection closed after ${received.length} bytes of response`)),
    );
    socket.once('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const headerEnd = received.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const head = received.subarray(0, headerEnd).toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) return fail(new Error(`answered ${head.split('\r\n')[0]}`));
      let complete: boolean;
      try {
        complete = responseComplete(head, received.length - headerEnd - 4, received);
      } catch (err) {
        return fail(err as Error);
      }
      if (!complete) return;
      socket.off('data', onData);
      socket.setTimeout(0);
      socket.removeAllListeners('timeout');
      resolveOpen(socket);
    };
    socket.on('data', onData);
  });
}

/**
 * Opens `count` more proxied keep-alive connections, `parallel` at a time, appending them to `sockets`.
 * A failed attempt is retried and counted; more than 1% failures ends the measure. Returns the failures.
 */
async function openIdleConnections(
  target: TcpTarget,
  authority: string,
  count: number,
  sockets: Socket[],
  parallel = 50,
): Promise<number> {
  const goal = sockets.length + count;
  let failures = 0;
  while (sockets.length < goal) {
    const batch = Math.min(parallel, goal - sockets.length);
    const results = await Promise.allSettled(
      Array.from({ length: batch }, () => openProxiedConnection(target, authority)),
    );
    for (const result of results) {
      if (result.status === 'fulfilled') sockets.push(result.value);
      else if (++failures > Math.max(1, count / 100)) {
        throw new Error(
          `${failures} of ${sockets.length + failures} idle connections through the gateway failed; ` +
            `the last: ${String(result.reason)}`,
        );
      }
    }
  }
  return failures;
}

export interface MemoryPlan {
  /** Connections opened before the baseline, so one-time costs (peer connections, JIT) are excluded. */
  readonly warmConnections: number;
  /** Connections added per step; each step gives one per-connection sample. */
  readonly connectionsPerStep: number;
  readonly steps: number;
}

/**
 * Memory of one chain, on processes that have carried no load yet: the RSS of both gateways at start and
 * once they have been quiet a while, then the marginal RSS of gateway A per idle proxied connection. All connections stay open until the last
 * step, so each step allocates fresh memory instead of reusing what an earlier step freed (HAProxy's
 * pools and V8's heap both keep freed memory).
 */
export async function measureGatewayMemory(
  variant: Variant,
  pids: { readonly a: number; readonly b: number },
  target: TcpTarget,
  authority: string,
  plan: MemoryPlan,
): Promise<Sample[]> {
  const sample = (metric: Metric, round: number, value: number, errors = 0): Sample => ({
    metric,
    variant,
    round,
    value,
    errors,
  });
  const samples = [
    sample('rss.idleMbA', 0, (await settledResidentKb(pids.a)) / 1024),
    sample('rss.idleMbB', 0, (await settledResidentKb(pids.b)) / 1024),
  ];
  const [quietA, quietB] = await Promise.all([quietResidentKb(pids.a), quietResidentKb(pids.b)]);
  samples.push(sample('rss.quietMbA', 0, quietA / 1024), sample('rss.quietMbB', 0, quietB / 1024));
  const sockets: Socket[] = [];
  try {
    await openIdleConnections(target, authority, plan.warmConnections, sockets);
    let previousKb = await settledResidentKb(pids.a);
    for (let step = 1; step <= plan.steps; step++) {
      const failures = await openIdleConnections(target, authority, plan.connectionsPerStep, sockets);
      const currentKb = await settledResidentKb(pids.a);
      const perConnectionKb = (currentKb - previousKb) / plan.connectionsPerStep;
      samples.push(sample('rss.perConnKb', step, perConnectionKb, failures));
      previousKb = currentKb;
    }
    return samples;
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

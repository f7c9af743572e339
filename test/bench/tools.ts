// Runs the load generators (wrk, h2load, iperf3, hey) as child processes with bounded time, and parses
// what they print. Every run is one sample; the caller decides what to do with errors it reports.
import { spawn } from 'node:child_process';
import {
  parseH2load,
  parseHey,
  parseIperf3,
  parseWrk,
  type BulkResult,
  type LatencyResult,
  type ThroughputResult,
} from './tool-output.js';

/** A plain HTTP target: where to connect, and the Host / :authority that names the service. */
export interface HttpTarget {
  readonly url: string;
  /** Host header to send; undefined sends the URL's own (direct calls). */
  readonly authority?: string;
}

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
}

/** Output of a finished tool; rejects when it exits non-zero or overruns `timeoutMs`. */
export function runTool(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    timer.unref();
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveRun(stdout);
      else {
        const why =
          signal === 'SIGKILL' ? `did not finish within ${timeoutMs} ms` : `exited ${code ?? signal}`;
        reject(new Error(`${command} ${args.join(' ')} ${why}:\n${stderr}${stdout}`.slice(0, 4000)));
      }
    });
  });
}

const graceMs = (seconds: number) => seconds * 1000 + 20_000;

export interface WrkOptions {
  readonly connections: number;
  readonly threads: number;
  readonly seconds: number;
}

export async function runWrk(target: HttpTarget, o: WrkOptions): Promise<ThroughputResult> {
  const args = [
    '-t',
    String(o.threads),
    '-c',
    String(o.connections),
    '-d',
    `${o.seconds}s`,
    '--timeout',
    '5s',
  ];
  if (target.authority) args.push('-H', `Host: ${target.authority}`);
  return parseWrk(await runTool('wrk', [...args, target.url], graceMs(o.seconds)));
}

export interface H2loadOptions {
  readonly connections: number;
  readonly streamsPerConnection: number;
  readonly seconds: number;
  /** File holding the request body (one gRPC message frame). */
  readonly bodyFile: string;
}

/** gRPC-shaped unary calls over h2c: POST, application/grpc, te: trailers, one small message. */
export async function runH2load(target: HttpTarget, o: H2loadOptions): Promise<ThroughputResult> {
  const args = [
    '-t',
    '1',
    '-c',
    String(o.connections),
    '-m',
    String(o.streamsPerConnection),
    '-D',
    String(o.seconds),
    '-d',
    o.bodyFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
  ];
  if (target.authority) args.push('-H', `:authority: ${target.authority}`);
  return parseH2load(await runTool('h2load', [...args, target.url], graceMs(o.seconds)));
}

export async function runIperf3(target: TcpTarget, seconds: number): Promise<BulkResult> {
  const args = ['-c', target.host, '-p', String(target.port), '-t', String(seconds), '-O', '1', '-J'];
  return parseIperf3(await runTool('iperf3', [...args, '--connect-timeout', '3000'], graceMs(seconds + 1)));
}

export interface HeyOptions {
  readonly workers: number;
  /** Per worker: hey paces each worker to this many requests per second. */
  readonly ratePerWorker: number;
  readonly seconds: number;
}

/** Fixed-rate load (hey -q): each worker sends at most `ratePerWorker` requests per second. */
export async function runHey(target: HttpTarget, o: HeyOptions): Promise<LatencyResult> {
  const args = ['-c', String(o.workers), '-q', String(o.ratePerWorker), '-z', `${o.seconds}s`, '-t', '5'];
  if (target.authority) args.push('-host', target.authority);
  return parseHey(await runTool('hey', [...args, target.url], graceMs(o.seconds)));
}

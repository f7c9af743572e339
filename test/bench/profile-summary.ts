// Reads a V8 .cpuprofile (what `node --cpu-prof` writes) and lists where the time went while the load
// ran: self time per function (name, file:line), largest first, counting only samples inside a window
// of the monotonic clock (V8 stamps samples in microseconds of CLOCK_MONOTONIC, the clock behind
// process.hrtime, so the harness can mark the window). Startup (module loading) and idle time stay out.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Microseconds of the monotonic clock, comparable with a profile's sample times. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

const ROOT = resolve(import.meta.dirname, '../..');

function place(frame: ProfileNode['callFrame']): string {
  if (!frame.url) return '';
  const path = frame.url.startsWith('file://') ? relative(ROOT, new URL(frame.url).pathname) : frame.url;
  return `${path}:${frame.lineNumber + 1}`;
}

export function summarizeProfile(file: string, window: ProfileWindow, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, number>();
  let busyUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < window.fromUs || at > window.toUs) continue;
    const frame = nodes.get(profile.samples[i] ?? -1)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busyUs += delta;
    const key = `${frame.functionName || '(anonymous)'}  ${place(frame)}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
  }
  const windowUs = Math.max(1, window.toUs - window.fromUs);
  const lines = [...selfUs.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([key, us]) => `  ${((100 * us) / Math.max(1, busyUs)).toFixed(1).padStart(5)}%  ${key}`);
  const busy = `  busy ${(busyUs / 1e6).toFixed(1)} s of ${(windowUs / 1e6).toFixed(1)} s under load (${((100 * busyUs) / windowUs).toFixed(0)}% of one core); self time, share of busy:`;
  return [busy, ...lines].join('\n');
}

// Reads a V8 .cpuprofile (what `node --cpu-prof` writes) and lists where the time went: self time per
// function (name, file:line), as a share of the busy (non-idle) samples, largest first. Enough to see what dominates a
// gateway under load without opening DevTools.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly hitCount?: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
}

const ROOT = resolve(import.meta.dirname, '../..');

function place(frame: ProfileNode['callFrame']): string {
  if (!frame.url) return '';
  const path = frame.url.startsWith('file://') ? relative(ROOT, new URL(frame.url).pathname) : frame.url;
  return `${path}:${frame.lineNumber + 1}`;
}

export function summarizeProfile(file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    // Idle samples are the gateway waiting while other variants run: leave them out of the shares.
    if (hits === 0 || node.callFrame.functionName === '(idle)') continue;
    total += hits;
    const key = `${node.callFrame.functionName || '(anonymous)'}  ${place(node.callFrame)}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  return [...byFunction.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([key, hits]) => `  ${((100 * hits) / Math.max(1, total)).toFixed(1).padStart(5)}%  ${key}`)
    .join('\n');
}

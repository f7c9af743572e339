// The external programs a run needs, found on PATH before anything starts. A missing one stops the run
// with the one apt-get line that installs everything missing (Debian package names).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Measure } from './measures.js';
import type { Variant } from './topology.js';

interface Tool {
  readonly command: string;
  readonly debianPackage: string;
  readonly neededFor: (measures: readonly Measure[], variants: readonly Variant[]) => boolean;
}

const TOOLS: readonly Tool[] = [
  { command: 'nginx', debianPackage: 'nginx', neededFor: () => true },
  { command: 'iperf3', debianPackage: 'iperf3', neededFor: () => true },
  { command: 'wrk', debianPackage: 'wrk', neededFor: (m) => m.includes('http') },
  { command: 'h2load', debianPackage: 'nghttp2-client', neededFor: (m) => m.includes('grpc') },
  { command: 'hey', debianPackage: 'hey', neededFor: (m) => m.includes('latency') },
  { command: 'haproxy', debianPackage: 'haproxy', neededFor: (_, v) => v.includes('haproxy') },
  { command: 'redis-server', debianPackage: 'redis-server', neededFor: (_, v) => v.includes('weft') },
];

function onPath(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter);
  return dirs.some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Undefined when everything is installed; otherwise the message telling how to install the rest. */
export function missingToolsMessage(
  measures: readonly Measure[],
  variants: readonly Variant[],
): string | undefined {
  const missing = TOOLS.filter((tool) => tool.neededFor(measures, variants) && !onPath(tool.command));
  if (missing.length === 0) return undefined;
  return (
    `bench: missing ${missing.map((t) => t.command).join(', ')}. Install with:\n` +
    `  sudo apt-get install -y ${missing.map((t) => t.debianPackage).join(' ')}`
  );
}

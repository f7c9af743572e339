// The running weft version, read once from package.json (recorded in discovery and shown by `weft status`).
import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'weft' && pkg.version) return pkg.version;
    } catch {
      // try the next layout: sources run from gateway/cli, the build from dist/gateway/cli
    }
  }
  return '0.0.0';
}

export const WEFT_VERSION = readVersion();

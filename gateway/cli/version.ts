// The running weft version, read once from package.json (recorded in discovery and shown by `weft status`).
import { readFileSync } from 'node:fs';
import { fromPackageRoot } from '../package-root.js';

export const WEFT_VERSION = (
  JSON.parse(readFileSync(fromPackageRoot('package.json'), 'utf8')) as { version: string }
).version;

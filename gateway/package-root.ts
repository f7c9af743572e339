// Locates files that ship beside the code (package.json, .proto files) whether weft runs from its
// TypeScript sources (tsx) or from the compiled dist/ tree.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'weft'
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('weft package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The folder holding weft's package.json. */
export const packageRoot = findPackageRoot();

/** An absolute path to a file shipped with weft, given relative to the package root. */
export function fromPackageRoot(relativePath: string): string {
  return join(packageRoot, relativePath);
}

// The module hooks of hold-program-load.ts (they run on Node's hooks thread).
import { existsSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export const PROGRAM_LOAD_HELD = 'weft-test: loading of the program held';

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array;
}
type NextLoad = (url: string, context: object) => Promise<LoadResult>;

export async function load(url: string, context: object, nextLoad: NextLoad): Promise<LoadResult> {
  const release = process.env.WEFT_TEST_HOLD_RELEASE;
  if (release && url.endsWith('/gateway/cli/program.ts')) {
    writeSync(2, `${PROGRAM_LOAD_HELD}\n`);
    while (!existsSync(release)) await delay(20);
  }
  return nextLoad(url, context);
}

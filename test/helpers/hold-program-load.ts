// Preloaded with `--import` into a `weft` child process: holds the loading of the command line's program
// (gateway/cli/program.ts, everything past the entry point) until the file named by
// WEFT_TEST_HOLD_RELEASE exists, after writing `PROGRAM_LOAD_HELD` to stderr. A test can then act while
// the process is still loading its modules.
import { register } from 'node:module';

register('./hold-program-load-hooks.ts', import.meta.url);

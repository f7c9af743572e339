// A SIGHUP that reaches `weft gateway` while it is still starting is refused with a line on stderr, never
// fatal: even before the config has been read, when the gateway's own handler does not exist yet. The
// config file is a FIFO, so the test knows the gateway is reading it (the FIFO opens for writing only
// then) and sends the SIGHUP exactly then; the gateway gets its config only afterwards. Earlier still,
// while the command line loads its modules: a preloaded module hook holds that loading (see
// hold-program-load.ts) while the test sends its SIGHUP.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { fromPackageRoot } from '../gateway/package-root.js';
import { PROGRAM_LOAD_HELD } from './helpers/hold-program-load-hooks.js';
import { loneGatewayGround } from './helpers/lone-gateway.js';
import { waitFor, within } from './helpers/wait.js';

const HOST = '127.0.91.1';
const EARLY_HOST = '127.0.91.2';
const REFUSED = 'the gateway is still starting';

/** A `weft gateway` child process, its output so far, and how it exited (undefined while it runs). */
interface GatewayChild {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  readonly exit: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/** Spawns `weft gateway --config configFile` with `preload` modules; killed when the test ends. */
function spawnGateway(
  t: TestContext,
  configFile: string,
  options: { preload?: readonly string[]; env?: NodeJS.ProcessEnv; onStdout?: (output: string) => void } = {},
): GatewayChild {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      ...(options.preload ?? []).flatMap((file) => ['--import', file]),
      fromPackageRoot('gateway/cli/main.ts'),
      'gateway',
      '--config',
      configFile,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolveExit) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolveExit();
    }),
  );
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    options.onStdout?.(output.stdout);
    output.stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  return { child, output, exit: () => exit };
}

test('a SIGHUP while the gateway reads its config is refused, and the gateway goes on to start', async (t) => {
  const { dir, config } = await loneGatewayGround(t, HOST, 'early.test');
  const yaml = stringify({
    ...config,
    services: [],
    discovery: { snapshotFile: join(dir, 'snapshot.json') },
  });
  const configFile = join(dir, 'gateway.yaml');
  execFileSync('mkfifo', [configFile]);
  const { child, output, exit } = spawnGateway(t, configFile, {
    // The first log line comes from the gateway itself: its own handler has taken over by then.
    onStdout: (before) => before === '' && child.kill('SIGHUP'),
  });

  // Opening a FIFO for writing without blocking succeeds only once a reader has it open.
  const fifo = await within('the gateway to open its config file', 20_000, async (): Promise<FileHandle> => {
    assert.equal(exit(), undefined, `the gateway exited early: ${output.stderr}`);
    return open(configFile, constants.O_WRONLY | constants.O_NONBLOCK);
  });
  try {
    child.kill('SIGHUP');
    await waitFor(
      'the SIGHUP to be handled',
      () => output.stderr.includes(REFUSED) || exit() !== undefined,
      10_000,
    );
    assert.equal(
      exit(),
      undefined,
      `a SIGHUP while reading the config ended the gateway; stderr: ${output.stderr}`,
    );
    // Later reloads read a regular file; the gateway still holds the FIFO open and reads it to the end.
    await writeFile(`${configFile}.next`, yaml);
    await rename(`${configFile}.next`, configFile);
    await fifo.write(yaml);
  } finally {
    await fifo.close();
  }

  await waitFor(
    'the gateway to start',
    () => output.stdout.includes('"msg":"gateway started"') || exit() !== undefined,
    30_000,
  );
  assert.equal(exit(), undefined, `the gateway exited: ${output.stderr}\n${output.stdout}`);
  assert.match(output.stderr, new RegExp(`config reload rejected: ${REFUSED}`));
});

test('a SIGHUP while the command line is still loading its modules is refused, and the gateway starts', async (t) => {
  const { dir, config } = await loneGatewayGround(t, EARLY_HOST, 'early.test');
  const configFile = join(dir, 'gateway.yaml');
  await writeFile(
    configFile,
    stringify({ ...config, services: [], discovery: { snapshotFile: join(dir, 'snapshot.json') } }),
  );
  const release = join(dir, 'release');
  const { child, output, exit } = spawnGateway(t, configFile, {
    preload: [fromPackageRoot('test/helpers/hold-program-load.ts')],
    env: { WEFT_TEST_HOLD_RELEASE: release },
  });

  await waitFor(
    "the program's loading to be held",
    () => output.stderr.includes(PROGRAM_LOAD_HELD) || exit() !== undefined,
    20_000,
  );
  child.kill('SIGHUP');
  await waitFor(
    'the SIGHUP to be handled',
    () => output.stderr.includes(REFUSED) || exit() !== undefined,
    10_000,
  );
  assert.equal(exit(), undefined, `a SIGHUP while loading ended the gateway; stderr: ${output.stderr}`);
  await writeFile(release, '');
  await waitFor(
    'the gateway to start',
    () => output.stdout.includes('"msg":"gateway started"') || exit() !== undefined,
    30_000,
  );
  assert.equal(exit(), undefined, `the gateway exited: ${output.stderr}\n${output.stdout}`);
  assert.equal(output.stderr.split(REFUSED).length - 1, 1, `one refusal line: ${output.stderr}`);
});

// `npm run bench`: DESIGN.md's performance budget, measured. Builds weft, starts the topology (direct
// upstream, HAProxy chain, weft chain) once, then runs every measure in interleaved rounds — in each
// round the variants run back to back in a rotating order — and prints medians, ranges and the
// weft/HAProxy ratios against the budget. Results also go to test-artifacts/bench-<timestamp>.json.
// A benchmark, never a test: it asserts nothing and its exit code only says whether it ran.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseBenchOptions, USAGE, UsageError, type BenchOptions } from './bench-options.js';
import { probeChain } from './chain-probe.js';
import { measureGatewayMemory } from './gateway-memory.js';
import { FLOOR_DESCRIPTION, measureRuntimeFloorKb } from './runtime-floor.js';
import { LOAD_MEASURES, runMeasure, type Sample } from './measures.js';
import { monotonicMicros, summarizeProfile } from './profile-summary.js';
import { formatSummaries, formatVerdicts, summarizeAll, verdicts } from './report.js';
import { missingToolsMessage } from './required-tools.js';
import { runH2load, runTool, runWrk } from './tools.js';
import { Topology } from './topology.js';

const ROOT = resolve(import.meta.dirname, '../..');

function log(line: string): void {
  console.log(`bench: ${line}`);
}

function build(): void {
  log('npm run build');
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed: the weft gateways run from dist/');
}

/** The variants in a different order each round, so no variant always runs first or last. */
function rotated<T>(items: readonly T[], round: number): T[] {
  const shift = round % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

function formatSample(s: Sample): string {
  const unit = { 'http.rps': 'req/s', 'grpc.rps': 'req/s', 'tcp.gbps': 'Gbit/s' }[s.metric as string] ?? '';
  const value = s.value >= 1000 ? s.value.toFixed(0) : s.value.toFixed(2);
  return `${s.metric} ${value}${unit ? ` ${unit}` : ''}${s.errors > 0 ? ` (${s.errors} errors)` : ''}`;
}

async function warmUp(topology: Topology, options: BenchOptions): Promise<void> {
  const seconds = options.warmupSeconds;
  const s = options.settings;
  for (const variant of options.variants) {
    const targets = topology.targets(variant);
    if (options.measures.includes('http')) {
      await runWrk(targets.http, { connections: s.wrkConnections, threads: s.wrkThreads, seconds });
    }
    if (options.measures.includes('grpc')) {
      await runH2load(targets.grpc, {
        connections: s.h2loadConnections,
        streamsPerConnection: s.h2loadStreams,
        seconds,
        bodyFile: topology.grpcRequestFile,
      });
    }
  }
}

async function memory(topology: Topology, options: BenchOptions): Promise<Sample[]> {
  const [floorKb, samples] = await Promise.all([
    measureRuntimeFloorKb(ROOT, topology.dir),
    gatewayMemory(topology, options),
  ]);
  const floor: Sample = {
    metric: 'rss.floorMb',
    variant: 'weft',
    round: 0,
    value: floorKb / 1024,
    errors: 0,
  };
  log(`memory  floor   ${formatSample(floor)} (${FLOOR_DESCRIPTION})`);
  return [...samples, floor];
}

async function gatewayMemory(topology: Topology, options: BenchOptions): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const variant of options.variants) {
    const targets = topology.targets(variant);
    if (!targets.gatewayPids) continue;
    const entry = new URL(targets.http.url);
    const got = await measureGatewayMemory(
      variant,
      targets.gatewayPids,
      { host: entry.hostname, port: Number(entry.port) },
      targets.http.authority ?? '',
      options.memory,
    );
    samples.push(...got);
    log(`memory  ${variant.padEnd(7)} ${got.map(formatSample).join(', ')}`);
  }
  return samples;
}

/** Probes every chain, measures memory on the fresh gateways, warms up, then runs the rounds. */
async function measureAll(
  topology: Topology,
  options: BenchOptions,
  samples: Sample[],
  loadWindow: { fromUs: number; toUs: number },
): Promise<void> {
  const grpcBody = readFileSync(topology.grpcRequestFile);
  for (const variant of options.variants) {
    const t = topology.targets(variant);
    await probeChain(variant, t.http, t.grpc, grpcBody);
  }
  log(`chains answer correctly: ${options.variants.join(', ')}`);
  // Memory first, while the gateways have carried no load (see gateway-memory.ts).
  if (options.measures.includes('rss')) samples.push(...(await memory(topology, options)));
  log(`warming up (${options.warmupSeconds} s per tool and variant)`);
  await warmUp(topology, options);
  loadWindow.fromUs = monotonicMicros();

  for (let round = 1; round <= options.rounds; round++) {
    for (const measure of LOAD_MEASURES.filter((m) => options.measures.includes(m))) {
      for (const variant of rotated(options.variants, round - 1)) {
        const got = await runMeasure(measure, variant, round, topology, options.settings);
        topology.checkAlive();
        samples.push(...got);
        log(`round ${round}/${options.rounds} ${variant.padEnd(7)} ${got.map(formatSample).join(', ')}`);
        loadWindow.toUs = monotonicMicros();
      }
    }
  }
}

async function bench(options: BenchOptions): Promise<number> {
  const missing = missingToolsMessage(options.measures, options.variants);
  if (missing) {
    console.error(missing);
    return 2;
  }
  if (options.build && options.variants.includes('weft')) build();

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const artifacts = join(ROOT, 'test-artifacts');
  const dir = join(artifacts, `bench-${stamp}`);
  const profileDir = join(dir, 'cpu-profiles');
  mkdirSync(dir, { recursive: true });
  log(`work folder ${relative(ROOT, dir)} (configs, certificates, process logs)`);
  const startedAt = Date.now();
  const loadAtStart = loadavg();

  const topology = await Topology.start({
    dir,
    variants: options.variants,
    weftNodeFlags: options.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    log,
  });
  const stop = () => {
    log('interrupted: stopping everything');
    void topology.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  const weftPids = options.variants.includes('weft') ? topology.targets('weft').gatewayPids : undefined;
  const samples: Sample[] = [];
  /** When the measured rounds ran: CPU profiles are summarized over this window only. */
  const loadWindow = { fromUs: 0, toUs: 0 };
  let failure: string | undefined;
  try {
    await measureAll(topology, options, samples, loadWindow);
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    log(`stopped early, reporting what was measured: ${failure}`);
  } finally {
    await topology.close();
  }

  const summaries = summarizeAll(samples);
  const budget = verdicts(samples, summaries);
  console.log(
    `\nMeasurements: median and range over ${options.rounds} interleaved round(s); memory over ` +
      `${options.memory.steps} step(s) of ${options.memory.connectionsPerStep} idle connections\n`,
  );
  console.log(formatSummaries(summaries));
  console.log('\nPerformance budget (DESIGN.md)\n');
  console.log(formatVerdicts(budget));

  const profiles = options.cpuProfile ? listProfiles(profileDir) : [];
  for (const profile of profiles) {
    const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(profile)?.[1]);
    const gateway =
      pid === weftPids?.a ? 'weft gateway A' : pid === weftPids?.b ? 'weft gateway B' : 'process';
    console.log(
      `\nCPU profile of ${gateway} (${relative(ROOT, profile)})\n${summarizeProfile(profile, loadWindow, 20)}`,
    );
  }

  const jsonFile = join(artifacts, `bench-${stamp}.json`);
  writeFileSync(
    jsonFile,
    `${JSON.stringify(
      {
        startedAt: new Date(startedAt).toISOString(),
        durationS: Math.round((Date.now() - startedAt) / 1000),
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model,
          kernel: release(),
          node: process.version,
          haproxy: (await runTool('haproxy', ['-v'], 5_000).catch(() => '')).split('\n')[0],
          loadAverageAtStart: loadAtStart,
          loadAverageAtEnd: loadavg(),
        },
        options,
        summaries,
        verdicts: budget,
        samples,
        cpuProfiles: profiles.map((p) => relative(ROOT, p)),
        failure: failure ?? null,
      },
      null,
      2,
    )}\n`,
  );
  log(`results written to ${relative(ROOT, jsonFile)}`);
  if (failure) console.error(`bench: the run stopped early: ${failure}`);
  return failure ? 1 : 0;
}

function listProfiles(profileDir: string): string[] {
  try {
    return readdirSync(profileDir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(profileDir, f));
  } catch {
    return [];
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  try {
    return await bench(options);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

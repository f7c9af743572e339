// `npm run bench -- [flags]`: which measures and variants to run, how many interleaved rounds, and how
// long each load lasts. The defaults keep a full run under about ten minutes on a 2-core machine.
import { parseArgs } from 'node:util';
import type { MemoryPlan } from './gateway-memory.js';
import { MEASURES, type Measure, type MeasureSettings } from './measures.js';
import { VARIANTS, type Variant } from './topology.js';

export interface BenchOptions {
  readonly rounds: number;
  readonly measures: readonly Measure[];
  readonly variants: readonly Variant[];
  readonly build: boolean;
  readonly cpuProfile: boolean;
  readonly warmupSeconds: number;
  readonly settings: MeasureSettings;
  readonly memory: MemoryPlan;
}

export const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--only ${MEASURES.join(',')}]
                        [--variants ${VARIANTS.join(',')}] [--no-build] [--cpu-prof]

  --quick        1 round with short loads (about 1.5 minutes): a smoke run, not a result
  --rounds N     interleaved rounds (default 3); each reports the median and range over rounds
  --only LIST    measures to run (default all)
  --variants L   variants to run (default all); ratios need haproxy and weft, added latency direct
  --no-build     skip \`npm run build\` (the weft gateways run from dist/)
  --cpu-prof     run the weft gateways with --cpu-prof; profiles land in the run's artifacts folder`;

export class UsageError extends Error {
  override name = 'UsageError';
}

const FULL: MeasureSettings = {
  httpSeconds: 8,
  grpcSeconds: 8,
  tcpSeconds: 5,
  latencySeconds: 10,
  wrkConnections: 50,
  wrkThreads: 1,
  h2loadConnections: 16,
  h2loadStreams: 8,
  latencyWorkers: 16,
  latencyRatePerWorker: 63,
};

const QUICK: MeasureSettings = { ...FULL, httpSeconds: 3, grpcSeconds: 3, tcpSeconds: 2, latencySeconds: 4 };

function listOf<T extends string>(
  flag: string,
  text: string | undefined,
  allowed: readonly T[],
): readonly T[] {
  if (text === undefined) return allowed;
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
  if (unknown.length > 0 || items.length === 0) {
    throw new UsageError(`${flag}: expected a comma-separated list of ${allowed.join(', ')}; got "${text}"`);
  }
  return allowed.filter((item) => items.includes(item));
}

/** Parses the flags; throws UsageError saying what is wrong. Returns undefined for --help. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        only: { type: 'string' },
        variants: { type: 'string' },
        'no-build': { type: 'boolean', default: false },
        'cpu-prof': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const rounds = values.rounds === undefined ? (values.quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
    throw new UsageError(`--rounds: expected a whole number from 1 to 20; got "${values.rounds}"`);
  }
  return {
    rounds,
    measures: listOf('--only', values.only, MEASURES),
    variants: listOf('--variants', values.variants, VARIANTS),
    build: !values['no-build'],
    cpuProfile: values['cpu-prof'],
    warmupSeconds: values.quick ? 1 : 2,
    settings: values.quick ? QUICK : FULL,
    memory: { warmConnections: 100, connectionsPerStep: 1000, steps: values.quick ? 1 : 3 },
  };
}

// `weft gateway --config gateway.yaml`: runs one gateway until SIGTERM/SIGINT (drain, then exit 0).
// SIGHUP re-reads the config; a bad new config is logged and the running one stays.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';
import type { LogLevel } from '../../logger.js';
import { tuneHeapGrowthForTunnels } from '../heap-growth.js';
import { useLeanAsyncResourceBind } from '../lean-async-bind.js';

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

interface GatewayFlags {
  config: string;
  logLevel: string;
  gatewayId?: string;
}

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('run one gateway')
    .requiredOption('--config <file>', 'gateway config (YAML)')
    .option('--log-level <level>', `log level: ${LEVELS.join(', ')}`, 'info')
    .option('--gateway-id <id>', 'replica id within the cluster (default: <hostname>-<random>)')
    .action(async (flags: GatewayFlags) => {
      if (!LEVELS.includes(flags.logLevel as LogLevel)) {
        throw new GatewayError('USAGE', `--log-level must be one of ${LEVELS.join(', ')}`);
      }
      tuneHeapGrowthForTunnels();
      useLeanAsyncResourceBind();
      const { loadConfigFile } = await import('../../config/index.js');
      const config = await loadConfigFile(flags.config);
      const { createLogger } = await import('../../logger.js');
      const { Gateway } = await import('../../gateway.js');
      const logger = createLogger(flags.logLevel as LogLevel, { cluster: config.cluster });
      const gateway = new Gateway({
        config,
        logger,
        ...(flags.gatewayId ? { gatewayId: flags.gatewayId } : {}),
      });
      await gateway.start();
      await runUntilSignalled(gateway, logger);
    });
}

async function runUntilSignalled(
  gateway: { reload(): Promise<void>; drainAndClose(): Promise<void> },
  logger: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
): Promise<void> {
  const onHangup = () => {
    gateway
      .reload()
      .catch((err: unknown) => logger.error({ err }, 'config reload rejected; keeping the running config'));
  };
  process.on('SIGHUP', onHangup);
  const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGTERM', () => resolveSignal('SIGTERM'));
    process.once('SIGINT', () => resolveSignal('SIGINT'));
  });
  process.off('SIGHUP', onHangup);
  logger.info({ signal }, 'draining');
  await gateway.drainAndClose();
  logger.info({}, 'stopped');
}

// `weft gateway --config gateway.yaml`: runs one gateway until SIGTERM/SIGINT (drain, then exit 0).
// SIGHUP re-reads the config; a bad new config is logged and the running one stays.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';
import type { LogLevel } from '../../logger.js';
import { refuseEarlySighup } from '../early-sighup.js';
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
      // Refused until the gateway's own handler is installed (the entry point started refusing already).
      const handOverSighup = refuseEarlySighup();
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
      // Before start(), which may wait for Redis: a signal that early must not kill the process.
      const stop = stopSignal(gateway, logger);
      handOverSighup();
      await gateway.start();
      const signal = await stop;
      logger.info({ signal }, 'draining');
      await gateway.drainAndClose();
      logger.info({}, 'stopped');
    });
}

/**
 * Handles the process's signals for the gateway's lifetime: SIGHUP reloads the config (the gateway
 * refuses while starting or draining, and says so), and the first SIGTERM or SIGINT resolves the
 * returned promise. A second SIGTERM or SIGINT during the drain has Node's default effect: exit now.
 */
function stopSignal(
  gateway: { reload(): Promise<void> },
  logger: { error(obj: object, msg: string): void },
): Promise<NodeJS.Signals> {
  process.on('SIGHUP', () => {
    gateway
      .reload()
      .catch((err: unknown) => logger.error({ err }, 'config reload rejected; keeping the running config'));
  });
  return new Promise<NodeJS.Signals>((resolveSignal) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolveSignal(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

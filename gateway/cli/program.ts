// The `weft` command line: one subcommand per file in commands/. Exit codes: 0 success, 1 runtime
// failure, 2 bad usage or bad config (the message says what to fix).
import { Command, CommanderError } from 'commander';
import { GatewayError } from '../errors.js';
import { InfraError } from '../../infra/index.js';
import { registerCertsCommand } from './commands/certs.js';
import { registerCheckCommand } from './commands/check.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDnsCommand } from './commands/dns.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerStatusCommand } from './commands/status.js';
import { registerTopCommand } from './commands/top.js';
import { WEFT_VERSION } from './version.js';

const USAGE_CODES = new Set(['USAGE', 'CONFIG_INVALID', 'CONFIG_UNREADABLE']);

export function buildProgram(): Command {
  const program = new Command('weft')
    .description('weft — multi-cloud mesh federation gateway')
    .version(WEFT_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerGatewayCommand(program);
  registerDemoCommand(program);
  registerCertsCommand(program);
  registerStatusCommand(program);
  registerTopCommand(program);
  registerCheckCommand(program);
  registerDnsCommand(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    return exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    if (err.code === 'commander.help') return 0;
    return 2;
  }
  if (err instanceof GatewayError) {
    console.error(`weft: ${err.message}`);
    return USAGE_CODES.has(err.code) ? 2 : 1;
  }
  if (err instanceof InfraError) {
    // Certificates, keys, DNS providers: the message names the file or the provider and the problem.
    console.error(`weft: ${err.message}`);
    return 1;
  }
  console.error(`weft: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return 1;
}

// `weft demo`: placeholder until its issue lands.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('(not built yet)')
    .action(() => {
      throw new GatewayError('INTERNAL', '`weft demo` is not built yet');
    });
}

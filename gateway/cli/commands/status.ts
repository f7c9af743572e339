// `weft status`: placeholder until its issue lands.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('(not built yet)')
    .action(() => {
      throw new GatewayError('INTERNAL', '`weft status` is not built yet');
    });
}

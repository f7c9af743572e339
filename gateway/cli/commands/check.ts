// `weft check`: placeholder until its issue lands.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('(not built yet)')
    .action(() => {
      throw new GatewayError('INTERNAL', '`weft check` is not built yet');
    });
}

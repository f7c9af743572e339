// `weft gateway`: placeholder until its issue lands.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('(not built yet)')
    .action(() => {
      throw new GatewayError('INTERNAL', '`weft gateway` is not built yet');
    });
}

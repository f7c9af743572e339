// `weft certs`: placeholder until its issue lands.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';

export function registerCertsCommand(program: Command): void {
  program
    .command('certs')
    .description('(not built yet)')
    .action(() => {
      throw new GatewayError('INTERNAL', '`weft certs` is not built yet');
    });
}

#!/usr/bin/env node
// The `weft` entry point. A gateway refuses SIGHUP before anything else loads (the command line's modules
// take a fraction of a second, during which Node's default would end the process); then the program runs.
import { refuseEarlySighup } from './early-sighup.js';

if (process.argv[2] === 'gateway') refuseEarlySighup();
const { main } = await import('./program.js');
process.exitCode = await main(process.argv.slice(2));

// `weft demo [--smoke]`: a three-cloud fabric on loopback until Ctrl-C, or (--smoke) exercised end to end
// with one pass/fail line per step and exit 0/1.
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';

interface DemoFlags {
  smoke?: boolean;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a 3-cloud fabric on loopback until Ctrl-C (--smoke: exercise it end to end, exit 0/1)')
    .option('--smoke', 'make the demo calls, print pass/fail per step, and exit')
    .action(async (flags: DemoFlags) => {
      const { DemoFabric } = await import('../../demo/demo-fabric.js');
      const fabric = new DemoFabric({
        ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
        onProgress: (step) => console.log(`… ${step}`),
      });
      const stop = () => void fabric.close().finally(() => process.exit(130));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await fabric.start();
        if (flags.smoke) {
          const { runSmoke } = await import('../../demo/smoke.js');
          const ok = await runSmoke(fabric, (r) =>
            console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${r.ms} ms) ${r.detail}`),
          );
          console.log(ok ? 'smoke: all steps passed' : 'smoke: FAILED');
          if (!ok) {
            for (const g of fabric.gateways)
              console.log(`--- ${g.cluster.name} gateway log ---\n${g.process.logTail(15)}`);
            throw new GatewayError(
              'INTERNAL',
              'demo smoke run failed: see the failed steps and gateway logs above',
            );
          }
          return;
        }
        const { demoGuide } = await import('../../demo/demo-guide.js');
        console.log(demoGuide(fabric));
        await new Promise<never>(() => undefined);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await fabric.close();
      }
    });
}

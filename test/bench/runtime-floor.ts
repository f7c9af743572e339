// The memory floor under the idle-RSS budget line: a Node process that loads what a gateway cannot do
// without — the data path's built-ins and the libraries DESIGN.md names that a gateway loads at start —
// and runs no gateway code. Measured the same way and in the same run as the gateways, so the report can
// show how much of a gateway's idle RSS is its own.
import { join } from 'node:path';
import { quietResidentKb } from './gateway-memory.js';
import { ManagedProcess } from './managed-process.js';

/**
 * node:tls and node:http2 carry the peer transport; @grpc/grpc-js, ioredis and hono (served through its
 * Node adapter) are named by DESIGN.md. @aws-sdk/client-route-53, also named, is loaded only by a gateway
 * that publishes to Route 53, and so is left out here as it is in the measured gateways.
 */
const FLOOR_MODULES = [
  'node:tls',
  'node:http2',
  '@grpc/grpc-js',
  'ioredis',
  'hono',
  '@hono/node-server',
] as const;

const FLOOR_SCRIPT =
  FLOOR_MODULES.map((name) => `await import(${JSON.stringify(name)});`).join(' ') +
  ' setInterval(() => {}, 1 << 30);';

/** Starts the floor process (resolving packages from `root`), reads its quiet RSS in KB, stops it. */
export async function measureRuntimeFloorKb(root: string, dir: string): Promise<number> {
  const floor = ManagedProcess.start({
    name: 'runtime floor',
    command: process.execPath,
    args: ['--input-type=module', '--eval', FLOOR_SCRIPT],
    logFile: join(dir, 'runtime-floor.log'),
    cwd: root,
  });
  try {
    const kb = await quietResidentKb(floor.pid);
    if (floor.exit !== undefined) throw new Error(`runtime floor ${floor.exit}; ${floor.logTail()}`);
    return kb;
  } finally {
    await floor.stop();
  }
}

export const FLOOR_DESCRIPTION = `Node ${process.versions.node} with ${FLOOR_MODULES.join(', ')} loaded`;

// A gateway's discovery client in a child process, for tests that SIGKILL it: registers the services
// named in WEFT_SERVICES with the Redis at REDIS_URL (snapshot at WEFT_SNAPSHOT_FILE), prints "ready"
// once its lease is in Redis, and then runs until killed.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Discovery } from '../../discovery/index.js';
import { FAST_TIMINGS, service } from './discovery-fixture.js';

const url = process.env.REDIS_URL ?? '';
const cluster = process.env.WEFT_CLUSTER ?? 'azure-eus';
const discovery = new Discovery({
  redis: { mode: 'standalone', url },
  cluster,
  locality: { cloud: 'azure', region: 'eastus' },
  gatewayId: `child-${process.pid}`,
  peerAddress: '127.0.3.1:4143',
  version: 'child',
  ...FAST_TIMINGS,
  snapshotFile: process.env.WEFT_SNAPSHOT_FILE ?? join(tmpdir(), `weft-discovery-child-${process.pid}.json`),
});
discovery.setLocalServices((process.env.WEFT_SERVICES ?? 'hello').split(',').map((name) => service(name)));
await discovery.start();
const keepAlive = setInterval(() => {
  const status = discovery.status();
  if (status.lease.expiresAt !== null && status.pendingWrites === 0 && !ready) {
    ready = true;
    process.stdout.write('ready\n');
  }
}, 20);
let ready = false;
process.once('SIGTERM', () => {
  clearInterval(keepAlive);
  void discovery.close();
});

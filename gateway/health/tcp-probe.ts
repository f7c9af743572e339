// TCP health check: a connection that opens is healthy; it is closed at once.
import { connect } from 'node:net';
import { abortReason, HEALTHY, unhealthy, type HealthProbe } from './health-probe.js';

export const tcpProbe: HealthProbe = (target, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve(unhealthy(abortReason(signal)));
      return;
    }
    const socket = connect({ host: target.host, port: target.port });
    let settled = false;
    const finish = (result: ReturnType<typeof unhealthy>) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => finish(unhealthy(abortReason(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish(HEALTHY));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(unhealthy(err.code ?? err.message)));
  });

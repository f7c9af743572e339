// TCP health check: a connection that opens is healthy; it is closed at once.
import { connect } from 'node:net';
import { HEALTHY, probeAttempt, unhealthy, type HealthProbe } from './health-probe.js';

export const tcpProbe: HealthProbe = (target, signal) =>
  probeAttempt(signal, (finish) => {
    const socket = connect({ host: target.host, port: target.port });
    socket.once('connect', () => finish(HEALTHY));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(unhealthy(err.code ?? err.message)));
    return () => socket.destroy();
  });

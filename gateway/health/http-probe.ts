// HTTP health check: GET <path> on a fresh connection (so a listener that stopped accepting is noticed);
// any 2xx or 3xx answer is healthy, like Kubernetes probes. The body is not read.
import { request } from 'node:http';
import { formatHostPort } from '../config/index.js';
import { HEALTHY, probeAttempt, unhealthy, type HealthProbe } from './health-probe.js';

const USER_AGENT = 'weft-health-check';

export function httpProbe(path: string): HealthProbe {
  return (target, signal) =>
    probeAttempt(signal, (finish) => {
      const req = request({
        host: target.host,
        port: target.port,
        path,
        method: 'GET',
        agent: false,
        headers: { host: formatHostPort(target), 'user-agent': USER_AGENT, connection: 'close' },
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        res.destroy();
        finish(status >= 200 && status < 400 ? HEALTHY : unhealthy(`HTTP ${status}`));
      });
      req.once('error', (err: NodeJS.ErrnoException) => finish(unhealthy(err.code ?? err.message)));
      req.end();
      return () => req.destroy();
    });
}

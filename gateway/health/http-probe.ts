// HTTP health check: GET <path> on a fresh connection (so a listener that stopped accepting is noticed);
// any 2xx or 3xx answer is healthy, like Kubernetes probes. The body is not read.
import { request } from 'node:http';
import { formatHostPort } from '../config/index.js';
import { abortReason, HEALTHY, unhealthy, type HealthProbe } from './health-probe.js';

const USER_AGENT = 'weft-health-check';

export function httpProbe(path: string): HealthProbe {
  return (target, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) {
        resolve(unhealthy(abortReason(signal)));
        return;
      }
      let settled = false;
      const finish = (result: ReturnType<typeof unhealthy>) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        req.destroy();
        resolve(result);
      };
      const req = request({
        host: target.host,
        port: target.port,
        path,
        method: 'GET',
        agent: false,
        headers: { host: formatHostPort(target), 'user-agent': USER_AGENT, connection: 'close' },
      });
      const onAbort = () => finish(unhealthy(abortReason(signal)));
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        res.destroy();
        finish(status >= 200 && status < 400 ? HEALTHY : unhealthy(`HTTP ${status}`));
      });
      req.once('error', (err: NodeJS.ErrnoException) => finish(unhealthy(err.code ?? err.message)));
      req.end();
    });
}

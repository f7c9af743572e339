// An outbound listener on its own, with no data plane behind it: requests go to the handlers a test
// gives (any other is refused with an error), HTTP/2 callers are pinged every 200 ms.
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { OutboundListener, type OutboundHandlers } from '../../gateway/listeners/outbound-listener.js';
import { RequestMetrics } from '../../gateway/listeners/request-metrics.js';

export async function startBareOutboundListener(
  t: TestContext,
  host: string,
  handlers: Partial<OutboundHandlers>,
): Promise<OutboundListener> {
  const metrics = new RequestMetrics(new Registry(), () => new Map());
  const refuse = () => {
    throw new Error('no request is expected');
  };
  const listener = new OutboundListener(
    { host, port: 0 },
    100,
    {
      onFastRequest: refuse,
      onRequest: refuse,
      onUpgrade: refuse,
      onConnect: refuse,
      onStream: refuse,
      onAcceptError: () => undefined,
      onSessionLost: () => undefined,
      ...handlers,
    },
    metrics,
    metrics.statsFor('outbound', 'a', '(unknown)', '(none)'),
    undefined,
    200,
  );
  await listener.start();
  t.after(() => listener.destroy());
  return listener;
}

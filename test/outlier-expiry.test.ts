// An endpoint's ejection ends at its time, even when the route is rebuilt for something else before the
// gateway's next sweep: a rebuild sweeps first, so the return is named and the endpoint is back.
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutlierTracker } from '../gateway/resilience/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { waitFor } from './helpers/wait.js';

test('a rebuild after an ejection ended, before any sweep, has the endpoint back', async (t) => {
  const outliers = new OutlierTracker({
    consecutiveLocalOriginFailures: 3,
    consecutive5xx: 5,
    baseEjectionMs: 50,
    maxEjectionMs: 1_000,
    maxEjectionPercent: 50,
    failurePercentage: { threshold: 0, minRequests: 20, windowMs: 10_000 },
  });
  const endpoints = ['127.0.98.2:1', '127.0.98.3:1'];
  const fabric = await TestFabric.start(
    [{ cluster: 'a', host: '127.0.98.1', services: [{ name: 's', endpoints }] }],
    {
      outliers,
      endpointHealthy: (service, endpoint) => outliers.endpointAvailable(service, endpoint),
    },
  );
  t.after(() => fabric.close());
  const a = fabric.gateway('a').dataPlane;
  const local = () => a.state().routes.find((r) => r.service === 's.default')?.local;
  for (let i = 0; i < 3; i++) outliers.endpoints.report('s.default', endpoints[0] as string, 'local-origin');
  await turn();
  assert.deepEqual(local(), [endpoints[1]], 'ejected');
  await waitFor(
    'the ejection to end',
    () => !outliers.endpoints.isEjected('s.default', endpoints[0] as string),
    5_000,
  );
  fabric.view.publish([...fabric.view.snapshot().clusters.values()]);
  await turn();
  assert.deepEqual(local(), endpoints, 'back, with no sweep but the rebuild’s');
});

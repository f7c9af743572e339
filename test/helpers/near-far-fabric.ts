// Two clusters for tests that compare a local call with one across clusters: a (127.0.1.1) serves `near`,
// b (127.0.2.1) serves `far`, each from its own endpoint; callers call through a.
import { once } from 'node:events';
import { after, before } from 'node:test';
import type { AddressInfo, Server } from 'node:net';
import { TestFabric, type GatewaySpec } from './dataplane-fabric.js';

/** Starts `server` on an ephemeral port of `host`; its address as host:port. */
export async function endpointOn(server: Server, host: string): Promise<string> {
  server.listen(0, host);
  await once(server, 'listening');
  return `${host}:${(server.address() as AddressInfo).port}`;
}

/** The two gateways, `extra` (protocol, failover section) applying to both services and gateways. */
export function startNearAndFar(
  near: string,
  far: string,
  extra: { readonly protocol?: 'http' | 'grpc'; readonly failover?: GatewaySpec['failover'] } = {},
): Promise<TestFabric> {
  const protocol = extra.protocol ?? 'http';
  const failover = extra.failover ? { failover: extra.failover } : {};
  return TestFabric.start([
    {
      cluster: 'a',
      host: '127.0.1.1',
      services: [{ name: 'near', protocol, endpoints: [near] }],
      ...failover,
    },
    { cluster: 'b', host: '127.0.2.1', services: [{ name: 'far', protocol, endpoints: [far] }], ...failover },
  ]);
}

/**
 * Registers the suite's hooks: before it, one `serve()` server on each of `hosts` (near, far) and the two
 * gateways; after it, all closed. `fabric` is there once the suite runs.
 */
export function useNearAndFar(
  serve: () => Server,
  hosts: readonly [string, string],
): { readonly fabric: TestFabric } {
  const servers: Server[] = [];
  const suite: { fabric: TestFabric } = { fabric: undefined as unknown as TestFabric };
  before(async () => {
    const [near, far] = await Promise.all(
      hosts.map((host) => {
        const server = serve();
        servers.push(server);
        return endpointOn(server, host);
      }),
    );
    suite.fabric = await startNearAndFar(near as string, far as string);
  });
  after(async () => {
    await suite.fabric?.close();
    for (const server of servers) server.close();
  });
  return suite;
}

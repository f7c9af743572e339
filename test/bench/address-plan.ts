// Where every process of the benchmark listens. Each simulated cluster has its own loopback address
// (cluster A 127.0.1.x, cluster B and its upstream 127.0.2.x), and each gateway implementation its own
// address inside the cluster, so the two chains never share a listener. Ports are picked free at start.
import { freePort } from '../../gateway/demo/free-port.js';
import type { HostPort } from '../../gateway/config/index.js';

export type { HostPort };

export interface AddressPlan {
  readonly upstream: { readonly http: HostPort; readonly grpc: HostPort; readonly iperf: HostPort };
  readonly weftA: {
    readonly outbound: HostPort;
    readonly peer: HostPort;
    readonly admin: HostPort;
    readonly control: HostPort;
    readonly tcp: HostPort;
  };
  readonly weftB: {
    readonly outbound: HostPort;
    readonly peer: HostPort;
    readonly admin: HostPort;
    readonly control: HostPort;
  };
  readonly haproxyA: { readonly outbound: HostPort; readonly tcp: HostPort };
  readonly haproxyB: { readonly peerHttp: HostPort; readonly peerTcp: HostPort };
}

export const CLUSTER_A_HOST = '127.0.1.1';
export const CLUSTER_B_HOST = '127.0.2.1';
const HAPROXY_A_HOST = '127.0.1.2';
const HAPROXY_B_HOST = '127.0.2.2';
const UPSTREAM_HOST = '127.0.2.10';

async function at(host: string): Promise<HostPort> {
  return { host, port: await freePort(host) };
}

export async function planAddresses(): Promise<AddressPlan> {
  return {
    upstream: {
      http: await at(UPSTREAM_HOST),
      grpc: await at(UPSTREAM_HOST),
      iperf: await at(UPSTREAM_HOST),
    },
    weftA: {
      outbound: await at(CLUSTER_A_HOST),
      peer: await at(CLUSTER_A_HOST),
      admin: await at(CLUSTER_A_HOST),
      control: await at(CLUSTER_A_HOST),
      tcp: await at(CLUSTER_A_HOST),
    },
    weftB: {
      outbound: await at(CLUSTER_B_HOST),
      peer: await at(CLUSTER_B_HOST),
      admin: await at(CLUSTER_B_HOST),
      control: await at(CLUSTER_B_HOST),
    },
    haproxyA: { outbound: await at(HAPROXY_A_HOST), tcp: await at(HAPROXY_A_HOST) },
    haproxyB: { peerHttp: await at(HAPROXY_B_HOST), peerTcp: await at(HAPROXY_B_HOST) },
  };
}

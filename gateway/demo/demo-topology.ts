// The demo fabric's shape: three clusters in three clouds on their own loopback addresses, and where
// each sample workload runs. One service (hello) runs in two clouds so local-first and failover show.

export type WorkloadKind = 'http' | 'grpc' | 'tcp';

export interface DemoWorkload {
  readonly service: string;
  readonly kind: WorkloadKind;
}

export interface DemoCluster {
  readonly name: string;
  readonly cloud: string;
  readonly region: string;
  /** The loopback address the cluster's gateway and workloads bind. */
  readonly host: string;
  readonly workloads: readonly DemoWorkload[];
}

export const DEMO_TRUST_DOMAIN = 'demo.weft.test';
export const DEMO_ZONE = 'clusterset.local';

export const DEMO_CLUSTERS: readonly DemoCluster[] = [
  {
    name: 'aws-use1',
    cloud: 'aws',
    region: 'us-east-1',
    host: '127.0.1.1',
    workloads: [{ service: 'hello', kind: 'http' }],
  },
  {
    name: 'gcp-euw1',
    cloud: 'gcp',
    region: 'europe-west1',
    host: '127.0.2.1',
    workloads: [
      { service: 'hello', kind: 'http' },
      { service: 'greeter', kind: 'grpc' },
    ],
  },
  {
    name: 'azure-weu',
    cloud: 'azure',
    region: 'westeurope',
    host: '127.0.3.1',
    workloads: [{ service: 'echo', kind: 'tcp' }],
  },
];

/** The cluster whose gateway the printed commands and the smoke run call through. */
export const DEMO_ENTRY_CLUSTER = 'aws-use1';
/** The opaque TCP port the entry gateway binds for the echo service. */
export const DEMO_TCP_SERVICE = 'echo.default';

// The whole benchmark topology on loopback, started once per run and shared by every round:
//
//   load generator ──► upstream                                   (direct)
//   load generator ──► HAProxy A ══ h2 + mTLS ══► HAProxy B ──► upstream
//   load generator ──► weft A    ══ mTLS ═══════► weft B    ──► upstream
//
// `targets(variant)` says where each measure sends its load for one variant. Processes start in
// dependency order and stop in reverse; close() is safe after a partial start.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';
import { formatHostPort } from '../../gateway/config/index.js';
import { planAddresses, type AddressPlan } from './address-plan.js';
import { createBenchCertificates } from './bench-certificates.js';
import { startHaproxyChain, type HaproxyChain } from './haproxy-chain.js';
import { stopAllProcesses } from './managed-process.js';
import type { HttpTarget, TcpTarget } from './tools.js';
import { grpcFrame, startUpstream, type Upstream } from './upstream.js';
import {
  BENCH_TRUST_DOMAIN,
  CLUSTER_A,
  CLUSTER_B,
  SERVICES,
  startWeftChain,
  type WeftChain,
} from './weft-chain.js';

export const VARIANTS = ['direct', 'haproxy', 'weft'] as const;
export type Variant = (typeof VARIANTS)[number];

export const HTTP_AUTHORITY = `${SERVICES.http}.default`;
export const GRPC_AUTHORITY = `${SERVICES.grpc}.default`;
const GRPC_PATH = '/bench.Bench/Call';

export interface VariantTargets {
  readonly http: HttpTarget;
  readonly grpc: HttpTarget;
  readonly tcp: TcpTarget;
  /** The gateway processes (A first); empty for direct calls. */
  readonly gatewayPids: { readonly a: number; readonly b: number } | undefined;
}

export interface TopologyOptions {
  readonly dir: string;
  readonly variants: readonly Variant[];
  /** Extra node flags for the weft gateways (profiling). */
  readonly weftNodeFlags: readonly string[];
  readonly log: (line: string) => void;
}

export class Topology {
  readonly dir: string;
  /** The gRPC request body file h2load sends: one small message frame. */
  readonly grpcRequestFile: string;
  private plan: AddressPlan | undefined;
  private upstream: Upstream | undefined;
  private redis: RedisServerProcess | undefined;
  private haproxy: HaproxyChain | undefined;
  private weft: WeftChain | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.grpcRequestFile = join(dir, 'request.grpc');
  }

  static async start(o: TopologyOptions): Promise<Topology> {
    mkdirSync(o.dir, { recursive: true });
    const topology = new Topology(o.dir);
    try {
      await topology.provision(o);
      return topology;
    } catch (err) {
      await topology.close();
      throw err;
    }
  }

  private async provision(o: TopologyOptions): Promise<void> {
    writeFileSync(this.grpcRequestFile, grpcFrame(Buffer.alloc(64, 'r')));
    const plan = await planAddresses();
    this.plan = plan;
    const certs = await createBenchCertificates(join(o.dir, 'certs'), BENCH_TRUST_DOMAIN, {
      a: CLUSTER_A,
      b: CLUSTER_B,
    });
    o.log('starting upstream (nginx, iperf3 server)');
    this.upstream = await startUpstream(join(o.dir, 'upstream'), {
      host: plan.upstream.http.host,
      httpPort: plan.upstream.http.port,
      grpcPort: plan.upstream.grpc.port,
      iperfPort: plan.upstream.iperf.port,
    });
    if (o.variants.includes('haproxy')) {
      o.log('starting HAProxy chain');
      this.haproxy = await startHaproxyChain(o.dir, plan, certs, `${SERVICES.grpc}.`);
    }
    if (o.variants.includes('weft')) {
      o.log('starting redis-server and the weft chain');
      this.redis = await RedisServerProcess.start();
      this.weft = await startWeftChain({
        dir: o.dir,
        plan,
        certs,
        redisUrl: this.redis.url,
        nodeFlags: o.weftNodeFlags,
      });
    }
  }

  targets(variant: Variant): VariantTargets {
    const plan = this.plan;
    if (!plan) throw new Error('topology not started');
    const via = (
      entry: { host: string; port: number },
      tcp: TcpTarget,
      pids: VariantTargets['gatewayPids'],
    ) => ({
      http: { url: `http://${formatHostPort(entry)}/`, authority: HTTP_AUTHORITY },
      grpc: { url: `http://${formatHostPort(entry)}${GRPC_PATH}`, authority: GRPC_AUTHORITY },
      tcp,
      gatewayPids: pids,
    });
    switch (variant) {
      case 'direct':
        return {
          http: { url: `http://${formatHostPort(plan.upstream.http)}/` },
          grpc: {
            url: `http://${formatHostPort(plan.upstream.grpc)}${GRPC_PATH}`,
            authority: GRPC_AUTHORITY,
          },
          tcp: plan.upstream.iperf,
          gatewayPids: undefined,
        };
      case 'haproxy': {
        const chain = this.haproxy;
        if (!chain) throw new Error('the HAProxy chain was not started');
        return via(plan.haproxyA.outbound, plan.haproxyA.tcp, { a: chain.a.pid, b: chain.b.pid });
      }
      case 'weft': {
        const chain = this.weft;
        if (!chain) throw new Error('the weft chain was not started');
        return via(plan.weftA.outbound, plan.weftA.tcp, { a: chain.a.pid, b: chain.b.pid });
      }
    }
  }

  /** Whether every started process is still running; names the first that is not. */
  checkAlive(): void {
    for (const child of [
      this.upstream?.nginx,
      this.upstream?.iperf,
      this.haproxy?.a,
      this.haproxy?.b,
      this.weft?.a,
      this.weft?.b,
    ]) {
      if (child?.exit !== undefined) throw new Error(`${child.name} ${child.exit}; see ${child.logFile}`);
    }
  }

  /** Stops everything in reverse start order. Idempotent. */
  async close(): Promise<void> {
    await this.weft?.a.stop();
    await this.weft?.b.stop();
    await this.redis?.stop();
    await this.haproxy?.a.stop();
    await this.haproxy?.b.stop();
    await this.upstream?.iperf.stop();
    await this.upstream?.nginx.stop();
    await stopAllProcesses();
  }
}

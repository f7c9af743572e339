// Starts the HAProxy reference chain: gateway B first (it owns the upstream side), then gateway A.
// Each runs in the foreground (-db) as a single process, so its pid is the one whose RSS we read.
// HAProxy binds every listener before it accepts on any, so one probe per process suffices (probing the
// TCP listeners would open a stray connection to the iperf3 server).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressPlan } from './address-plan.js';
import type { BenchCertificates } from './bench-certificates.js';
import { haproxyGatewayAConfig, haproxyGatewayBConfig } from './haproxy-config.js';
import { ManagedProcess } from './managed-process.js';

export interface HaproxyChain {
  readonly a: ManagedProcess;
  readonly b: ManagedProcess;
}

export async function startHaproxyChain(
  dir: string,
  plan: AddressPlan,
  certs: BenchCertificates,
  grpcAuthorityPrefix: string,
): Promise<HaproxyChain> {
  const bConfig = join(dir, 'haproxy-b.cfg');
  writeFileSync(
    bConfig,
    haproxyGatewayBConfig({
      peerHttp: plan.haproxyB.peerHttp,
      peerTcp: plan.haproxyB.peerTcp,
      grpcAuthorityPrefix,
      httpUpstream: plan.upstream.http,
      grpcUpstream: plan.upstream.grpc,
      tcpUpstream: plan.upstream.iperf,
      tls: { certAndKeyFile: certs.b.certAndKeyFile, caFile: certs.caFile },
    }),
  );
  const aConfig = join(dir, 'haproxy-a.cfg');
  writeFileSync(
    aConfig,
    haproxyGatewayAConfig({
      outbound: plan.haproxyA.outbound,
      tcpListen: plan.haproxyA.tcp,
      peerHttp: plan.haproxyB.peerHttp,
      peerTcp: plan.haproxyB.peerTcp,
      peerDnsName: certs.b.dnsName,
      tls: { certAndKeyFile: certs.a.certAndKeyFile, caFile: certs.caFile },
    }),
  );
  const b = ManagedProcess.start({
    name: 'haproxy B',
    command: 'haproxy',
    args: ['-db', '-f', bConfig],
    logFile: join(dir, 'haproxy-b.log'),
  });
  await b.waitForPort(plan.haproxyB.peerHttp.host, plan.haproxyB.peerHttp.port);
  const a = ManagedProcess.start({
    name: 'haproxy A',
    command: 'haproxy',
    args: ['-db', '-f', aConfig],
    logFile: join(dir, 'haproxy-a.log'),
  });
  await a.waitForPort(plan.haproxyA.outbound.host, plan.haproxyA.outbound.port);
  return { a, b };
}

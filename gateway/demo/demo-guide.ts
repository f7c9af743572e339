// What `weft demo` prints once the fabric is up: what runs where, and commands to paste into another
// terminal that call remote names through the local gateway.
import type { DemoFabric } from './demo-fabric.js';
import { DEMO_ENTRY_CLUSTER, DEMO_ZONE } from './demo-topology.js';

export function demoGuide(fabric: DemoFabric): string {
  const entry = fabric.gateway(DEMO_ENTRY_CLUSTER);
  const entryHost = entry.outbound.slice(0, entry.outbound.lastIndexOf(':'));
  const rows = fabric.gateways.map((g) => {
    const services = g.cluster.workloads.map((w) => `${w.service} (${w.kind})`).join(', ');
    return `  ${g.cluster.name.padEnd(10)} ${g.cluster.cloud.padEnd(6)} ${g.outbound.padEnd(16)} ${g.admin.padEnd(24)} ${services}`;
  });
  const grpcFrame = String.raw`\0\0\0\0\7\n\5world`;
  return [
    '',
    `weft demo: a three-cloud fabric on loopback (Redis ${fabric.redisUrl}, files in ${fabric.dir})`,
    '',
    `  ${'cluster'.padEnd(10)} ${'cloud'.padEnd(6)} ${'outbound'.padEnd(16)} ${'admin'.padEnd(24)} services`,
    ...rows,
    '',
    `Try these in another terminal; each goes through the ${DEMO_ENTRY_CLUSTER} gateway:`,
    '',
    `  # HTTP, local first: served in ${DEMO_ENTRY_CLUSTER}`,
    `  curl -s -H 'Host: hello.default.svc.${DEMO_ZONE}' http://${entry.outbound}/`,
    '  # HTTP pinned to another cloud: crosses to gcp-euw1 over mutual TLS',
    `  curl -s -H 'Host: gcp-euw1.hello.default.svc.${DEMO_ZONE}' http://${entry.outbound}/`,
    '  # gRPC (h2c) to a service that runs only in gcp-euw1 (a raw unary call with curl)',
    `  printf '${grpcFrame}' | curl -s --http2-prior-knowledge -H 'Host: greeter.default.svc.${DEMO_ZONE}' \\`,
    `    -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- \\`,
    `    http://${entry.outbound}/weft.demo.Greeter/SayHello | tr -c '[:print:]' ' '; echo`,
    '  # TCP echo: a local port bound to echo.default, which runs only in azure-weu',
    `  echo 'hello over tcp' | socat - TCP:${entryHost}:${entry.tcpPort}`,
    '  # the fabric as this gateway sees it, and the busiest edges',
    `  npx weft status --admin ${entry.admin}`,
    `  npx weft top --admin ${entry.admin}`,
    '',
    `Dashboard (live): ${entry.admin}/`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

// `weft demo --smoke`: exercises the demo fabric end to end through the aws-use1 gateway — HTTP local-first,
// HTTP across clouds, gRPC unary and streaming across clouds, TCP echo across clouds — printing one
// pass/fail line per step. Each step retries until its deadline, since discovery converges in the background.
import { randomBytes } from 'node:crypto';
import { chat, greeterClient, httpGet, sayHello, tcpRoundTrip } from './demo-calls.js';
import type { DemoFabric } from './demo-fabric.js';
import { DEMO_ENTRY_CLUSTER, DEMO_ZONE } from './demo-topology.js';

export interface SmokeResult {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly detail: string;
}

interface SmokeStep {
  readonly name: string;
  /** Returns a short detail on success; throws with the reason on failure. */
  run(): Promise<string>;
}

export async function runSmoke(
  fabric: DemoFabric,
  report: (result: SmokeResult) => void,
  stepTimeoutMs = 8000,
): Promise<boolean> {
  let allOk = true;
  for (const step of smokeSteps(fabric)) {
    const result = await runStep(step, stepTimeoutMs);
    report(result);
    allOk &&= result.ok;
  }
  return allOk;
}

async function runStep(step: SmokeStep, timeoutMs: number): Promise<SmokeResult> {
  const started = Date.now();
  let lastError = 'no attempt';
  while (Date.now() - started < timeoutMs) {
    try {
      const detail = await step.run();
      return { name: step.name, ok: true, ms: Date.now() - started, detail };
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { name: step.name, ok: false, ms: Date.now() - started, detail: lastError };
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

function smokeSteps(fabric: DemoFabric): SmokeStep[] {
  const entry = fabric.gateway(DEMO_ENTRY_CLUSTER);
  const helloName = `hello.default.svc.${DEMO_ZONE}`;
  const greeterName = `greeter.default.svc.${DEMO_ZONE}`;
  return [
    {
      name: 'HTTP local first (hello → aws-use1)',
      async run() {
        const reply = await httpGet(entry.outbound, helloName);
        expect(reply.status === 200, `status ${reply.status}: ${reply.body.trim()}`);
        const body = JSON.parse(reply.body) as { cluster: string };
        expect(body.cluster === DEMO_ENTRY_CLUSTER, `served by ${body.cluster}`);
        return `served by ${body.cluster}`;
      },
    },
    {
      name: 'HTTP across clouds over mTLS (gcp-euw1.hello)',
      async run() {
        const reply = await httpGet(entry.outbound, `gcp-euw1.${helloName}`);
        expect(reply.status === 200, `status ${reply.status}: ${reply.body.trim()}`);
        const body = JSON.parse(reply.body) as { cluster: string; sourceCluster: string | null };
        expect(body.cluster === 'gcp-euw1', `served by ${body.cluster}`);
        expect(body.sourceCluster === DEMO_ENTRY_CLUSTER, `source cluster header ${body.sourceCluster}`);
        return `served by ${body.cluster}, caller ${body.sourceCluster}`;
      },
    },
    {
      name: 'gRPC unary across clouds (greeter → gcp-euw1)',
      async run() {
        const client = greeterClient(entry.outbound, greeterName);
        try {
          const reply = await sayHello(client, 'smoke');
          expect(reply.cluster === 'gcp-euw1', `served by ${reply.cluster}`);
          return `"${reply.message}" from ${reply.cluster}`;
        } finally {
          client.close();
        }
      },
    },
    {
      name: 'gRPC bidirectional stream across clouds',
      async run() {
        const client = greeterClient(entry.outbound, greeterName);
        try {
          const replies = await chat(client, ['a', 'b', 'c']);
          expect(replies.length === 3, `${replies.length} replies`);
          return `${replies.length} messages each way`;
        } finally {
          client.close();
        }
      },
    },
    {
      name: 'TCP echo across clouds (echo → azure-weu), 256 KiB with half-close',
      async run() {
        const payload = randomBytes(256 * 1024);
        const host = entry.outbound.slice(0, entry.outbound.lastIndexOf(':'));
        const echoed = await tcpRoundTrip(host, entry.tcpPort, payload);
        expect(echoed.equals(payload), `got ${echoed.length} bytes back, not the ${payload.length} sent`);
        return `${echoed.length} bytes byte-exact`;
      },
    },
    {
      name: 'failover: hello stops in aws-use1 → served by gcp-euw1',
      async run() {
        await fabric.workload(DEMO_ENTRY_CLUSTER, 'hello')?.close();
        const reply = await httpGet(entry.outbound, helloName);
        expect(reply.status === 200, `status ${reply.status}: ${reply.body.trim()}`);
        const body = JSON.parse(reply.body) as { cluster: string };
        expect(body.cluster === 'gcp-euw1', `still served by ${body.cluster}`);
        return `served by ${body.cluster}`;
      },
    },
  ];
}

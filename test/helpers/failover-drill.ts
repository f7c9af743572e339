// One failure drill on a FailoverFabric: a SteadyClient sends through gateway a; once `servedBefore` has
// answered 20 requests the fault is injected, the drill waits for a's failover decision to give
// `dropped` no share (detection), then for `servedAfter` to answer 25 requests sent after it. The test
// asserts on the stopped client's results and the two instants.
import { waitFor } from './wait.js';
import { SteadyClient, type FailoverFabric } from './failover-fabric.js';

export interface FaultDrill {
  /** The cluster serving before the fault, and how long it may take to answer 20 requests. */
  readonly servedBefore: string;
  readonly warmUpMs: number;
  readonly fault: () => Promise<void> | void;
  /** The cluster a must drop from its shares. */
  readonly dropped: string;
  /** The cluster serving after detection. */
  readonly servedAfter: string;
  /** Undoes the fault before the client stops (e.g. thaws a frozen process). */
  readonly restore?: () => void;
}

export interface DrillResult {
  readonly client: SteadyClient;
  readonly faultAt: number;
  readonly detectedAt: number;
}

export async function runFaultDrill(fabric: FailoverFabric, drill: FaultDrill): Promise<DrillResult> {
  const client = new SteadyClient(fabric.gateway('a').outbound);
  client.start();
  const at = { fault: 0, detected: 0 };
  try {
    await client.waitServedBy(drill.servedBefore, 20, 0, drill.warmUpMs);
    at.fault = Date.now();
    await drill.fault();
    await waitFor(
      `a to give ${drill.dropped} no share`,
      async () => !(await fabric.shares('a')).has(drill.dropped),
      10_000,
    );
    at.detected = Date.now();
    await client.waitServedBy(drill.servedAfter, 25, at.detected, 10_000);
  } finally {
    drill.restore?.();
    await client.stop();
  }
  return { client, faultAt: at.fault, detectedAt: at.detected };
}

// How far V8 lets the old generation grow between full collections in a gateway process. Bulk tunnels
// allocate one short-lived buffer per socket read (64 KiB from a TCP socket, 16 KiB per TLS record),
// outside the JS heap; V8 counts those bytes against the old-generation limit until a collection frees
// them. With V8's default growth (about 1.5× a gateway's ~20 MB live heap) the limit is reached after
// some 10 MB of tunnelled bytes, before the young-generation scavenge that would free the buffers
// cheaply: measured at 3 Gbit/s, ten full mark-compacts a second, their concurrent marking 40% of each
// gateway's CPU. A growth factor of 3 leaves room for the scavenges, which free the buffers long before
// the limit, and a full collection stays rare (idle and loaded RSS were unchanged in that measurement).
import { setFlagsFromString } from 'node:v8';

/** Heap growth factor of 1 + HEAP_GROWING_PERCENT / 100 after each full collection. */
const HEAP_GROWING_PERCENT = 200;

/** Call once, first thing in a process that runs a gateway (V8 reads the flag at each full collection). */
export function tuneHeapGrowthForTunnels(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

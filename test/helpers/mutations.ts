// Seeded random input for the parser and wire fuzz tests: a small deterministic generator and byte
// mutations of well-formed messages (a control character, colon, space, comma, semicolon or byte over 0x7f
// put in or written over one, a byte dropped, the message cut short).

/** A small deterministic generator (mulberry32). */
export function random(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  return {
    int,
    chance: (p: number): boolean => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)] as T,
    bytes: (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256))),
  };
}
export type Random = ReturnType<typeof random>;

const MUTANT_BYTES = [0x0d, 0x0a, 0x00, 0x3a, 0x20, 0x09, 0x7f, 0x80, 0xff, 0x2c, 0x3b];

/** `data` with one to three bytes replaced, inserted or dropped, or cut short, within its first `within` bytes. */
export function mutate(rng: Random, data: Buffer, within = data.length): Buffer {
  let out = Buffer.from(data);
  for (let i = 1 + rng.int(3); i > 0 && out.length > 0; i--) {
    const at = rng.int(Math.min(within, out.length));
    const byte = rng.pick(MUTANT_BYTES);
    switch (rng.int(4)) {
      case 0:
        out[at] = byte;
        break;
      case 1:
        out = Buffer.concat([out.subarray(0, at), Buffer.from([byte]), out.subarray(at)]);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
        break;
      default:
        out = out.subarray(0, at);
    }
  }
  return out;
}

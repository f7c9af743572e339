// Smooth weighted round-robin (nginx's): over a sequence of picks each item is chosen in proportion to
// its weight, spread out rather than in bursts (weights 5,1,1 give a a b a c a a, not a a a a a b c).
// Deterministic and allocation-free per pick; one picker per route-table generation.

export class WeightedPicker<T> {
  private readonly items: readonly T[];
  private readonly weights: readonly number[];
  private readonly current: number[];
  private readonly total: number;
  private next = 0;

  /** `weightOf` must return a positive integer. Items with no weight are never picked. */
  constructor(items: readonly T[], weightOf: (item: T) => number) {
    this.items = items;
    this.weights = items.map((item) => Math.max(0, Math.floor(weightOf(item))));
    this.current = items.map(() => 0);
    this.total = this.weights.reduce((sum, w) => sum + w, 0);
  }

  get size(): number {
    return this.items.length;
  }

  /** Undefined only when there is nothing with a weight. */
  pick(): T | undefined {
    const count = this.items.length;
    if (count === 1) return this.total > 0 ? this.items[0] : undefined;
    if (this.total === 0) return undefined;
    if (this.uniform()) {
      const item = this.items[this.next];
      this.next = (this.next + 1) % count;
      return item;
    }
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < count; i++) {
      const value = (this.current[i] as number) + (this.weights[i] as number);
      this.current[i] = value;
      if (value > bestValue) {
        bestValue = value;
        best = i;
      }
    }
    this.current[best] = bestValue - this.total;
    return this.items[best];
  }

  private uniform(): boolean {
    return this.total === this.weights.length * (this.weights[0] as number);
  }
}

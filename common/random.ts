/**
 * Seeded randomness for everything that must be reproducible from config + seed.
 * Backed by pure-rand's Mersenne Twister (well mixed even for small seeds); `fork(label)` derives an
 * independent stream so adding draws in one place never shifts another.
 */
import prand from 'pure-rand';
import { createHash } from 'node:crypto';

export class Rng {
  private gen: prand.RandomGenerator;

  constructor(readonly seed: number) {
    this.gen = prand.mersenne(seed | 0);
  }

  /** A child stream keyed by a label: Rng(seed).fork('tasks') is stable whatever else draws from Rng(seed). */
  fork(label: string | number): Rng {
    return new Rng(hashSeed(`${this.seed}/${label}`));
  }

  /** Uniform float in [0, 1). */
  next(): number {
    const hi = prand.unsafeUniformIntDistribution(0, (1 << 26) - 1, this.gen);
    const lo = prand.unsafeUniformIntDistribution(0, (1 << 27) - 1, this.gen);
    return (hi * 2 ** 27 + lo) / 2 ** 53;
  }

  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return prand.unsafeUniformIntDistribution(lo, hi, this.gen);
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[this.int(0, items.length - 1)];
  }

  /** Fisher-Yates on a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** k distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, k);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** A 31-bit seed from any string: stable across processes and platforms. */
export function hashSeed(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) & 0x7fffffff;
}

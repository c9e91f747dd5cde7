/**
 * A synthetic copy-and-lookup task for checking that SFT learns before real demonstrations exist.
 *
 * `table` mode (default): `bos k1 k2 k3 | f(k1) f(k2) f(k3) ; c1 c2 c3 = c1 c2 c3 eos`, where f is a fixed random
 * table (drawn from `tableSeed`, shared by train and held-out sets): the model must look each key up in what it
 * learned, at the right offset, and copy the tokens after `=`. Held-out examples are new combinations.
 * `context` mode puts the table in the prompt instead (`bos k1 v1 k2 v2 k3 v3 | q1 a1 ...`), an in-context
 * (induction) lookup that a 2-layer model learns far more slowly (~86% after 1,500 steps here).
 * Only answers, the copy and eos carry loss. Ids: 0 pad, 1 bos, 2 eos, 3 `|`, 4 `;`, 5 `=`, keys, then values.
 */
import { Rng } from '../common/random';
import type { SftExample } from './sft';

export interface CopyLookupConfig {
  mode: 'table' | 'context';
  keys: number;
  values: number;
  /** Keys per example (each is queried once, in shuffled order in context mode). */
  pairs: number;
  copyLength: number;
  tableSeed: number;
}

export const DEFAULT_COPY_LOOKUP: CopyLookupConfig = { mode: 'table', keys: 16, values: 16, pairs: 3, copyLength: 3, tableSeed: 0 };

export function copyLookupVocabSize(config: CopyLookupConfig = DEFAULT_COPY_LOOKUP): number {
  return 6 + config.keys + config.values;
}

export function copyLookupExamples(count: number, seed: number, config: CopyLookupConfig = DEFAULT_COPY_LOOKUP): SftExample[] {
  const rng = new Rng(seed).fork('copy-lookup');
  const tableRng = new Rng(config.tableSeed).fork('copy-lookup/table');
  const table = Array.from({ length: config.keys }, () => tableRng.int(0, config.values - 1));
  const key = (i: number) => 6 + i;
  const value = (i: number) => 6 + config.keys + i;
  return Array.from({ length: count }, () => {
    const tokens: number[] = [1];
    const lossMask: number[] = [0];
    const push = (id: number, trained: boolean) => {
      tokens.push(id);
      lossMask.push(trained ? 1 : 0);
    };
    const keys = rng.sample([...Array(config.keys).keys()], config.pairs);
    if (config.mode === 'table') {
      keys.forEach((k) => push(key(k), false));
      push(3, false);
      keys.forEach((k) => push(value(table[k]), true));
    } else {
      const vals = keys.map(() => rng.int(0, config.values - 1));
      keys.forEach((k, i) => (push(key(k), false), push(value(vals[i]), false)));
      push(3, false);
      for (const i of rng.shuffle([...Array(config.pairs).keys()])) {
        push(key(keys[i]), false);
        push(value(vals[i]), true);
      }
    }
    push(4, false);
    const copied = Array.from({ length: config.copyLength }, () => rng.int(6, 6 + config.keys + config.values - 1));
    copied.forEach((id) => push(id, false));
    push(5, false);
    copied.forEach((id) => push(id, true));
    push(2, true);
    return { tokens, lossMask };
  });
}

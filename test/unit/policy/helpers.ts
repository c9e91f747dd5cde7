/** Shared fixtures for the policy tests: a tiny config and weights large enough that numeric errors show. */
import { Rng } from '../../../common/random';
import { ModelConfig, ModelKind, WeightArrays, weightShapes } from '../../../policy/model';

export const TINY: ModelConfig = { vocabSize: 40, contextLength: 24, layers: 2, heads: 2, width: 16, dropout: 0 };

/** Every weight N(0, 0.3) (LayerNorm gains 1 ± 0.1): unlike the 0.02 init, logits then span several units. */
export function randomWeights(config: ModelConfig, seed: number, kind: ModelKind = 'policy'): WeightArrays {
  const rng = new Rng(seed);
  const out: WeightArrays = {};
  for (const [name, shape] of Object.entries(weightShapes(config, kind))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = name.endsWith('.g') ? 1 + 0.1 * rng.normal() : 0.3 * rng.normal();
    out[name] = { shape, data };
  }
  return out;
}

export function randomIds(rng: Rng, rows: number, length: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length }, () => rng.int(0, vocab - 1)));
}

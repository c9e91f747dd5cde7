import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../policy/backend';
import {
  createCritic,
  createPolicy,
  DEFAULT_MODEL_CONFIG,
  getWeights,
  logits,
  modelFromWeights,
  parameterCount,
  referenceCopy,
  rotaryTables,
  tokenEntropy,
  tokenLogProbs,
  validateConfig,
  values,
} from '../../../policy/model';
import { AdamW, optimizerStep } from '../../../policy/optim';
import { TINY, randomWeights } from './helpers';

beforeAll(() => initBackend({ quiet: true }));

describe('rotary positions', () => {
  /** Rotate x (one head vector) to position t by the tables, written out pair by pair. */
  const rotated = (x: number[], t: number) => {
    const hd = x.length;
    const { cos, sin } = rotaryTables([t], hd);
    return x.map((v, d) => (d < hd / 2 ? v * cos[d] - x[d + hd / 2] * sin[d] : v * cos[d] + x[d - hd / 2] * sin[d]));
  };
  const dot = (a: number[], b: number[]) => a.reduce((sum, v, i) => sum + v * b[i], 0);

  test('tables hold cos and sin of t·10000^(-2i/hd), pair i on dims i and i + hd/2', () => {
    const { cos, sin } = rotaryTables([0, 3], 4);
    expect(Array.from(cos.slice(0, 4))).toEqual([1, 1, 1, 1]);
    expect(cos[4]).toBeCloseTo(Math.cos(3), 6);
    expect(sin[5]).toBeCloseTo(Math.sin(3 / 100), 6);
    expect(cos[6]).toBeCloseTo(Math.cos(3), 6);
  });

  test('a query-key score depends on the offset only, and rotation keeps the norm', () => {
    const q = [0.3, -1.2, 0.8, 0.5, -0.7, 0.1];
    const k = [1.1, 0.4, -0.6, 0.9, 0.2, -1.3];
    expect(dot(rotated(q, 9), rotated(k, 4))).toBeCloseTo(dot(rotated(q, 105), rotated(k, 100)), 5);
    expect(dot(rotated(q, 9), rotated(k, 4))).not.toBeCloseTo(dot(rotated(q, 9), rotated(k, 5)), 2);
    expect(dot(rotated(q, 37), rotated(q, 37))).toBeCloseTo(dot(q, q), 5);
  });
});

describe('model', () => {
  test('the default model has 1-5M parameters', () => {
    const n = parameterCount(DEFAULT_MODEL_CONFIG);
    expect(n).toBeGreaterThan(1e6);
    expect(n).toBeLessThan(5e6);
    expect(parameterCount(DEFAULT_MODEL_CONFIG, 'critic')).toBe(n + DEFAULT_MODEL_CONFIG.width + 1);
  });

  test('configs are validated', () => {
    expect(() => validateConfig({ ...TINY, heads: 3 })).toThrow(/divisible/);
    expect(() => validateConfig({ ...TINY, layers: 0 })).toThrow(/positive integer/);
    expect(() => logits(createPolicy(TINY, 1), [new Array(TINY.contextLength + 1).fill(1)])).toThrow(/contextLength/);
  });

  test('attention is causal: later tokens never change earlier outputs (right padding is safe)', () => {
    const model = modelFromWeights(TINY, 'policy', randomWeights(TINY, 3));
    const [a, b] = tf.tidy(() => [logits(model, [[5, 6, 7, 8, 9]]).arraySync()[0], logits(model, [[5, 6, 7, 0, 0]]).arraySync()[0]]);
    for (let t = 0; t < 3; t++) a[t].forEach((v, i) => expect(Math.abs(v - b[t][i])).toBeLessThan(1e-5));
    expect(Math.abs(a[3][0] - b[3][0])).toBeGreaterThan(1e-6);
  });

  test('token log-probs, entropy and values have shape [B,T] and the right values', () => {
    const model = modelFromWeights(TINY, 'policy', randomWeights(TINY, 4));
    const inputs = [[1, 2, 3], [4, 5, 6]];
    const targets = [[2, 3, 4], [5, 6, 7]];
    tf.tidy(() => {
      const lp = tokenLogProbs(model, inputs, targets);
      expect(lp.shape).toEqual([2, 3]);
      const full = tf.logSoftmax(logits(model, inputs), -1).arraySync();
      lp.arraySync().forEach((row, b) => row.forEach((v, t) => expect(v).toBeCloseTo(full[b][t][targets[b][t]], 5)));
      const entropy = tokenEntropy(model, inputs).arraySync();
      const manual = -full[1][2].reduce((s, l) => s + Math.exp(l) * l, 0);
      expect(entropy[1][2]).toBeCloseTo(manual, 4);
      expect(entropy[1][2]).toBeLessThanOrEqual(Math.log(TINY.vocabSize) + 1e-5);
      const critic = createCritic(TINY, 1);
      expect(values(critic, inputs).shape).toEqual([2, 3]);
      expect(() => values(model, inputs)).toThrow(/critic/);
    });
  });

  test('the reference copy is frozen and unaffected by training the policy', () => {
    const policy = createPolicy(TINY, 2);
    const reference = referenceCopy(policy);
    expect(reference.trainable).toBe(false);
    const before = Array.from(getWeights(reference)['h.0.mlp.w1'].data);
    const optimizer = new AdamW(policy.weights);
    optimizerStep(policy, optimizer, () => tokenLogProbs(policy, [[1, 2, 3]], [[2, 3, 4]]).mean().neg() as tf.Scalar, { learningRate: 0.1 });
    expect(Array.from(getWeights(policy)['h.0.mlp.w1'].data)).not.toEqual(before);
    expect(Array.from(getWeights(reference)['h.0.mlp.w1'].data)).toEqual(before);
    expect(() => optimizerStep(reference, optimizer, () => tf.scalar(0), { learningRate: 0.1 })).toThrow(/frozen/);
  });

  test('the same seed gives the same initial weights; another seed does not', () => {
    const a = getWeights(createPolicy(TINY, 9)).wte.data;
    expect(Array.from(getWeights(createPolicy(TINY, 9)).wte.data)).toEqual(Array.from(a));
    expect(Array.from(getWeights(createPolicy(TINY, 10)).wte.data)).not.toEqual(Array.from(a));
  });
});

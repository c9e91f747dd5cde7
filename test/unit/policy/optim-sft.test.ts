import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../policy/backend';
import { createPolicy, getWeights, logits, modelFromWeights } from '../../../policy/model';
import { randomWeights } from './helpers';
import { AdamW, clipByGlobalNorm, learningRateAt } from '../../../policy/optim';
import { epochOrder, evaluateSft, makeSftBatch, sftTrain } from '../../../policy/sft';
import { Rng } from '../../../common/random';
import { copyLookupExamples, copyLookupVocabSize, CopyLookupConfig } from '../../../policy/synthetic';

beforeAll(() => initBackend({ quiet: true }));

describe('optimiser utilities', () => {
  test('warm-up rises linearly, then cosine decays to the floor', () => {
    const s = { peakLr: 1, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
    expect(learningRateAt(0, s)).toBeCloseTo(0.1);
    expect(learningRateAt(9, s)).toBeCloseTo(1);
    expect(learningRateAt(60, s)).toBeCloseTo(0.55);
    expect(learningRateAt(110, s)).toBeCloseTo(0.1);
    expect(learningRateAt(500, s)).toBeCloseTo(0.1);
  });

  test('global-norm clipping scales all gradients together, only above the limit', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
    expect(norm).toBeCloseTo(5);
    expect(Array.from(clipped.a.dataSync())).toEqual([expect.closeTo(0.6, 5), 0]);
    expect(Array.from(clipped.b.dataSync())).toEqual([0, expect.closeTo(0.8, 5)]);
    expect(Array.from(clipByGlobalNorm(grads, 10).grads.b.dataSync())).toEqual([0, 4]);
  });

  test('AdamW: bias-corrected first step moves by lr·sign(g); decay hits matrices, not vectors', () => {
    const params = { w: tf.variable(tf.tensor2d([[1, -2]])), b: tf.variable(tf.tensor1d([1, -2])) };
    const opt = new AdamW(params, { weightDecay: 0.5 });
    opt.apply({ w: tf.tensor2d([[0.3, -7]]), b: tf.tensor1d([0.3, -7]) }, 0.1);
    // w: decayed by (1 - 0.1·0.5), then minus 0.1·sign(g)
    expect(Array.from(params.w.dataSync())).toEqual([expect.closeTo(1 * 0.95 - 0.1, 5), expect.closeTo(-2 * 0.95 + 0.1, 5)]);
    expect(Array.from(params.b.dataSync())).toEqual([expect.closeTo(0.9, 5), expect.closeTo(-1.9, 5)]);
    expect(opt.stepCount).toBe(1);
  });
});

describe('SFT', () => {
  const task: CopyLookupConfig = { mode: 'table', keys: 8, values: 8, pairs: 2, copyLength: 3, tableSeed: 0 };
  const config = { vocabSize: copyLookupVocabSize(task), contextLength: 16, layers: 2, heads: 2, width: 64, dropout: 0 };

  test('batches shift targets by one and carry the loss mask of the predicted token', () => {
    const batch = makeSftBatch([{ tokens: [1, 7, 8, 2], lossMask: [0, 0, 1, 1] }, { tokens: [1, 9], lossMask: [0, 1] }], 16, 0);
    expect(batch.inputs).toEqual([[1, 7, 8], [1, 0, 0]]);
    expect(batch.targets).toEqual([[7, 8, 2], [9, 0, 0]]);
    expect(batch.mask).toEqual([[0, 1, 1], [1, 0, 0]]);
    expect(batch.maskedTokens).toBe(3);
  });

  test('held-out evaluation equals the full forward pass read at the masked targets', () => {
    const model = modelFromWeights(config, 'policy', randomWeights(config, 9));
    const rng = new Rng(6);
    const examples = Array.from({ length: 5 }, (_, i) => {
      const length = 6 + 2 * i;
      return { tokens: Array.from({ length }, () => rng.int(0, config.vocabSize - 1)), lossMask: Array.from({ length }, (_, t) => (t >= length - 3 || t === 2 ? 1 : 0)) };
    });
    let nll = 0, correct = 0, tokens = 0;
    for (const e of examples) {
      const logp = tf.tidy(() => tf.logSoftmax(logits(model, [e.tokens.slice(0, -1)]), -1).arraySync()[0]); // [T,V]
      for (let t = 1; t < e.tokens.length; t++) {
        if (!e.lossMask[t]) continue;
        const row = logp[t - 1];
        nll -= row[e.tokens[t]];
        correct += row.indexOf(Math.max(...row)) === e.tokens[t] ? 1 : 0;
        tokens++;
      }
    }
    const got = evaluateSft(model, examples, 2);
    expect(got.tokens).toBe(tokens);
    expect(got.loss).toBeCloseTo(nll / tokens, 4);
    expect(got.tokenAccuracy).toBeCloseTo(correct / tokens, 10);
  });

  test('an epoch visits every example once, in batches of similar length', () => {
    const rng = new Rng(3);
    const examples = Array.from({ length: 200 }, (_, i) => ({ tokens: new Array(1 + rng.int(0, 299)).fill(i), lossMask: [] as number[] }));
    const order = epochOrder(examples, 8, new Rng(4));
    expect(new Set(order)).toEqual(new Set(examples));
    expect(order).toHaveLength(examples.length);
    const padded = (list: typeof examples) => {
      let total = 0;
      for (let i = 0; i < list.length; i += 8) {
        const lengths = list.slice(i, i + 8).map((e) => e.tokens.length);
        total += Math.max(...lengths) * lengths.length;
      }
      return total;
    };
    // bucketing pads far less than a plain shuffle of the same examples
    expect(padded(order)).toBeLessThan(0.7 * padded(new Rng(4).shuffle(examples)));
    expect(epochOrder(examples, 8, new Rng(4))).toEqual(order);
  });

  test('learns the synthetic copy-and-lookup task', async () => {
    const train = copyLookupExamples(512, 1, task);
    const heldOut = copyLookupExamples(64, 2, task);
    const model = createPolicy(config, 3);
    const before = evaluateSft(model, heldOut);
    const metrics = await sftTrain(model, train, { steps: 160, batchSize: 16, seed: 4, peakLr: 1e-2, evalExamples: heldOut });
    const after = metrics.evals[metrics.evals.length - 1];
    expect(after.loss).toBeLessThan(before.loss / 3);
    expect(after.tokenAccuracy).toBeGreaterThan(0.95); // chance is 1/22
    expect(metrics.losses).toHaveLength(160);
  });

  test('a copy head copies tokens it never saw as targets; the LM head alone cannot', async () => {
    // bos x1..x4 = x1..x4 eos: training copies ids 4..19, the held-out set ids 20..35 only.
    const copies = (count: number, seed: number, lo: number, hi: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: count }, () => {
        const xs = Array.from({ length: 4 }, () => rng.int(lo, hi));
        return { tokens: [1, ...xs, 3, ...xs, 2], lossMask: [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1] };
      });
    };
    const train = copies(256, 1, 4, 19);
    const heldOut = copies(64, 2, 20, 35);
    const accuracy = async (copyHead: boolean) => {
      const model = createPolicy({ vocabSize: 36, contextLength: 12, layers: 2, heads: 2, width: 32, dropout: 0, copyHead }, 3);
      const metrics = await sftTrain(model, train, { steps: 100, batchSize: 16, seed: 4, peakLr: 1e-2, evalExamples: heldOut });
      return metrics.evals[metrics.evals.length - 1].tokenAccuracy;
    };
    expect(await accuracy(true)).toBeGreaterThan(0.95);
    expect(await accuracy(false)).toBeLessThan(0.25); // eos, 1 in 5 targets, and no copied token
  });

  test('same seed and data give the same weights', async () => {
    const train = copyLookupExamples(64, 1, task);
    const run = async (seed: number) => {
      const model = createPolicy(config, 3);
      await sftTrain(model, train, { steps: 6, batchSize: 8, seed, peakLr: 1e-2 });
      return Array.from(getWeights(model)['h.0.attn.wqkv'].data);
    };
    const a = await run(4);
    expect(await run(4)).toEqual(a);
    expect(await run(5)).not.toEqual(a);
  });
});

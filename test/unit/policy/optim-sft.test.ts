import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../policy/backend';
import { createPolicy, getWeights } from '../../../policy/model';
import { AdamW, clipByGlobalNorm, learningRateAt } from '../../../policy/optim';
import { evaluateSft, makeSftBatch, sftTrain } from '../../../policy/sft';
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

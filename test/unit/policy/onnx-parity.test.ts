import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../common/random';
import { initBackend } from '../../../policy/backend';
import { OrtPolicy } from '../../../policy/generate';
import { logits, modelFromWeights, Model } from '../../../policy/model';
import { exportOnnx, readOnnxConfig } from '../../../policy/onnx-export';
import { TINY, randomIds, randomWeights } from './helpers';

const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe.each([
  ['LM head', TINY],
  ['LM + copy head', { ...TINY, copyHead: true }],
  ['rotary positions and copy head', { ...TINY, copyHead: true, rotary: true }],
])('ONNX export vs tfjs (%s)', (_, config) => {
  let model: Model;
  let ortAll: OrtPolicy;
  const weights = randomWeights(config, 7);
  const ids = randomIds(new Rng(1), 3, 10, TINY.vocabSize);

  beforeAll(async () => {
    await initBackend({ quiet: true });
    model = modelFromWeights(config, 'policy', weights);
    ortAll = await OrtPolicy.load(exportOnnx(weights, config, { logits: 'all' }));
  });

  const tfjsLogits = (batch: number[][]) => tf.tidy(() => logits(model, batch).dataSync() as Float32Array);

  test('reads the model shape back from the graph', () => {
    expect(readOnnxConfig(exportOnnx(weights, config))).toEqual(config);
  });

  test('export is deterministic', () => {
    expect(Buffer.from(exportOnnx(weights, config)).equals(Buffer.from(exportOnnx(weights, config)))).toBe(true);
  });

  test('full-sequence logits match within 1e-4', async () => {
    const expected = tfjsLogits(ids);
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1); // the comparison is not between near-zeros
    const { logits: got } = await ortAll.forward(ids);
    expect(maxAbsDiff(got, expected)).toBeLessThan(TOL);
  });

  test('logits with the KV cache (prefix, then one token at a time) match within 1e-4', async () => {
    const expected = tfjsLogits(ids); // [3,10,V]
    const V = config.vocabSize;
    const prefix = 4;
    let step = await ortAll.forward(ids.map((r) => r.slice(0, prefix)));
    const got: number[][] = ids.map(() => []);
    for (let b = 0; b < 3; b++) got[b].push(...step.logits.subarray(b * prefix * V, (b + 1) * prefix * V));
    for (let t = prefix; t < 10; t++) {
      step = await ortAll.forward(ids.map((r) => [r[t]]), { cache: step.cache, length: t });
      for (let b = 0; b < 3; b++) got[b].push(...step.logits.subarray(b * V, (b + 1) * V));
    }
    expect(maxAbsDiff(got.flat(), expected)).toBeLessThan(TOL);
  });

  test("the 'last' export returns the final position's logits", async () => {
    const ortLast = await OrtPolicy.load(exportOnnx(weights, config, { logits: 'last' }));
    const { logits: got, logitsDims } = await ortLast.forward(ids);
    expect(logitsDims).toEqual([3, 1, config.vocabSize]);
    const expected = tf.tidy(() => logits(model, ids).slice([0, 9, 0], [3, 1, config.vocabSize]).dataSync());
    expect(maxAbsDiff(got, expected)).toBeLessThan(TOL);
    await ortLast.release();
  });
});

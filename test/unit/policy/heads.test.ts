import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../common/random';
import { initBackend } from '../../../policy/backend';
import { logProbsAndEntropyAt, valuesAt } from '../../../policy/heads';
import { logProbsAndEntropy, Model, modelFromWeights, values } from '../../../policy/model';
import { TINY, randomIds, randomWeights } from './helpers';

beforeAll(() => initBackend({ quiet: true }));

/** Heads at chosen positions (last block at those rows only) must equal the full forward pass read there. */
describe.each([
  ['LM head', TINY],
  ['LM + copy head', { ...TINY, copyHead: true }],
  ['rotary positions', { ...TINY, rotary: true }],
])('heads at chosen positions (%s)', (_, config) => {
  const rng = new Rng(5);
  const inputs = randomIds(rng, 3, 20, TINY.vocabSize);
  const targets = randomIds(rng, 3, 20, TINY.vocabSize);
  // Repeats, the first and the last position, unsorted rows.
  const positions = [
    [0, 19, 7, 7],
    [12, 3, 18, 0],
    [5, 6, 9, 10],
  ];
  const chosenTargets = positions.map((row, b) => row.map((t) => targets[b][t]));
  const pick = (full: number[][]) => positions.map((row, b) => row.map((t) => full[b][t]));

  test('log-probs and entropy equal the full pass (1e-5)', () => {
    const policy = modelFromWeights(config, 'policy', randomWeights(config, 1));
    const at = tf.tidy(() => logProbsAndEntropyAt(policy, { inputs, positions, targets: chosenTargets }));
    const full = tf.tidy(() => logProbsAndEntropy(policy, inputs, targets));
    const expected = { logProbs: pick(full.logProbs.arraySync()), entropy: pick(full.entropy.arraySync()) };
    for (const key of ['logProbs', 'entropy'] as const) {
      const got = at[key].arraySync();
      got.forEach((row, b) => row.forEach((v, a) => expect(Math.abs(v - expected[key][b][a])).toBeLessThan(1e-5)));
    }
  });

  test('critic values equal the full pass (1e-5)', () => {
    const critic = modelFromWeights(TINY, 'critic', randomWeights(TINY, 2, 'critic'));
    const got = tf.tidy(() => valuesAt(critic, { inputs, positions, targets: chosenTargets })).arraySync();
    const expected = pick(tf.tidy(() => values(critic, inputs)).arraySync());
    got.forEach((row, b) => row.forEach((v, a) => expect(Math.abs(v - expected[b][a])).toBeLessThan(1e-5)));
  });

  test('gradients of every weight equal the full pass (1e-4)', () => {
    const policy = modelFromWeights(config, 'policy', randomWeights(config, 3));
    const vars = Object.values(policy.weights);
    const grads = (loss: (m: Model) => tf.Scalar) => tf.variableGrads(() => loss(policy), vars).grads;
    const mask = tf.tensor2d(positions.map((row) => row.map(() => 1)));
    const atGrads = grads((m) => logProbsAndEntropyAt(m, { inputs, positions, targets: chosenTargets }).logProbs.mul(mask).sum());
    const weightOf = positions.map((row) => Array.from({ length: 20 }, (_, t) => row.filter((p) => p === t).length));
    const fullGrads = grads((m) => logProbsAndEntropy(m, inputs, targets).logProbs.mul(tf.tensor2d(weightOf)).sum());
    for (const name of Object.keys(policy.weights)) {
      const variable = policy.weights[name].name;
      const a = atGrads[variable].dataSync();
      const f = fullGrads[variable].dataSync();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - f[i]));
      expect({ name, worst: worst < 1e-4 }).toEqual({ name, worst: true });
    }
  });
});

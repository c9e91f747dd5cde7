/**
 * Property: tokens with mask 0 (prompt, tool output, padding) never change any loss or any gradient.
 * Each case builds a random batch, then overwrites every masked entry of every input with other values
 * (including large ones) and checks the loss is bit-identical and the gradient is unchanged on action tokens
 * and exactly 0 on masked ones.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import {
  AggregationMode,
  clippedPolicyLoss,
  clippedValueLoss,
  computeGae,
  entropyFromLogits,
  aggregateLoss,
  klLoss,
  ppoActorLoss,
  reinforcePlusPlusAdvantages,
} from '../../../rl';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const MODES: AggregationMode[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'];
const aggregationOptions = { normLength: 6 }; // C of seq-mean-token-sum-norm

interface Batch {
  mask: number[][];
  /** Five independent [B, T] inputs: a, b, c, d, e. */
  clean: number[][][];
  /** The same with every masked entry replaced. */
  dirty: number[][][];
  mode: AggregationMode;
}

const batchArb: fc.Arbitrary<Batch> = fc
  .record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 6 }) })
  .chain(({ B, T }) => {
    const cell = fc.double({ min: -3, max: 3, noNaN: true });
    const matrix = fc.array(fc.array(cell, { minLength: T, maxLength: T }), { minLength: B, maxLength: B });
    const garbage = fc.array(fc.array(fc.oneof(cell, fc.constantFrom(-1e6, 1e6, 50)), { minLength: T, maxLength: T }), {
      minLength: B,
      maxLength: B,
    });
    const mask = fc
      .array(fc.array(fc.integer({ min: 0, max: 1 }), { minLength: T, maxLength: T }), { minLength: B, maxLength: B })
      .filter((m) => m.flat().some((v) => v === 1));
    return fc.record({
      mask,
      clean: fc.array(matrix, { minLength: 5, maxLength: 5 }),
      garbage: fc.array(garbage, { minLength: 5, maxLength: 5 }),
      mode: fc.constantFrom(...MODES),
    });
  })
  .map(({ mask, clean, garbage, mode }) => ({
    mask,
    clean,
    dirty: clean.map((x, k) => x.map((row, i) => row.map((v, t) => (mask[i][t] ? v : garbage[k][i][t])))),
    mode,
  }));

/** Loss value and its gradient w.r.t. the first input, for one way of building the loss. */
type LossOf = (x: tf.Tensor2D, others: tf.Tensor2D[], mask: tf.Tensor2D, mode: AggregationMode) => tf.Scalar;

function lossAndGrad(lossOf: LossOf, inputs: number[][][], mask: number[][], mode: AggregationMode) {
  return tf.tidy(() => {
    const [x, ...others] = inputs.map((m) => tf.tensor2d(m));
    const m = tf.tensor2d(mask);
    const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => lossOf(v as tf.Tensor2D, others, m, mode))(x);
    return { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
  });
}

function checkMaskInvariance(lossOf: LossOf) {
  fc.assert(
    fc.property(batchArb, ({ mask, clean, dirty, mode }) => {
      const a = lossAndGrad(lossOf, clean, mask, mode);
      const b = lossAndGrad(lossOf, dirty, mask, mode);
      expect(Number.isFinite(a.value)).toBe(true);
      expect(b.value).toBe(a.value);
      mask.forEach((row, i) =>
        row.forEach((m, t) => {
          if (m) expect(b.grad[i][t]).toBe(a.grad[i][t]);
          else expect(b.grad[i][t] === 0 && a.grad[i][t] === 0).toBe(true);
        }),
      );
    }),
    { numRuns: 40 },
  );
}

describe('masked tokens never change a loss or its gradient', () => {
  test('clipped policy loss (w.r.t. log-probs), with dual clip and clip-higher', () => {
    checkMaskInvariance((logProbs, [oldLogProbs, advantages], mask, aggregation) =>
      clippedPolicyLoss({ logProbs, oldLogProbs, advantages, mask }, { clipLow: 0.2, clipHigh: 0.28, dualClip: 3, aggregation, aggregationOptions }).loss,
    );
  });

  test('clipped value loss (w.r.t. values)', () => {
    checkMaskInvariance((values, [oldValues, returns], mask, aggregation) =>
      clippedValueLoss({ values, oldValues, returns, mask }, { clipRange: 0.5, aggregation, aggregationOptions }).loss,
    );
  });

  test.each(['k1', 'k2', 'k3', 'abs'] as const)('KL loss %s (w.r.t. log-probs)', (estimator) => {
    checkMaskInvariance((logProbs, [refLogProbs], mask, aggregation) => klLoss(logProbs, refLogProbs, mask, estimator, aggregation, aggregationOptions));
  });

  test('entropy bonus (w.r.t. the logits of every token)', () => {
    // logits [B, T, V=3] built from three of the generated matrices; the gradient is checked on the first slice
    checkMaskInvariance((x, [y, z], mask, aggregation) =>
      aggregateLoss(entropyFromLogits(tf.stack([x, y, z], 2) as tf.Tensor3D), mask, aggregation, aggregationOptions),
    );
  });
});

describe('masked tokens never change an advantage on an action token', () => {
  test('GAE and REINFORCE++ ignore rewards and values written on masked tokens', () => {
    fc.assert(
      fc.property(batchArb, ({ mask, clean, dirty }) => {
        // rewards at masked positions are part of the "dirty" change too: GAE and RF++ drop them by design
        const a = computeGae(clean[0], clean[1], mask, { gamma: 0.9, lambda: 0.8 });
        const b = computeGae(dirty[0], dirty[1], mask, { gamma: 0.9, lambda: 0.8 });
        expect(b).toEqual(a);
        if (mask.flat().filter((v) => v).length >= 2) {
          const r1 = reinforcePlusPlusAdvantages(clean[0], mask, { gamma: 0.9 });
          const r2 = reinforcePlusPlusAdvantages(dirty[0], mask, { gamma: 0.9 });
          expect(r2).toEqual(r1);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('NaN or ±Inf at masked positions: every gradient stays finite and equals the gradient with zeros there', () => {
  const mask = [
    [1, 1, 0, 0],
    [0, 1, 1, 1],
    [1, 0, 0, 0],
  ];
  const values = (k: number) => mask.map((row, i) => row.map((_, t) => Math.sin(1 + 7 * k + 3 * i + t))); // in [−1, 1]
  const fill = (x: number[][], at: (i: number, t: number) => number) => x.map((row, i) => row.map((v, t) => (mask[i][t] ? v : at(i, t))));
  const zeros = (x: number[][]) => fill(x, () => 0);
  const BAD = [NaN, Infinity, -Infinity];
  // Every input non-finite at every masked position; or one input at a time (the others finite there), which
  // reaches arithmetic that a non-finite log-ratio would have cut off at its clip.
  const allBad = (x: number[][]) => fill(x, (i, t) => BAD[(i + t) % 3]);
  const oneBad = (n: number) => (x: number[][], k: number) => fill(x, (i, t) => ((i + t) % n === k ? BAD[(i + t) % 3] : 0.5 + k));

  /** ∂loss/∂(first input) with `prepare` applied to every input's masked entries. */
  function gradWith(lossOf: LossOf, mode: AggregationMode, prepare: (x: number[][], k: number) => number[][], n: number) {
    return tf.tidy(() => {
      const [x, ...others] = Array.from({ length: n }, (_, k) => tf.tensor2d(prepare(values(k), k)));
      return tf.grad((v: tf.Tensor) => lossOf(v as tf.Tensor2D, others, tf.tensor2d(mask), mode))(x).arraySync() as number[][];
    });
  }

  const cases: [string, number, LossOf][] = [
    ['policy loss w.r.t. log-probs (log-probs, old log-probs, advantages dirty)', 3, (logProbs, [oldLogProbs, advantages], m, aggregation) =>
      clippedPolicyLoss({ logProbs, oldLogProbs, advantages, mask: m }, { clipLow: 0.2, clipHigh: 0.28, dualClip: 3, aggregation, aggregationOptions }).loss],
    ...(['k1', 'k2', 'k3', 'abs'] as const).map((estimator): [string, number, LossOf] => [`KL ${estimator} w.r.t. log-probs (log-probs, reference dirty)`, 2, (logProbs, [refLogProbs], m, aggregation) =>
      klLoss(logProbs, refLogProbs, m, estimator, aggregation, aggregationOptions)]),
    ['actor loss w.r.t. log-probs (every input dirty, entropy and KL terms on)', 5, (logProbs, [oldLogProbs, advantages, refLogProbs, entropy], m, aggregation) =>
      ppoActorLoss({ logProbs, oldLogProbs, advantages, mask: m, refLogProbs, entropy }, { aggregation, aggregationOptions, entropyCoef: 0.01, klCoef: 0.1, klEstimator: 'k2' }).loss],
    ['actor loss w.r.t. entropy (every input dirty)', 5, (entropy, [logProbs, oldLogProbs, advantages, refLogProbs], m, aggregation) =>
      ppoActorLoss({ logProbs, oldLogProbs, advantages, mask: m, refLogProbs, entropy }, { aggregation, aggregationOptions, entropyCoef: 0.01, klCoef: 0.1 }).loss],
    ['value loss w.r.t. values (values, old values, returns dirty)', 3, (v, [oldValues, returns], m, aggregation) =>
      clippedValueLoss({ values: v, oldValues, returns, mask: m }, { clipRange: 0.5, aggregation, aggregationOptions }).loss],
  ];

  test.each(cases.flatMap(([name, n, lossOf]) => MODES.map((mode) => [name, mode, n, lossOf] as const)))('%s, %s', (_, mode, n, lossOf) => {
    const clean = gradWith(lossOf, mode, zeros, n);
    expect(clean.flat().some((g) => g !== 0)).toBe(true);
    for (const dirty of [gradWith(lossOf, mode, allBad, n), gradWith(lossOf, mode, oneBad(n), n)]) {
      expect(dirty.flat().filter((g) => !Number.isFinite(g))).toEqual([]);
      dirty.forEach((row, i) => row.forEach((g, t) => expect(Math.abs(g - clean[i][t])).toBeLessThanOrEqual(1e-7)));
    }
  });
});

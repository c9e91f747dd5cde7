import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { fixture, inputs, expectClose, F32, t2 } from './reference-fixture';
import {
  AggregationMode,
  aggregateLoss,
  aggregateLossNumbers,
  aggregationForParts,
  applyKlPenalty,
  clippedPolicyLoss,
  clippedValueLoss,
  entropyFromLogits,
  klEstimate,
  klEstimateTensor,
  klLoss,
  LOOP_LOSS,
  ppoActorLoss,
  updateKlController,
} from '../../../rl';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const MODES: AggregationMode[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'];
const { mask, logProbs, oldLogProbs, refLogProbs, advantages } = inputs;
const num = (x: tf.Tensor) => x.dataSync()[0];

// reference.py's seq-mean-token-sum-norm is verl's Σ L·m / C with C = its padded length; ours is Dr.GRPO's
// Σ L·m / (N_seq·C) (rl/aggregation.ts), so with C = that length its value is the fixture's over N_seq.
const C = mask[0].length;
const N_SEQ = mask.filter((row) => row.some((m) => m)).length;
const fixtureLoss = (loss: Record<AggregationMode, number>, mode: AggregationMode) => (mode === 'seq-mean-token-sum-norm' ? loss[mode] / N_SEQ : loss[mode]);

describe('clipped policy loss against the Python reference', () => {
  test.each(fixture.policyLoss.map((c) => [`clip ${c.clipLow}/${c.clipHigh} dual ${c.dualClip}`, c] as const))(
    '%s: loss in every aggregation, clip fractions, ppo_kl',
    (_, c) => {
      for (const mode of MODES) {
        const out = clippedPolicyLoss(
          { logProbs: t2(logProbs), oldLogProbs: t2(oldLogProbs), advantages: t2(advantages), mask: t2(mask) },
          { clipLow: c.clipLow, clipHigh: c.clipHigh, dualClip: c.dualClip, aggregation: mode, aggregationOptions: { normLength: C } },
        );
        expectClose(num(out.loss), fixtureLoss(c.loss, mode), F32.atol, F32.rtol, mode);
        expectClose(num(out.clipFraction), c.clipFraction, 1e-6);
        expectClose(num(out.dualClipFraction), c.dualClipFraction, 1e-6);
        expectClose(num(out.ppoKl), c.ppoKl, F32.atol, F32.rtol);
      }
    },
  );

  test.each(fixture.policyLoss.map((c) => [`clip ${c.clipLow}/${c.clipHigh} dual ${c.dualClip}`, c] as const))(
    '%s: gradient w.r.t. log-probs matches the branch-by-branch derivative',
    (_, c) => {
      const grad = tf.grad((lp: tf.Tensor) =>
        clippedPolicyLoss(
          { logProbs: lp as tf.Tensor2D, oldLogProbs: t2(oldLogProbs), advantages: t2(advantages), mask: t2(mask) },
          { clipLow: c.clipLow, clipHigh: c.clipHigh, dualClip: c.dualClip },
        ).loss,
      )(t2(logProbs));
      expectClose(grad.arraySync(), c.gradTokenMean, 1e-6, F32.rtol);
    },
  );
});

describe("LOOP's loss", () => {
  test('with ε_low = ε_high = ε and no dual clip, the clipped surrogate is min(ρA, A + ε|A|) token by token', () => {
    const eps = LOOP_LOSS.clipLow;
    expect(LOOP_LOSS.clipHigh).toBe(eps);
    const cell = fc.record({ logRatio: fc.double({ min: -3, max: 3, noNaN: true }), A: fc.double({ min: -5, max: 5, noNaN: true }) });
    const options = { clipLow: LOOP_LOSS.clipLow, clipHigh: LOOP_LOSS.clipHigh, dualClip: null };
    fc.assert(
      fc.property(cell, ({ logRatio, A }) => {
        const L = tf.tidy(() => num(clippedPolicyLoss({ logProbs: t2([[logRatio]]), oldLogProbs: t2([[0]]), advantages: t2([[A]]), mask: t2([[1]]) }, options).loss));
        expect(-L).toBeCloseTo(Math.min(Math.exp(logRatio) * A, A + eps * Math.abs(A)), 4);
      }),
      { numRuns: 200 },
    );
  });
});

describe('clipped policy loss by hand', () => {
  const one = (logRatio: number, A: number, dualClip: number | null = 3, clipHigh = 0.2) =>
    num(
      clippedPolicyLoss(
        { logProbs: t2([[logRatio]]), oldLogProbs: t2([[0]]), advantages: t2([[A]]), mask: t2([[1]]) },
        { clipLow: 0.2, clipHigh, dualClip },
      ).loss,
    );
  test('inside the trust region the loss is −A·ρ', () => expect(one(Math.log(1.1), 2)).toBeCloseTo(-2.2, 5));
  test('A > 0 above 1 + ε_high is capped', () => expect(one(Math.log(1.5), 2)).toBeCloseTo(-2.4, 5));
  test('clip-higher lets a positive advantage push further', () => expect(one(Math.log(1.5), 2, 3, 0.28)).toBeCloseTo(-2.56, 5));
  test('A < 0 with a huge ratio: plain clip is unbounded, dual clip bounds it at −A·c', () => {
    expect(one(Math.log(10), -1, null)).toBeCloseTo(10, 4);
    expect(one(Math.log(10), -1, 3)).toBeCloseTo(3, 5);
  });
  test('dual clip must exceed 1', () => expect(() => one(0, 1, 0.5)).toThrow(/dualClip/));
});

describe('aggregation', () => {
  const loss = [
    [1, 2, 3, 100],
    [4, 5, 6, 7],
    [9, 9, 9, 9],
  ];
  const m = [
    [1, 1, 0, 0],
    [0, 1, 1, 1],
    [0, 0, 0, 0],
  ];
  // by hand: valid tokens 1,2 | 5,6,7; 5 tokens, 2 non-empty rows; C = 10
  const expected: Record<AggregationMode, number> = {
    'token-mean': 21 / 5,
    'seq-mean-token-sum': (3 + 18) / 2,
    'seq-mean-token-mean': (1.5 + 6) / 2,
    'seq-mean-token-sum-norm': 21 / (2 * 10),
  };
  const options = { normLength: 10 };
  test.each(MODES)('%s, tensors and numbers agree with the hand value', (mode) => {
    expect(num(aggregateLoss(t2(loss), t2(m), mode, options))).toBeCloseTo(expected[mode], 5);
    expect(aggregateLossNumbers(loss, m, mode, options)).toBeCloseTo(expected[mode], 12);
  });
  test('global counts for gradient accumulation override the micro-batch counts', () => {
    expect(num(aggregateLoss(t2(loss), t2(m), 'token-mean', { tokenCount: 10 }))).toBeCloseTo(2.1, 5);
    expect(num(aggregateLoss(t2(loss), t2(m), 'seq-mean-token-mean', { sequenceCount: 4 }))).toBeCloseTo(7.5 / 4, 5);
    expect(num(aggregateLoss(t2(loss), t2(m), 'seq-mean-token-sum-norm', { normLength: 7, sequenceCount: 3 }))).toBeCloseTo(1, 5);
  });
  test("seq-mean-token-sum-norm's C is a fixed, configured length: the padded width does not enter", () => {
    const padded = loss.map((row) => [...row, 0, 0, 0]);
    const paddedMask = m.map((row) => [...row, 0, 0, 0]);
    expect(num(aggregateLoss(t2(padded), t2(paddedMask), 'seq-mean-token-sum-norm', options))).toBeCloseTo(expected['seq-mean-token-sum-norm'], 5);
    expect(() => aggregateLoss(t2(loss), t2(m), 'seq-mean-token-sum-norm')).toThrow(/normLength/);
    expect(() => aggregateLossNumbers(loss, m, 'seq-mean-token-sum-norm')).toThrow(/normLength/);
  });
  test('NaN or Inf in masked positions does not reach the result', () => {
    const dirty = loss.map((r) => r.slice());
    dirty[0][3] = NaN;
    dirty[2][0] = Infinity;
    for (const mode of MODES) expect(num(aggregateLoss(t2(dirty), t2(m), mode, options))).toBeCloseTo(expected[mode], 5);
  });
});

describe('aggregation when a sequence spans several rows (the turns of a trajectory), split into micro-batches', () => {
  // Five turn rows of three trajectories: 0 = rows 0, 2, 4; 1 = row 1; 2 = row 3.
  const loss = [
    [1, 2, 9],
    [4, 5, 6],
    [3, 9, 9],
    [7, 8, 9],
    [-2, 0, 9],
  ];
  const m = [
    [1, 1, 0],
    [1, 1, 1],
    [1, 0, 0],
    [1, 1, 0],
    [1, 1, 0],
  ];
  const sequenceOf = [0, 1, 0, 2, 0];
  // Trajectory 0: tokens 1, 2, 3, −2, 0 (sum 4, 5 tokens); 1: 4, 5, 6 (15, 3); 2: 7, 8 (15, 2). 10 tokens, 3 sequences.
  const expected: Record<AggregationMode, number> = {
    'token-mean': 34 / 10,
    'seq-mean-token-sum': 34 / 3,
    'seq-mean-token-mean': (4 / 5 + 15 / 3 + 15 / 2) / 3,
    'seq-mean-token-sum-norm': 34 / (3 * 8),
  };
  const forParts = aggregationForParts(sequenceOf, m.map((row) => row.reduce((a, b) => a + b, 0)), 8);
  const splits = [[[0, 1, 2, 3, 4]], [[0, 3], [1, 2, 4]], [[4, 1], [0], [3, 2]], [[0], [1], [2], [3], [4]]];

  test.each(MODES)('%s: the sum over the parts is the loss of the whole, for every split, on tensors and numbers', (mode) => {
    for (const split of splits) {
      const parts = split.map((rows) => ({ loss: rows.map((r) => loss[r]), mask: rows.map((r) => m[r]), options: forParts(rows.map((r) => sequenceOf[r])) }));
      const tensorSum = parts.reduce((a, p) => a + num(aggregateLoss(t2(p.loss), t2(p.mask), mode, p.options)), 0);
      const numberSum = parts.reduce((a, p) => a + aggregateLossNumbers(p.loss, p.mask, mode, p.options), 0);
      expect(tensorSum).toBeCloseTo(expected[mode], 5);
      expect(numberSum).toBeCloseTo(expected[mode], 12);
    }
  });

  test('per-row sequence sizes without the sequence count are refused (the rows alone cannot tell it)', () => {
    expect(() => aggregateLoss(t2(loss), t2(m), 'seq-mean-token-mean', { sequenceTokens: [5, 3, 5, 2, 5] })).toThrow(/sequenceCount/);
    expect(() => forParts([7])).toThrow(/7/);
  });
});

describe('value loss against the Python reference', () => {
  test.each(fixture.valueLoss.map((c) => [c.clipRange, c] as const))('clip range %s', (_, c) => {
    for (const mode of MODES) {
      const out = clippedValueLoss(
        { values: t2(inputs.values), oldValues: t2(inputs.oldValues), returns: t2(inputs.returns), mask: t2(mask) },
        { clipRange: c.clipRange, aggregation: mode, aggregationOptions: { normLength: C } },
      );
      expectClose(num(out.loss), fixtureLoss(c.loss, mode), F32.atol, F32.rtol, mode);
      expectClose(num(out.clipFraction), c.clipFraction, 1e-6);
    }
  });
  test('by hand: the clipped prediction is used when it is further from the target', () => {
    // v̂ = 1.0, V_old = 0, c = 0.5 -> v_clip = 0.5; R = 1 -> max(0, 0.25) = 0.25; loss = 0.125
    const out = clippedValueLoss({ values: t2([[1]]), oldValues: t2([[0]]), returns: t2([[1]]), mask: t2([[1]]) });
    expect(num(out.loss)).toBeCloseTo(0.125, 6);
    expect(num(out.clipFraction)).toBe(1);
  });
});

describe('KL estimators against the Python reference', () => {
  test.each(['k1', 'k2', 'k3', 'abs'] as const)('%s per token (numbers and tensors) and as a token-mean loss', (kind) => {
    const ref = fixture.kl[kind];
    expectClose(logProbs.map((row, i) => row.map((v, t) => klEstimate(v, refLogProbs[i][t], kind))), ref.perToken, 1e-12, 1e-9);
    expectClose(klEstimateTensor(t2(logProbs), t2(refLogProbs), kind).arraySync(), ref.perToken, F32.atol, F32.rtol);
    expectClose(num(klLoss(t2(logProbs), t2(refLogProbs), t2(mask), kind)), ref.tokenMean, F32.atol, F32.rtol);
  });

  test('k3 by hand: e^x − x − 1 with x = log π_ref − log π', () => {
    expect(klEstimate(Math.log(0.5), Math.log(0.25), 'k3')).toBeCloseTo(0.5 - Math.log(0.5) - 1, 12);
    expect(klEstimate(-1, -1, 'k3')).toBe(0);
  });

  test('KL as a reward penalty and the adaptive coefficient', () => {
    const p = fixture.kl.penalty;
    const out = applyKlPenalty(inputs.tokenRewards, oldLogProbs, refLogProbs, mask, p.beta, 'k1');
    expectClose(out.rewards, p.rewards, 1e-12, 1e-9);
    expectClose(out.meanKl, p.meanKl, 1e-12, 1e-9);
    const a = p.adaptive;
    const next = updateKlController({ kind: 'adaptive', coef: a.coef, targetKl: a.targetKl, horizon: a.horizon }, out.meanKl, a.nSteps);
    expectClose(next.coef, a.nextCoef, 1e-12, 1e-9);
    expect(updateKlController({ kind: 'fixed', coef: 0.01 }, 5, 100)).toEqual({ kind: 'fixed', coef: 0.01 });
  });
});

describe('entropy and the actor loss', () => {
  test('entropy from logits matches −Σ p log p', () => {
    expectClose(entropyFromLogits(tf.tensor3d(inputs.logits)).arraySync(), fixture.entropy, F32.atol, F32.rtol);
  });

  test('actor loss = pg − c_H·H + c_KL·KL, each aggregated the same way', () => {
    const base = { logProbs: t2(logProbs), oldLogProbs: t2(oldLogProbs), advantages: t2(advantages), mask: t2(mask) };
    const entropy = entropyFromLogits(tf.tensor3d(inputs.logits));
    const c = fixture.policyLoss[0];
    const out = ppoActorLoss(
      { ...base, entropy, refLogProbs: t2(refLogProbs) },
      { entropyCoef: 0.01, klCoef: 0.1, klEstimator: 'k3', aggregation: 'seq-mean-token-mean' },
    );
    const H = aggregateLossNumbers(fixture.entropy, mask, 'seq-mean-token-mean');
    const KL = aggregateLossNumbers(fixture.kl.k3.perToken, mask, 'seq-mean-token-mean');
    expectClose(num(out.loss), c.loss['seq-mean-token-mean'] - 0.01 * H + 0.1 * KL, F32.atol, F32.rtol);
    expect(() => ppoActorLoss(base, { klCoef: 0.1 })).toThrow(/refLogProbs/);
  });
});

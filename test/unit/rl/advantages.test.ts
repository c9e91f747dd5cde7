import { fixture, inputs, expectClose } from './reference-fixture';
import {
  broadcastToTokens,
  computeGae,
  drGrpoAdvantages,
  grpoAdvantages,
  loopAdvantages,
  maskedWhiten,
  placeTerminalRewards,
  reinforcePlusPlusAdvantages,
  reinforcePlusPlusBaselineAdvantages,
  rlooAdvantages,
} from '../../../rl';

const { mask, groups, scores, tokenRewards, values } = inputs;

describe('against the Python reference (multi-turn rows, tool tokens interleaved)', () => {
  test('terminal reward lands on the last action token of each row', () => {
    expect(placeTerminalRewards(scores, mask)).toEqual(tokenRewards);
  });

  test('masked whitening', () => {
    expectClose(maskedWhiten(values, mask), fixture.whiten, 1e-9, 1e-9);
  });

  test.each([
    ['gamma0.99_lambda0.95', 0.99, 0.95],
    ['gamma1_lambda1', 1, 1],
  ] as const)('GAE %s skips observation tokens', (key, gamma, lambda) => {
    const out = computeGae(tokenRewards, values, mask, { gamma, lambda });
    expectClose(out.advantages, fixture.gae[key].advantages);
    expectClose(out.returns, fixture.gae[key].returns);
  });

  test('GRPO, Dr.GRPO, RLOO per trajectory', () => {
    expectClose(grpoAdvantages(scores, groups), fixture.grpo);
    expectClose(drGrpoAdvantages(scores, groups), fixture.drGrpo);
    expectClose(rlooAdvantages(scores, groups), fixture.rloo);
  });

  test.each(['skip', 'reset'] as const)('REINFORCE++ with masked tokens %s', (maskedTokens) => {
    const out = reinforcePlusPlusAdvantages(tokenRewards, mask, { gamma: 0.9, maskedTokens });
    expectClose(out.returns, fixture.reinforcePP[maskedTokens].returns);
    expectClose(out.advantages, fixture.reinforcePP[maskedTokens].advantages);
  });

  test('REINFORCE++ with group baseline', () => {
    expectClose(reinforcePlusPlusBaselineAdvantages(tokenRewards, mask, groups), fixture.reinforcePPBaseline);
  });
});

describe('hand cases', () => {
  // prompt, act, act, tool, tool, act, pad
  const row = [0, 1, 1, 0, 0, 1, 0];

  test('GAE with gamma = lambda = 1 gives R − V on every action token of every turn', () => {
    const V = [[9, 0.2, 0.4, 9, 9, 0.7, 9]];
    const { advantages, returns } = computeGae([[0, 0, 0, 0, 0, 1, 0]], V, [row], { gamma: 1, lambda: 1 });
    expectClose(advantages, [[0, 0.8, 0.6, 0, 0, 0.3, 0]], 1e-12);
    expectClose(returns, [[0, 1, 1, 0, 0, 1, 0]], 1e-12);
  });

  test('GAE with lambda = 0 is the one-step TD error across the tool span', () => {
    // t=5: δ = 1 − 0.7; t=2: δ = 0 + 0.5·0.7 − 0.4 (next action token is t=5, tool tokens skipped)
    const V = [[0, 0.2, 0.4, 5, 5, 0.7, 0]];
    const { advantages } = computeGae([[0, 0, 0, 0, 0, 1, 0]], V, [row], { gamma: 0.5, lambda: 0 });
    expectClose(advantages, [[0, -0.2 + 0.5 * 0.4, 0.35 - 0.4, 0, 0, 0.3, 0]], 1e-12);
  });

  test('REINFORCE++ reset drops the reward from earlier turns (the multi-turn pitfall); skip keeps it', () => {
    const rewards = [[0, 0, 0, 0, 0, 1, 0]];
    const reset = reinforcePlusPlusAdvantages(rewards, [row], { gamma: 1, maskedTokens: 'reset' });
    const skip = reinforcePlusPlusAdvantages(rewards, [row], { gamma: 1, maskedTokens: 'skip' });
    expect(reset.returns[0]).toEqual([0, 0, 0, 0, 0, 1, 0]);
    expect(skip.returns[0]).toEqual([0, 1, 1, 0, 0, 1, 0]);
  });

  test('RLOO equals the leave-one-out difference; LOOP keeps |A| >= 0.01', () => {
    const s = [1, 0, 0, 1, 0.5, 0.5, 0.505];
    const g = ['x', 'x', 'x', 'x', 'y', 'y', 'y'];
    const A = rlooAdvantages(s, g);
    expectClose(A.slice(0, 4), [1 - 1 / 3, 0 - 2 / 3, 0 - 2 / 3, 1 - 1 / 3], 1e-12);
    expectClose(A.slice(4), [0.5 - 0.5025, 0.5 - 0.5025, 0.505 - 0.5], 1e-12);
    expect(loopAdvantages(s, g).keep).toEqual([0, 1, 2, 3]);
  });

  test('GRPO: a group of one is divided by 1 + eps, a uniform group gets 0', () => {
    expectClose(grpoAdvantages([0.5, 1, 1], ['solo', 'u', 'u']), [0.5 / (1 + 1e-6), 0, 0], 1e-12);
  });

  test('broadcastToTokens tiles over action tokens only', () => {
    expect(broadcastToTokens([2, -1], [[0, 1, 1], [1, 0, 1]])).toEqual([[0, 2, 2], [-1, 0, -1]]);
  });

  test('shape mismatches are refused', () => {
    expect(() => computeGae([[0, 1]], [[0, 0, 0]], [[1, 1, 1]], { gamma: 1, lambda: 1 })).toThrow(/rewards\[0\]/);
    expect(() => placeTerminalRewards([1], [[0, 0]])).toThrow(/no action token/);
  });
});

/**
 * computeAdvantages' step credit (agent.stepCredit): none tiles the trajectory advantage, salt averages it over
 * shared transitions, gigpo adds GiGPO's anchor-state term. Expected values are worked out by hand below. Also
 * which trajectories of a flat group each one trains on (and so scoreBatch scores).
 */
import { AgentTrainingSchema } from '../../../config/agent';
import { computeAdvantages, trajectoriesToScore } from '../../../trainer/advantages';
import type { Scores } from '../../../trainer/score';
import type { Trajectory, TurnRecord } from '../../../trainer/trajectory';

function turn(context: string, action: string, tokens: number, observation: string): TurnRecord {
  const actionTokens = Array.from({ length: tokens }, (_, i) => 3 + i);
  return { context, promptTokens: [1], actionTokens, sampleLogProbs: actionTokens.map(() => 0), action, observation, error: false, nextContext: `${context}${action}${observation}` };
}

function trajectory(sample: number, reward: number, turns: TurnRecord[]): Trajectory {
  return { taskId: 't0', group: 0, sample, seed: sample, policyVersion: 0, turns, reward, success: reward === 1, finishReason: 'completed', envErrors: 0, metrics: {} };
}

/**
 * One task, two rollouts: both search first from the prompt P and see X; then one answers (reward 1, 1 token) and
 * the other guesses (reward 0, 3 tokens). The search spans 2 tokens, so the rows are 3 and 5 tokens wide.
 */
const rollouts = [
  trajectory(0, 1, [turn('P', 'search', 2, 'X'), turn('P search X', 'answer', 1, '')]),
  trajectory(1, 0, [turn('P', 'search', 2, 'X'), turn('P search X', 'guess', 3, '')]),
];
const scores: Scores = { oldLogProbs: [], entropy: 0 };
const advantagesWith = (agent: object) => computeAdvantages('grpo', rollouts, scores, AgentTrainingSchema.parse({ kl: { mode: 'none' }, ...agent })).advantages;

// GRPO: rewards (1, 0), mean 0.5, unbiased std √0.5, so A^E = ±0.5/(√0.5 + 1e-6).
const episode = 0.5 / (Math.sqrt(0.5) + 1e-6);

function expectRows(actual: number[][], expected: number[][]) {
  expect(actual.map((row) => row.length)).toEqual(expected.map((row) => row.length));
  actual.forEach((row, i) => row.forEach((v, t) => expect(v).toBeCloseTo(expected[i][t], 10)));
}

test('stepCredit none tiles the episode advantage over every action token', () => {
  expectRows(advantagesWith({ stepCredit: 'none' }), [
    [episode, episode, episode, 0, 0],
    [-episode, -episode, -episode, -episode, -episode],
  ]);
});

test('stepCredit gigpo adds the anchor-state term on discounted step returns (γ 0.95, ω 1)', () => {
  // Anchor P (both first turns): returns 0.95·1 and 0.95^1·0 = 0, mean 0.475, so A^S = ±0.475.
  // Anchor X (both second turns, state = the observation they answer): returns 1 and 0, so A^S = ±0.5.
  const first = episode + 0.475;
  const second = episode + 0.5;
  expectRows(advantagesWith({ stepCredit: 'gigpo' }), [
    [first, first, second, 0, 0],
    [-first, -first, -second, -second, -second],
  ]);
  // ω and γ come from agent.gigpo: ω 0 leaves the episode advantage.
  expectRows(advantagesWith({ stepCredit: 'gigpo', gigpo: { stepWeight: 0 } }), advantagesWith({ stepCredit: 'none' }));
});

test('stepCredit salt averages over the shared search transition; salt: true is the same', () => {
  const salt = advantagesWith({ stepCredit: 'salt' });
  expectRows(salt, [
    [0, 0, episode, 0, 0],
    [0, 0, -episode, -episode, -episode],
  ]);
  expect(advantagesWith({ salt: true })).toEqual(salt);
  expect(advantagesWith({ salt: false })).toEqual(advantagesWith({ stepCredit: 'none' }));
});

describe('flat groups (every rollout the same outcome)', () => {
  /**
   * Group 0, two successes: one answers after one search from P (X), the other searches P -> Y, then Y -> X, then
   * answers. Group 1, two identical failures. Only group 0's first turns differ in return from the same anchor P:
   * 0.95 and 0.95² (mean 0.92625), so A^S = ±0.02375; anchor X holds returns 1 and 1, so 0.
   */
  const flat = [
    trajectory(0, 1, [turn('P', 'search', 2, 'X'), turn('P search X', 'answer', 1, '')]),
    trajectory(1, 1, [turn('P', 'search', 2, 'Y'), turn('P search Y', 'search', 2, 'X'), turn('P search Y search X', 'answer', 1, '')]),
    ...[2, 3].map((sample) => ({ ...trajectory(sample, 0, [turn('Q', 'guess', 2, '')]), taskId: 't1', group: 1 })),
  ];
  const settings = (agent: object) => AgentTrainingSchema.parse({ kl: { mode: 'none' }, ...agent });

  test('GiGPO trains on the trajectories whose step term is not 0, and scoreBatch scores exactly those', () => {
    for (const algorithm of ['grpo', 'rloo', 'loop'] as const) {
      const result = computeAdvantages(algorithm, flat, scores, settings({ stepCredit: 'gigpo' }));
      expect(result.keep).toEqual([0, 1]);
      expect(result.flatGroups).toBe(2);
      expectRows(result.advantages, [
        [0.02375, 0.02375, 0, 0, 0],
        [-0.02375, -0.02375, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
      ]);
      expect(trajectoriesToScore(algorithm, flat, settings({ stepCredit: 'gigpo' }))).toEqual(result.keep);
    }
  });

  test('without a step term (ω 0), with SALT, or with none, a flat group is dropped and not scored', () => {
    for (const agent of [{ stepCredit: 'gigpo', gigpo: { stepWeight: 0 } }, { stepCredit: 'salt' }, { stepCredit: 'none' }]) {
      const result = computeAdvantages('grpo', flat, scores, settings(agent));
      expect(result.keep).toEqual([]);
      // SALT averages A^E = 0 over shared transitions: nothing but zeros to train on.
      expect(result.advantages.flat().every((a) => a === 0)).toBe(true);
      expect(trajectoriesToScore('grpo', flat, settings(agent))).toEqual([]);
    }
  });
});

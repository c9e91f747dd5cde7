/**
 * computeAdvantages' step credit (agent.stepCredit): none tiles the trajectory advantage, salt averages it over
 * shared transitions, gigpo adds GiGPO's anchor-state term. Expected values are worked out by hand below.
 */
import { AgentTrainingSchema } from '../../../config/agent';
import { computeAdvantages } from '../../../trainer/advantages';
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

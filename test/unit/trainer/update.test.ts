/**
 * The PPO update: accumulating gradients over micro-batches gives the same step as one pass over the whole
 * minibatch, and an update moves the policy toward the actions with positive advantage.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../common/random';
import { createCritic, createPolicy, getWeights, modelFromWeights } from '../../../policy/model';
import { AdamW } from '../../../policy/optim';
import { computeAdvantages, trajectoriesToScore } from '../../../trainer/advantages';
import { AgentTrainingSchema } from '../../../config/agent';
import { AggregationMode, aggregateLossNumbers, LOOP_LOSS } from '../../../rl';
import { rowMask } from '../../../trainer/segments';
import { scoreTrajectories } from '../../../trainer/score';
import type { Trajectory } from '../../../trainer/trajectory';
import { ppoUpdate } from '../../../trainer/update';

const config = { vocabSize: 24, contextLength: 32, layers: 1, heads: 2, width: 16, dropout: 0 };

/** Two tasks x 4 rollouts of 2 turns each; reward 1 when the first action token is 5. */
function batch(): Trajectory[] {
  const rng = new Rng(4);
  return Array.from({ length: 8 }, (_, i) => {
    const group = Math.floor(i / 4);
    const turns = [0, 1].map((turn) => {
      const actionTokens = Array.from({ length: 2 + rng.int(0, 2) }, () => rng.int(3, 23));
      if (turn === 0 && i % 2 === 0) actionTokens[0] = 5;
      return { context: `${group}/${turn}`, promptTokens: [1, 3 + group, 10 + turn, rng.int(3, 23)], actionTokens, sampleLogProbs: actionTokens.map(() => 0), action: actionTokens.join(' '), observation: '', error: false, nextContext: '' };
    });
    const reward = turns[0].actionTokens[0] === 5 ? 1 : 0;
    return { taskId: `t${group}`, group, sample: i % 4, seed: i, policyVersion: 0, turns, reward, success: reward === 1, finishReason: 'completed', envErrors: 0, metrics: {} };
  });
}

async function trainOnce(microbatchSegments: number) {
  const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
  const trajectories = batch();
  const settings = AgentTrainingSchema.parse({ ppo: { minibatchSegments: 16, microbatchSegments, epochs: 2 }, kl: { mode: 'none' } });
  const scores = await scoreTrajectories({ policy }, trajectories);
  const advantages = computeAdvantages('grpo', trajectories, scores, settings);
  const metrics = await ppoUpdate({ policy, policyOptimizer: new AdamW(policy.weights) }, trajectories, scores, advantages, { settings, learningRate: 1e-2, seed: 3 });
  const after = await scoreTrajectories({ policy }, trajectories);
  return { weights: getWeights(policy), metrics, before: scores, after, trajectories };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('micro-batch accumulation equals one pass over the minibatch', async () => {
  const whole = await trainOnce(16);
  const pieces = await trainOnce(1);
  for (const [name, w] of Object.entries(whole.weights)) {
    const other = pieces.weights[name].data;
    const maxDiff = Math.max(...Array.from(w.data, (v, i) => Math.abs(v - other[i])));
    expect(maxDiff).toBeLessThan(1e-5);
  }
  expect(pieces.metrics.optimizerSteps).toBe(whole.metrics.optimizerSteps);
  expect(pieces.metrics.clipFraction).toBeCloseTo(whole.metrics.clipFraction, 5);
});

test('an update raises the log-probability of the rewarded first action', async () => {
  const { before, after, trajectories } = await trainOnce(4);
  const rewarded = trajectories.flatMap((t, i) => (t.reward > 0 ? [i] : []));
  const gain = rewarded.map((i) => after.oldLogProbs[i][0] - before.oldLogProbs[i][0]);
  expect(gain.every((g) => g > 0)).toBe(true);
});

test('GRPO trains only on groups whose rewards differ; an all-flat batch leaves the weights as they were', async () => {
  const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
  const settings = AgentTrainingSchema.parse({ kl: { mode: 'loss', coef: 0.1 } });
  const mixed = batch().map((t) => (t.group === 1 ? { ...t, reward: 0, success: false } : t)); // group 1 all zero
  const scores = await scoreTrajectories({ policy }, mixed);
  const mixedAdvantages = computeAdvantages('grpo', mixed, scores, settings);
  expect(mixedAdvantages.keep).toEqual([0, 1, 2, 3]);
  expect(mixedAdvantages.flatGroups).toBe(1);

  const flat = mixed.map((t) => ({ ...t, reward: 0, success: false }));
  const flatAdvantages = computeAdvantages('grpo', flat, scores, settings);
  expect(flatAdvantages.keep).toEqual([]);
  const before = getWeights(policy);
  const metrics = await ppoUpdate({ policy, policyOptimizer: new AdamW(policy.weights) }, flat, scores, flatAdvantages, { settings, learningRate: 1e-2, seed: 3 });
  expect(metrics.optimizerSteps).toBe(0);
  for (const [name, w] of Object.entries(getWeights(policy))) expect(Array.from(w.data)).toEqual(Array.from(before[name].data));
});

test('scoring only the informative groups trains exactly as scoring everything', async () => {
  const settings = AgentTrainingSchema.parse({ kl: { mode: 'loss', coef: 0.1 } });
  const reference = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 8)));
  const mixed = batch().map((t) => (t.group === 1 ? { ...t, reward: 0, success: false } : t)); // group 1 all zero
  expect(trajectoriesToScore('ppo', mixed, settings)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  const only = trajectoriesToScore('grpo', mixed, settings);
  expect(only).toEqual([0, 1, 2, 3]);

  const train = async (scoreOnly?: number[]) => {
    const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
    const scores = await scoreTrajectories({ policy, reference }, mixed, { only: scoreOnly });
    const advantages = computeAdvantages('grpo', mixed, scores, settings);
    await ppoUpdate({ policy, policyOptimizer: new AdamW(policy.weights) }, mixed, scores, advantages, { settings, learningRate: 1e-2, seed: 3 });
    return { scores, weights: getWeights(policy) };
  };
  const all = await train();
  const part = await train(only);
  expect(part.scores.scored).toEqual(only);
  expect(part.scores.oldLogProbs.slice(4).flat().every((v) => v === 0)).toBe(true); // flat group skipped
  for (const i of only) part.scores.oldLogProbs[i].forEach((v, t) => expect(v).toBeCloseTo(all.scores.oldLogProbs[i][t], 5));
  for (const [name, w] of Object.entries(all.weights)) {
    const other = part.weights[name].data;
    expect(Math.max(...Array.from(w.data, (v, i) => Math.abs(v - other[i])))).toBeLessThan(1e-6);
  }
  // A batch whose kept rows were not scored is refused rather than trained on zeros.
  expect(() => computeAdvantages('grpo', mixed, { ...part.scores, scored: [0, 1] }, settings)).toThrow(/not scored/);
});

test('with one epoch under token-mean, SALT changes the advantages of shared steps but not the update (Σ A_j ∇log π is kept)', async () => {
  // Rollouts 0-2 of each group take the same second turn from the same state: one SALT node.
  const shared = batch().map((t) => ({
    ...t,
    turns: t.turns.map((turn, k) => (k === 1 ? { ...turn, promptTokens: [1, 3 + t.group, 11, 4], ...(t.sample < 3 ? { actionTokens: [7, 8, 9], sampleLogProbs: [0, 0, 0], action: '7 8 9' } : {}) } : turn)),
  }));
  const train = async (salt: boolean, epochs: number) => {
    const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
    const settings = AgentTrainingSchema.parse({ salt, saltStates: 'history', ppo: { epochs, minibatchSegments: 64 }, kl: { mode: 'none' } });
    const scores = await scoreTrajectories({ policy }, shared);
    const advantages = computeAdvantages('grpo', shared, scores, settings);
    await ppoUpdate({ policy, policyOptimizer: new AdamW(policy.weights) }, shared, scores, advantages, { settings, learningRate: 1e-2, seed: 3 });
    return { advantages: advantages.advantages, weights: getWeights(policy) };
  };
  const maxDiff = (a: Record<string, { data: Float32Array }>, b: Record<string, { data: Float32Array }>) =>
    Math.max(...Object.entries(a).map(([name, w]) => Math.max(...Array.from(w.data, (v, i) => Math.abs(v - b[name].data[i])))));
  const [grpo, salt] = [await train(false, 1), await train(true, 1)];
  const secondTurn = (row: number[]) => row[row.length - 1];
  expect(secondTurn(salt.advantages[0])).not.toBeCloseTo(secondTurn(grpo.advantages[0]), 2); // the merged node's mean
  expect(maxDiff(grpo.weights, salt.weights)).toBeLessThan(1e-5); // ...yet the same gradient step (weights move ~1e-2)
  // More epochs: the clipped ratio differs per token, so the two part ways.
  expect(maxDiff((await train(false, 4)).weights, (await train(true, 4)).weights)).toBeGreaterThan(1e-3);
});

test('SALT over observations merges the same step taken after different histories; over histories it does not', async () => {
  const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
  // Every rollout's second turn: its own history, but the same observation before and after the same action.
  const diverged = batch().map((t) => ({
    ...t,
    turns: t.turns.map((turn, k) => ({ ...turn, observation: 'ok', ...(k === 1 ? { context: `history of ${t.group}/${t.sample}`, actionTokens: [7, 8, 9], sampleLogProbs: [0, 0, 0], action: '7 8 9' } : {}) })),
  }));
  const scores = await scoreTrajectories({ policy }, diverged);
  const advantagesWith = (saltStates: string) => computeAdvantages('grpo', diverged, scores, AgentTrainingSchema.parse({ salt: true, saltStates })).advantages;
  const grpo = computeAdvantages('grpo', diverged, scores, AgentTrainingSchema.parse({})).advantages;
  const secondTurn = (rows: number[][]) => rows.map((row) => row[row.length - 1]);
  expect(secondTurn(advantagesWith('history'))).toEqual(secondTurn(grpo)); // no two histories are equal
  // One node per group over observations: GRPO advantages sum to 0 in a group, so the node is neutral.
  secondTurn(advantagesWith('observation')).forEach((a) => expect(a).toBeCloseTo(0, 6));
  expect(secondTurn(grpo).some((a) => Math.abs(a) > 0.5)).toBe(true);
});

describe('every aggregation mode is invariant to the micro-batch split', () => {
  const MODES: AggregationMode[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'];
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(a), Math.abs(b)) + 1e-7;

  /** PPO with a critic, an entropy bonus and a KL loss: every reported metric is non-zero. */
  async function train(aggregation: AggregationMode, microbatchSegments: number) {
    const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
    const reference = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 8)), false);
    const critic = createCritic(config, 9);
    const trajectories = batch();
    const settings = AgentTrainingSchema.parse({
      ppo: { minibatchSegments: 16, microbatchSegments, epochs: 2, aggregation, entropyCoef: 0.01, normLength: 8 },
      kl: { mode: 'loss', coef: 0.1 },
    });
    const scores = await scoreTrajectories({ policy, reference, critic }, trajectories);
    const advantages = computeAdvantages('ppo', trajectories, scores, settings);
    const models = { policy, policyOptimizer: new AdamW(policy.weights), critic, criticOptimizer: new AdamW(critic.weights) };
    const metrics = await ppoUpdate(models, trajectories, scores, advantages, { settings, learningRate: 1e-2, seed: 3 });
    return { metrics, weights: { ...getWeights(policy), ...Object.fromEntries(Object.entries(getWeights(critic)).map(([k, w]) => [`critic/${k}`, w])) } };
  }

  test.each(MODES)('%s: loss, gradient norm, every metric and the updated weights agree for 1, 3 and 16 micro-batches', async (mode) => {
    const [one, three, many] = [await train(mode, 16), await train(mode, 6), await train(mode, 1)];
    for (const other of [three, many]) {
      for (const key of ['policyLoss', 'clipFraction', 'ppoKl', 'refKl', 'entropy', 'gradNorm', 'valueLoss'] as const) {
        const [value, reference] = [other.metrics[key], one.metrics[key]];
        expect({ key, value, reference, close: close(value, reference) }).toEqual({ key, value, reference, close: true });
      }
      for (const [name, w] of Object.entries(one.weights)) {
        const maxDiff = Math.max(...Array.from(w.data, (v, i) => Math.abs(v - other.weights[name].data[i])));
        expect({ name, maxDiff: maxDiff < 1e-5 }).toEqual({ name, maxDiff: true });
      }
    }
    // The metrics are rates and means, not sums that grow with the number of micro-batches.
    expect(one.metrics.entropy).toBeGreaterThan(1);
    expect(one.metrics.clipFraction).toBeGreaterThan(0);
  });
});

test("with LOOP's settings the update's loss is −min(ρA, A + ε|A|) averaged over each trajectory's own action tokens, then over trajectories", async () => {
  const policy = modelFromWeights(config, 'policy', getWeights(createPolicy(config, 7)));
  const trajectories = batch();
  const settings = AgentTrainingSchema.parse({
    ppo: { clipLow: LOOP_LOSS.clipLow, clipHigh: LOOP_LOSS.clipHigh, dualClip: null, aggregation: LOOP_LOSS.aggregation, epochs: 1, minibatchSegments: 64, microbatchSegments: 3 },
    kl: { mode: 'none' },
  });
  const scores = await scoreTrajectories({ policy }, trajectories); // log π_θ at the update's only step
  // π_old ≠ π_θ: ratios fall below 1 − ε, inside, above 1 + ε, and beyond a dual clip's c = 3 (e^1.5 ≈ 4.5).
  const logRatios = [-1.5, -0.3, 0.05, 0.3, 1.5];
  const logRatio = scores.oldLogProbs.map((row, i) => row.map((_, t) => logRatios[(i + t) % logRatios.length]));
  const old = { ...scores, oldLogProbs: scores.oldLogProbs.map((row, i) => row.map((lp, t) => lp - logRatio[i][t])) };
  const advantages = computeAdvantages('loop', trajectories, old, settings);
  const metrics = await ppoUpdate({ policy, policyOptimizer: new AdamW(policy.weights) }, trajectories, old, advantages, { settings, learningRate: 1e-2, seed: 3 });

  // The reference, on rows (one row = one trajectory): LOOP's per-token objective, seq-mean-token-mean.
  const keep = new Set(advantages.keep);
  const mask = rowMask(trajectories).map((row, i) => (keep.has(i) ? row : row.map(() => 0)));
  const eps = LOOP_LOSS.clipLow;
  const perToken = advantages.advantages.map((row, i) => row.map((A, t) => -Math.min(Math.exp(logRatio[i][t]) * A, A + eps * Math.abs(A))));
  expect(metrics.policyLoss).toBeCloseTo(aggregateLossNumbers(perToken, mask, 'seq-mean-token-mean'), 5);
  expect(metrics.refKl).toBe(0);
  expect(advantages.advantages.some((row) => row.some((A) => A < 0))).toBe(true);
});

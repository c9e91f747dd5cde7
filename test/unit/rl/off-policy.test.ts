/**
 * The stale-sample correction of asynchronous training (rl/off-policy.ts), on a batch computed by hand, and the
 * behaviour weights in the policy loss. workers/torch/tests/test_worker_off_policy.py checks the Python mirror on
 * the same batch.
 */
import * as tf from '@tensorflow/tfjs';
import { clippedPolicyLoss, offPolicyCorrection } from '../../../rl';
import { correctStaleSamples, type Scores } from '../../../trainer/score';
import type { Trajectory } from '../../../trainer/trajectory';

// Policy v3 is being updated; maxStaleness 1, cap 2.
const input = {
  versions: [3, 2, 2, 1],
  mask: [
    [1, 1, 0],
    [1, 1, 1],
    [1, 1, 0],
    [1, 0, 0],
  ],
  proximalLogProbs: [
    [-0.3, -0.2, 0],
    [-1, -0.5, -3],
    [-0.1, -2, 0],
    [-0.4, 0, 0],
  ],
  behaviorLogProbs: [
    [-9, -9, 0], // fresh: the sampler's numbers do not matter
    [-1.5, -0.5, -1],
    [-1.2, -2.1, 0],
    [-0.4, 0, 0],
  ],
};
const opts = { version: 3, maxStaleness: 1, cap: 2 };

describe('offPolicyCorrection', () => {
  it('weights stale tokens by π_prox/π_behav, drops those above the cap and trajectories past the bound', () => {
    const out = offPolicyCorrection(input, opts);
    expect(out.weights[0]).toEqual([1, 1, 0]); // fresh
    const [a, b, c] = out.weights[1];
    expect(a).toBeCloseTo(Math.exp(0.5), 12);
    expect(b).toBe(1);
    expect(c).toBeCloseTo(Math.exp(-2), 12);
    expect(out.weights[2][0]).toBe(0); // e^1.1 = 3.004 > cap 2: dropped, not clipped (AReaL)
    expect(out.weights[2][1]).toBeCloseTo(Math.exp(0.1), 12);
    expect(out.weights[2][2]).toBe(0); // padding
    expect(out.weights[3]).toEqual([0, 0, 0]); // 2 versions behind > maxStaleness 1
    expect(out.staleness).toEqual({ 0: 1, 1: 2, 2: 1 });
    expect(out.droppedTrajectories).toBe(1);
    expect(out.cappedTokens).toBe(1);
    expect(out.meanWeight).toBeCloseTo((1.6487212707 + 1 + 0.1353352832 + 1.1051709181) / 4, 9);
  });

  it('leaves the trajectories the update skips at weight 1 and out of the statistics', () => {
    const out = offPolicyCorrection({ ...input, only: [0, 1] }, opts);
    expect(out.weights[2]).toEqual([1, 1, 0]);
    expect(out.weights[3]).toEqual([1, 0, 0]);
    expect(out.staleness).toEqual({ 0: 1, 1: 1 });
    expect(out.droppedTrajectories).toBe(0);
    expect(out.cappedTokens).toBe(0);
  });

  it('refuses a sample newer than the policy being updated, and a cap of 1 or less', () => {
    expect(() => offPolicyCorrection(input, { ...opts, version: 1 })).toThrow(/sampled by version 3, newer than the policy being updated \(1\)/);
    expect(() => offPolicyCorrection(input, { ...opts, cap: 1 })).toThrow(/cap must be > 1/);
  });
});

describe('correctStaleSamples', () => {
  const turn = (actionTokens: number[], sampleLogProbs: number[]) => ({
    context: '', promptTokens: [1], actionTokens, sampleLogProbs, action: '', observation: '', error: false, nextContext: '',
  });
  const trajectory = (policyVersion: number, turns: ReturnType<typeof turn>[]): Trajectory => ({
    taskId: 't', group: 0, sample: 0, seed: 0, policyVersion, turns, reward: 0, success: false, finishReason: 'done', envErrors: 0, metrics: {},
  } as unknown as Trajectory);
  const scores = (oldLogProbs: number[][]): Scores => ({ oldLogProbs, entropy: 0 });

  it('returns the scores unchanged when every sample is fresh (a synchronous run)', () => {
    const fresh = [trajectory(4, [turn([5, 6], [-1, -1])])];
    const s = scores([[-0.5, -0.5]]);
    expect(correctStaleSamples(fresh, s, { version: 4, maxStaleness: 1, cap: 5 })).toEqual({ scores: s });
  });

  it('reads the sampler log-probs across turns into row space', () => {
    const stale = [trajectory(3, [turn([5], [-1]), turn([6, 7], [-2, -0.5])])];
    const { scores: out, offPolicy } = correctStaleSamples(stale, scores([[-1.5, -1, -0.5]]), { version: 4, maxStaleness: 1, cap: 5 });
    expect(out.behaviorWeights![0].map((w) => +w.toFixed(9))).toEqual([+Math.exp(-0.5).toFixed(9), +Math.exp(1).toFixed(9), 1]);
    expect(offPolicy).toMatchObject({ staleness: { 1: 1 }, droppedTrajectories: 0, cappedTokens: 0 });
  });
});

describe('clippedPolicyLoss with behaviour weights', () => {
  const logProbs = tf.tensor2d([[-0.5, -1.2, -0.1]]);
  const oldLogProbs = tf.tensor2d([[-0.6, -1.0, -0.1]]);
  const advantages = tf.tensor2d([[1, -0.5, 2]]);
  const mask = tf.tensor2d([[1, 1, 1]]);
  const loss = (weights?: number[][]) =>
    clippedPolicyLoss({ logProbs, oldLogProbs, advantages, mask, ...(weights ? { behaviorWeights: tf.tensor2d(weights) } : {}) }, { aggregation: 'seq-mean-token-sum' }).loss.dataSync()[0];

  it('is unchanged with weights of 1, and scales each token by its weight', () => {
    expect(loss([[1, 1, 1]])).toBeCloseTo(loss(), 7);
    const perToken = [0, 1, 2].map((k) => loss([[0, 1, 2].map((j) => (j === k ? 1 : 0))]));
    expect(loss([[2, 0.5, 0]])).toBeCloseTo(2 * perToken[0] + 0.5 * perToken[1], 6);
    expect(loss([[0, 0, 0]])).toBe(0);
  });
});

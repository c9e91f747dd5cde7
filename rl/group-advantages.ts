/**
 * Critic-free advantages from a group of rollouts of the same task (outcome rewards only).
 *
 * Input is one score per trajectory, s_i = Σ_t r[i][t] (`rowSums` of the token rewards), and its group id g(i)
 * (the task it was sampled for). Output is one advantage per trajectory; `broadcastToTokens` tiles it over the
 * action tokens. Every action token of every turn gets the same credit: SALT or GiGPO (salt.ts; the run config's
 * `agent.stepCredit`) refines that per step.
 */
import { Matrix, assertSameShape, broadcastToTokens, maskedWhiten, rowSums } from './masks';

export type GroupId = string | number;

/** Trajectory indices per group, in first-seen order. */
export function indicesByGroup(groups: readonly GroupId[]): Map<GroupId, number[]> {
  const byGroup = new Map<GroupId, number[]>();
  groups.forEach((g, i) => {
    const members = byGroup.get(g);
    if (members) members.push(i);
    else byGroup.set(g, [i]);
  });
  return byGroup;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, v) => a + v, 0) / xs.length;
}

/** Unbiased sample standard deviation (N − 1), like torch.std. */
export function sampleStd(xs: readonly number[]): number {
  const mu = mean(xs);
  return Math.sqrt(xs.reduce((a, v) => a + (v - mu) ** 2, 0) / (xs.length - 1));
}

function checkLengths(scores: readonly number[], groups: readonly GroupId[]): void {
  if (scores.length !== groups.length) throw new Error(`${scores.length} scores but ${groups.length} group ids`);
}

export interface GrpoOptions {
  /** Divide by the group std (GRPO). false gives Dr.GRPO. Default true. */
  normalizeByStd?: boolean;
  /** ε in the denominator. Default 1e-6 (verl). */
  epsilon?: number;
}

/**
 * GRPO (Shao et al. 2024): A_i = (s_i − μ_g) / (σ_g + ε), μ_g the group mean and σ_g the unbiased group std.
 * A group of one has μ = 0, σ = 1 (verl), so its advantage is s_i / (1 + ε).
 * A group whose scores are all equal gets A = 0: it carries no gradient (see dynamic-sampling.ts).
 */
export function grpoAdvantages(scores: readonly number[], groups: readonly GroupId[], options: GrpoOptions = {}): number[] {
  checkLengths(scores, groups);
  const normalizeByStd = options.normalizeByStd ?? true;
  const epsilon = options.epsilon ?? 1e-6;
  const out = new Array<number>(scores.length);
  for (const members of indicesByGroup(groups).values()) {
    const s = members.map((i) => scores[i]);
    const mu = s.length > 1 ? mean(s) : 0;
    const sigma = s.length > 1 ? sampleStd(s) : 1;
    for (const i of members) out[i] = normalizeByStd ? (scores[i] - mu) / (sigma + epsilon) : scores[i] - mu;
  }
  return out;
}

/**
 * Dr.GRPO (Liu et al. 2025, "GRPO done right"): A_i = s_i − μ_g, no std division (which over-weights tasks that
 * are nearly solved or nearly failed). Pair it with the `seq-mean-token-sum-norm` aggregation.
 */
export function drGrpoAdvantages(scores: readonly number[], groups: readonly GroupId[]): number[] {
  return grpoAdvantages(scores, groups, { normalizeByStd: false });
}

/**
 * RLOO (Ahmadian et al. 2024): A_i = s_i − mean_{j≠i} s_j = n(s_i − μ_g)/(n − 1) for a group of n > 1.
 * A group of one has no other sample to compare with: A_i = s_i (verl).
 */
export function rlooAdvantages(scores: readonly number[], groups: readonly GroupId[]): number[] {
  checkLengths(scores, groups);
  const out = new Array<number>(scores.length);
  for (const members of indicesByGroup(groups).values()) {
    const n = members.length;
    const total = members.reduce((a, i) => a + scores[i], 0);
    for (const i of members) out[i] = n > 1 ? scores[i] - (total - scores[i]) / (n - 1) : scores[i];
  }
  return out;
}

export interface LoopOptions {
  /** Drop trajectories with |A_i| below this (they carry almost no signal). Default 0.01 (apple/ml-loop). */
  minAbsAdvantage?: number;
}

export interface LoopAdvantages {
  /** Leave-one-out advantage per trajectory (no std normalisation: LOOP found it costs ~9 points). */
  advantages: number[];
  /** Indices of the trajectories to train on: |A_i| ≥ minAbsAdvantage. */
  keep: number[];
}

/**
 * LOOP, leave-one-out PPO (Chen et al. 2025, arXiv 2502.01600; 71.3 TGC on AppWorld test-normal):
 * A_i = s_i − (1/(K−1)) Σ_{j≠i} s_j (exactly RLOO), then drop rollouts with |A_i| < 0.01, shuffle the rest
 * across tasks and run PPO epochs with a per-token ratio. `LOOP_LOSS` holds the loss settings that go with it.
 */
export function loopAdvantages(scores: readonly number[], groups: readonly GroupId[], options: LoopOptions = {}): LoopAdvantages {
  const threshold = options.minAbsAdvantage ?? 0.01;
  const advantages = rlooAdvantages(scores, groups);
  const keep = advantages.flatMap((a, i) => (Math.abs(a) >= threshold ? [i] : []));
  return { advantages, keep };
}

/**
 * LOOP's loss, from the paper and apple/ml-loop's defaults: PPO clip with ε = 0.1 on both sides (min(ρA,
 * A + ε|A|) is the clipped surrogate), each trajectory's loss averaged over its own action tokens
 * (`seq-mean-token-mean`), no KL, no critic, 2 epochs of mini-batches of 32. config/defaults.ts applies these to
 * `algorithm: "loop"` wherever the run config leaves the matching ppo / kl setting out.
 */
export const LOOP_LOSS = {
  clipLow: 0.1,
  clipHigh: 0.1,
  aggregation: 'seq-mean-token-mean',
  klCoef: 0,
  epochs: 2,
  miniBatchSize: 32,
} as const;

/**
 * REINFORCE++ with a group baseline (verl `reinforce_plus_plus_baseline`): A_i = s_i − μ_g tiled over the
 * action tokens, then whitened batch-wide over valid tokens (`maskedWhiten`). Scores are the row sums of the
 * token rewards, so unlike plain REINFORCE++ (reinforce-pp.ts) every turn receives the terminal reward.
 */
export function reinforcePlusPlusBaselineAdvantages(tokenRewards: Matrix, mask: Matrix, groups: readonly GroupId[]): Matrix {
  assertSameShape(mask, { tokenRewards });
  const centred = grpoAdvantages(rowSums(tokenRewards), groups, { normalizeByStd: false });
  return maskedWhiten(broadcastToTokens(centred, mask), mask);
}

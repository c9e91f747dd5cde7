/**
 * Debug metrics computed next to the update (CleanRL's ppo.py set, plus what token-level agents need), on plain
 * numbers over the action tokens only. Names match the formulas:
 *
 *   clipFraction        mean 1[ratio outside [1 − ε_low, 1 + ε_high]]   how often the clip is active
 *   approxKlK1          mean(−log ρ)                                    CleanRL `old_approx_kl`
 *   approxKlK3          mean((ρ − 1) − log ρ)                           CleanRL `approx_kl`, ≥ 0, use for early stop
 *   entropy             mean H_t
 *   explainedVariance   1 − Var[R − V] / Var[R]                        1 = perfect critic, ≤ 0 = no better than a constant
 */
import { Matrix, assertSameShape, countValid, maskedMean, maskedVariance } from './masks';
import { GroupId, indicesByGroup } from './group-advantages';

/** Values at the action tokens, flattened row by row. */
function validValues(x: Matrix, mask: Matrix): number[] {
  return x.flatMap((row, i) => row.filter((_, t) => mask[i][t]));
}

export interface RatioStats {
  clipFraction: number;
  approxKlK1: number;
  approxKlK3: number;
}

/** Ratio diagnostics of an update from new and old log-probs of the sampled tokens. */
export function ratioStats(
  logProbs: Matrix,
  oldLogProbs: Matrix,
  mask: Matrix,
  clipLow = 0.2,
  clipHigh = 0.2,
): RatioStats {
  assertSameShape(mask, { logProbs, oldLogProbs });
  const logRatios = validValues(logProbs.map((row, i) => row.map((v, t) => v - oldLogProbs[i][t])), mask);
  const n = logRatios.length;
  let clipped = 0;
  let k1 = 0;
  let k3 = 0;
  for (const lr of logRatios) {
    const ratio = Math.exp(lr);
    if (ratio < 1 - clipLow || ratio > 1 + clipHigh) clipped += 1;
    k1 += -lr;
    k3 += ratio - 1 - lr;
  }
  return { clipFraction: clipped / n, approxKlK1: k1 / n, approxKlK3: k3 / n };
}

/** Mean entropy over action tokens. */
export function meanEntropy(entropy: Matrix, mask: Matrix): number {
  return maskedMean(entropy, mask);
}

/** 1 − Var[R − V]/Var[R] over action tokens (NaN when the returns have no variance). */
export function explainedVariance(values: Matrix, returns: Matrix, mask: Matrix): number {
  assertSameShape(mask, { values, returns });
  const residual = returns.map((row, i) => row.map((r, t) => r - values[i][t]));
  const varReturns = maskedVariance(returns, mask, false);
  return varReturns === 0 ? NaN : 1 - maskedVariance(residual, mask, false) / varReturns;
}

export interface AdvantageStats {
  mean: number;
  /** Population std over action tokens. */
  std: number;
  min: number;
  max: number;
  /** Share of action tokens whose advantage is exactly 0 (e.g. from uniform-reward groups). */
  fractionZero: number;
}

export function advantageStats(advantages: Matrix, mask: Matrix): AdvantageStats {
  assertSameShape(mask, { advantages });
  const v = validValues(advantages, mask);
  if (v.length === 0) throw new Error('advantageStats: no action tokens');
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
  return {
    mean,
    std,
    min: v.reduce((a, x) => Math.min(a, x), Infinity),
    max: v.reduce((a, x) => Math.max(a, x), -Infinity),
    fractionZero: v.filter((x) => x === 0).length / countValid(mask),
  };
}

/** Share of groups whose scores are all equal: the groups GRPO/RLOO learn nothing from. */
export function fractionUniformGroups(scores: readonly number[], groups: readonly GroupId[]): number {
  const byGroup = [...indicesByGroup(groups).values()];
  const uniform = byGroup.filter((members) => members.every((i) => scores[i] === scores[members[0]])).length;
  return uniform / byGroup.length;
}

/**
 * Group-relative advantages for the bandit fixture (the full set of estimators lives in rl/).
 * `grpo`: (r - group mean) / (group std + eps); `rloo`: r - mean of the other samples; `reinforce`: r - batch mean.
 */
export type BanditAlgorithm = 'grpo' | 'rloo' | 'reinforce';

export function groupAdvantages(groups: number[][], algorithm: BanditAlgorithm): number[][] {
  const all = groups.flat();
  const batchMean = all.length ? all.reduce((a, b) => a + b, 0) / all.length : 0;
  return groups.map((rewards) => {
    const n = rewards.length;
    const mean = rewards.reduce((a, b) => a + b, 0) / n;
    if (algorithm === 'reinforce') return rewards.map((r) => r - batchMean);
    if (algorithm === 'rloo') return rewards.map((r) => (n > 1 ? r - (mean * n - r) / (n - 1) : 0));
    const std = Math.sqrt(rewards.reduce((sum, r) => sum + (r - mean) ** 2, 0) / n);
    return rewards.map((r) => (r - mean) / (std + 1e-6));
  });
}

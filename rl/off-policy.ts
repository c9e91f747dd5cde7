/**
 * The correction for samples an older policy drew (asynchronous training): AReaL's decoupled PPO objective (Fu et
 * al. 2025, arXiv 2505.24298; `ppo_actor_loss_fn` with `behav_imp_weight_cap`). The clipped ratio is taken against
 * the proximal policy π_prox (the version being updated, as scoreBatch recomputes it), and each token's loss is
 * weighted by
 *
 *   w_t = π_prox(a_t) / π_behav(a_t) = exp(log π_prox − log π_behav)     π_behav: the version that sampled a_t
 *   w_t = 0 where w_t > cap                                              AReaL drops such tokens, it does not clip them
 *
 * Only stale trajectories (sampled by an older version) are weighted: a fresh one's weight is 1, so a synchronous
 * run's loss is what it was. A trajectory more than `maxStaleness` versions behind is dropped whole (weight 0).
 */
import type { Matrix } from './masks';

export interface OffPolicyStats {
  /** Trajectories by versions behind the policy being updated: { "0": n0, "1": n1, ... }. */
  staleness: Record<string, number>;
  /** Trajectories further behind than maxStaleness (their loss is dropped). */
  droppedTrajectories: number;
  /** Stale action tokens whose weight exceeded the cap (their loss is dropped). */
  cappedTokens: number;
  /** Mean w over the stale tokens kept (1 when there are none). */
  meanWeight: number;
}

export interface OffPolicyCorrection extends OffPolicyStats {
  /** w_t in row space: 1 on fresh trajectories, 0 on padding. */
  weights: Matrix;
}

export interface OffPolicyInput {
  /** The version that sampled each trajectory. */
  versions: readonly number[];
  /** log π_behav of each action token (the sampler's, recorded at rollout), row space. */
  behaviorLogProbs: Matrix;
  /** log π_prox of each action token (scoreBatch's, under the version being updated), row space. */
  proximalLogProbs: Matrix;
  /** 1 on action tokens, 0 on padding, row space. */
  mask: Matrix;
  /** Trajectories the update trains on (the rest keep weight 1 and stay out of the statistics); absent = all. */
  only?: readonly number[];
}

export function offPolicyCorrection(input: OffPolicyInput, opts: { version: number; maxStaleness: number; cap: number }): OffPolicyCorrection {
  if (!(opts.cap > 1)) throw new Error(`the importance cap must be > 1, got ${opts.cap}`);
  const only = input.only && new Set(input.only);
  const staleness: Record<string, number> = {};
  let droppedTrajectories = 0;
  let cappedTokens = 0;
  let weightSum = 0;
  let weighted = 0;
  const weights = input.mask.map((row, t) => {
    const behind = opts.version - input.versions[t];
    if (behind < 0) throw new Error(`trajectory ${t} was sampled by version ${input.versions[t]}, newer than the policy being updated (${opts.version})`);
    if (only && !only.has(t)) return row.map((m) => m);
    staleness[behind] = (staleness[behind] ?? 0) + 1;
    if (behind === 0) return row.map((m) => m);
    if (behind > opts.maxStaleness) {
      droppedTrajectories++;
      return row.map(() => 0);
    }
    return row.map((m, k) => {
      if (m === 0) return 0;
      const w = Math.exp(Math.min(20, Math.max(-20, input.proximalLogProbs[t][k] - input.behaviorLogProbs[t][k])));
      if (w > opts.cap) {
        cappedTokens++;
        return 0;
      }
      weightSum += w;
      weighted++;
      return w;
    });
  });
  return { weights, staleness, droppedTrajectories, cappedTokens, meanWeight: weighted ? weightSum / weighted : 1 };
}

/**
 * REINFORCE++ (Hu 2025, arXiv 2501.03262; verl `compute_reinforce_plus_plus_outcome_advantage`): discounted
 * token returns, whitened batch-wide, no critic and no group.
 *
 *   G_t = r_t + γ·G_{t+1},   A = maskedWhiten(G, m)
 *
 * Multi-turn pitfall: verl resets the running return at every mask-0 token (`G = G·m_t`, meant as "reset after
 * EOS"). Tool-output tokens are mask-0 too, so with `maskedTokens: 'reset'` the terminal reward never reaches
 * the action tokens of earlier turns: only the last turn learns. The default `'skip'` carries G across masked
 * tokens unchanged (as GAE does), so every turn sees the outcome, discounted once per action token.
 * For multi-turn agents the group baseline variant (`reinforcePlusPlusBaselineAdvantages`) avoids the issue too.
 */
import { Matrix, assertSameShape, maskedWhiten } from './masks';

export interface ReinforcePlusPlusOptions {
  gamma: number;
  /** 'skip' (default): G passes over masked tokens. 'reset': verl's G ← G·m_t (single-turn only; see above). */
  maskedTokens?: 'skip' | 'reset';
}

export interface ReinforcePlusPlusResult {
  /** Whitened returns on action tokens, 0 on masked tokens. */
  advantages: Matrix;
  /** Raw discounted returns G_t on action tokens, 0 on masked tokens. */
  returns: Matrix;
}

export function reinforcePlusPlusAdvantages(
  rewards: Matrix,
  mask: Matrix,
  { gamma, maskedTokens = 'skip' }: ReinforcePlusPlusOptions,
): ReinforcePlusPlusResult {
  assertSameShape(mask, { rewards });
  const returns = mask.map((row, i) => {
    const out = new Array<number>(row.length).fill(0);
    let G = 0;
    for (let t = row.length - 1; t >= 0; t--) {
      if (row[t]) {
        G = rewards[i][t] + gamma * G;
        out[t] = G;
      } else if (maskedTokens === 'reset') {
        G = 0;
      }
    }
    return out;
  });
  return { advantages: maskedWhiten(returns, mask), returns };
}

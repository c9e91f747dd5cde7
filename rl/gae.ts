/**
 * Generalized Advantage Estimation over multi-turn token rows (Schulman et al. 2016; verl
 * `compute_gae_advantage_return`).
 *
 * Walking each row backwards, only action tokens (m = 1) take part in the TD chain; observation and pad tokens
 * are skipped, so the chain jumps from one turn's first action token over the tool output to the previous
 * turn's last action token:
 *
 *   δ_t = r_t + γ·V_next − V_t
 *   A_t = δ_t + γ·λ·A_next
 *   (V_next, A_next) ← (V_t, A_t)  only when m_t = 1;  V_next = A_next = 0 after the last token (episodic)
 *   R_t = A_t + V_t   (the critic's target)
 *
 * A reward written on a masked token is lost, so place it on the last action token (`placeTerminalRewards`).
 * Advantages are returned raw; PPO then whitens them batch-wide with `maskedWhiten`.
 * With γ = λ = 1 and one terminal reward R, A_t = R − V_t on every action token.
 */
import { Matrix, assertSameShape } from './masks';

export interface GaeOptions {
  gamma: number;
  lambda: number;
}

export interface GaeResult {
  /** A_t on action tokens, 0 on masked tokens. */
  advantages: Matrix;
  /** R_t = A_t + V_t on action tokens, 0 on masked tokens. */
  returns: Matrix;
}

export function computeGae(rewards: Matrix, values: Matrix, mask: Matrix, { gamma, lambda }: GaeOptions): GaeResult {
  assertSameShape(mask, { rewards, values });
  const advantages: Matrix = [];
  const returns: Matrix = [];
  for (let i = 0; i < mask.length; i++) {
    const L = mask[i].length;
    const adv = new Array<number>(L).fill(0);
    const ret = new Array<number>(L).fill(0);
    let nextValue = 0;
    let nextAdvantage = 0;
    for (let t = L - 1; t >= 0; t--) {
      if (!mask[i][t]) continue; // observation / pad token: not a decision, skip it
      const delta = rewards[i][t] + gamma * nextValue - values[i][t];
      nextAdvantage = delta + gamma * lambda * nextAdvantage;
      nextValue = values[i][t];
      adv[t] = nextAdvantage;
      ret[t] = nextAdvantage + values[i][t];
    }
    advantages.push(adv);
    returns.push(ret);
  }
  return { advantages, returns };
}

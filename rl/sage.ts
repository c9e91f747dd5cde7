/**
 * SAGE's skill-integrated reward (Wang et al., arXiv 2512.17102; research/seed-algorithms.md section 2).
 *
 * A rollout is a chain of tasks from one scenario, run in order with one skill library, so skills written in
 * task k are in the library of task k+1. On top of each task's outcome reward, for the task at chain position k:
 *
 *   generation_k = w_gen * 1[success_k and success_{k+1} and task k+1 called, successfully, a skill written in task k]
 *   use_k        = w_use * 1[success_k and task k called, successfully, a skill from its library (written before k)]
 *   R_k          = outcome_k + generation_k + use_k
 *
 * With the paper's chains of 2: R_1 = o_1 + 1[o_1 and o_2 and task 2 used a skill of task 1],
 * R_2 = o_2 + 1[o_2 and task 2 used a library skill]. The paper's exact weights are not public (the notes mark the
 * form as a reading to check), so both weights are parameters, 1 by default. Pure: no I/O, no environment.
 */

export interface SageSkillCall {
  /** Chain position (0 = first task) of the task that wrote the skill; absent for a call to no existing skill. */
  origin?: number;
  ok: boolean;
}

/** One task of a chain, in chain order. */
export interface SageEpisode {
  /** The environment's outcome reward (apps: 1 when every check passes, else 0). */
  reward: number;
  success: boolean;
  skillCalls: readonly SageSkillCall[];
}

export interface SageWeights {
  /** Credit to task k for a skill it wrote that task k+1 used successfully, both succeeding. */
  skillGeneration: number;
  /** Credit to a successful task that used a skill from its library. */
  skillUse: number;
}

/** Chains of 2 tasks (the paper found longer chains no better) and unit weights. */
export const SAGE_DEFAULTS: SageWeights & { chainLength: number } = { chainLength: 2, skillGeneration: 1, skillUse: 1 };

export interface SageReward {
  outcome: number;
  generation: number;
  use: number;
  total: number;
}

function checkWeights(weights: SageWeights): void {
  for (const [name, w] of Object.entries(weights)) {
    if (!Number.isFinite(w) || w < 0) throw new Error(`SAGE weight ${name} must be a finite number >= 0, got ${w}`);
  }
}

/** The reward of every task of one chain, in chain order. */
export function sageRewards(chain: readonly SageEpisode[], weights: SageWeights = SAGE_DEFAULTS): SageReward[] {
  checkWeights(weights);
  chain.forEach((episode, k) => {
    for (const call of episode.skillCalls) {
      if (call.origin !== undefined && !(Number.isInteger(call.origin) && call.origin >= 0 && call.origin <= k)) {
        throw new Error(`chain task ${k} called a skill from position ${call.origin}; a skill comes from this task or an earlier one`);
      }
    }
  });
  const usedFrom = (episode: SageEpisode, origin: (o: number) => boolean) =>
    episode.skillCalls.some((c) => c.ok && c.origin !== undefined && origin(c.origin));
  return chain.map((episode, k) => {
    const next = chain[k + 1];
    const generation = episode.success && next?.success && usedFrom(next, (o) => o === k) ? weights.skillGeneration : 0;
    const use = episode.success && usedFrom(episode, (o) => o < k) ? weights.skillUse : 0;
    return { outcome: episode.reward, generation, use, total: episode.reward + generation + use };
  });
}

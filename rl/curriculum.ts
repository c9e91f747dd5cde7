/**
 * A difficulty-aware task sampler for the curriculum. The seed article found that training on harder tasks
 * transfers to easier ones, and a task the policy always solves (or never solves) gives a group of equal
 * rewards and so no group-relative signal. Each task keeps its recent success rate p over a sliding window,
 * and tasks are drawn without replacement with weight
 *
 *   0 < p < 1   learnable · (1 + hardness · (1 − p))    preferred, and the harder the more
 *   unseen      unseen                                   explore new tasks
 *   p = 0       unsolved                                 kept at a low rate: the policy may grow into them
 *   p = 1       solved                                   nearly dropped; 0 drops them entirely
 *
 * using Efraimidis-Spirakis keys u^(1/w) with u from `Rng(seed)`. The state is plain JSON and `selectTasks`
 * reads only (state, count, seed), so a Temporal workflow can carry the state and replay the choice exactly.
 */
import { Rng } from '../common/random';

export interface CurriculumWeights {
  learnable: number;
  hardness: number;
  unseen: number;
  unsolved: number;
  solved: number;
}

export const DEFAULT_CURRICULUM_WEIGHTS: CurriculumWeights = {
  learnable: 4,
  hardness: 1,
  unseen: 2,
  unsolved: 0.5,
  solved: 0.1,
};

export interface CurriculumState {
  /** How many recent outcomes per task define its success rate. */
  window: number;
  weights: CurriculumWeights;
  /** Recent outcomes per task id, oldest first, each in [0, 1] (1 = success). */
  history: Record<string, number[]>;
}

export function createCurriculum(
  taskIds: readonly string[],
  window = 8,
  weights: CurriculumWeights = DEFAULT_CURRICULUM_WEIGHTS,
): CurriculumState {
  if (!(window >= 1)) throw new Error(`window must be >= 1, got ${window}`);
  const history: Record<string, number[]> = {};
  for (const id of taskIds) history[id] = [];
  return { window, weights: { ...weights }, history };
}

/** A new state with the outcomes appended (tasks not yet known are added); only the last `window` are kept. */
export function recordOutcomes(
  state: CurriculumState,
  outcomes: readonly { taskId: string; success: number }[],
): CurriculumState {
  const history: Record<string, number[]> = {};
  for (const [id, h] of Object.entries(state.history)) history[id] = h.slice();
  for (const { taskId, success } of outcomes) {
    if (!(success >= 0 && success <= 1)) throw new Error(`success for ${taskId} must be in [0, 1], got ${success}`);
    (history[taskId] ??= []).push(success);
  }
  for (const id of Object.keys(history)) history[id] = history[id].slice(-state.window);
  return { ...state, history };
}

/** Mean of the task's recent outcomes, or undefined when it has none yet. */
export function successRate(state: CurriculumState, taskId: string): number | undefined {
  const h = state.history[taskId];
  if (!h || h.length === 0) return undefined;
  return h.reduce((a, v) => a + v, 0) / h.length;
}

/** The sampling weight of a task (see the table at the top of this file). */
export function taskWeight(state: CurriculumState, taskId: string): number {
  const p = successRate(state, taskId);
  const w = state.weights;
  if (p === undefined) return w.unseen;
  if (p <= 0) return w.unsolved;
  if (p >= 1) return w.solved;
  return w.learnable * (1 + w.hardness * (1 - p));
}

/**
 * `count` distinct task ids, weighted as above; fewer when fewer tasks have positive weight.
 * Deterministic in (state, count, seed): ids are visited in sorted order, one Rng draw each.
 */
export function selectTasks(state: CurriculumState, count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const keyed = Object.keys(state.history)
    .sort()
    .map((id) => ({ id, weight: taskWeight(state, id), u: rng.next() }))
    .filter((x) => x.weight > 0)
    // log of the Efraimidis-Spirakis key u^(1/w); larger is picked first. 1 − u avoids log(0).
    .map((x) => ({ id: x.id, key: Math.log(1 - x.u) / x.weight }));
  keyed.sort((a, b) => b.key - a.key || (a.id < b.id ? -1 : 1));
  return keyed.slice(0, count).map((x) => x.id);
}

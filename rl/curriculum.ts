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
 *
 * That table is the default weighting, `sometimes-solved` (a state whose weights name no mode is one). The
 * run config's `curriculum.weighting` may pick another:
 *
 *   uniform           every task weight 1: plain sampling without replacement
 *   hard-with-floor   max(floor, 1 − p), unseen → `unseen`: the harder the more, a solved task still at `floor`
 */
import { Rng } from '../common/random';
import type { BandSnapshot } from './task-filter';

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

/** How tasks are weighted; the default table's weights carry no `mode` (states stored before there were modes). */
export type CurriculumWeighting =
  | (CurriculumWeights & { mode?: 'sometimes-solved' })
  | { mode: 'uniform' }
  | { mode: 'hard-with-floor'; floor: number; unseen: number };

export interface CurriculumState {
  /** How many recent outcomes per task define its success rate. */
  window: number;
  weights: CurriculumWeighting;
  /** Recent outcomes per task id, oldest first, each in [0, 1] (1 = success). */
  history: Record<string, number[]>;
  /** A generated task stream's pass-rate band (rl/task-filter.ts): the tasks it keeps, as of which step. */
  band?: BandSnapshot;
}

export function createCurriculum(
  taskIds: readonly string[],
  window = 8,
  weights: CurriculumWeighting = DEFAULT_CURRICULUM_WEIGHTS,
): CurriculumState {
  if (!(window >= 1)) throw new Error(`window must be >= 1, got ${window}`);
  checkWeighting(weights);
  const history: Record<string, number[]> = {};
  for (const id of taskIds) history[id] = [];
  return { window, weights: { ...weights }, history };
}

function checkWeighting(w: CurriculumWeighting): void {
  const values = w.mode === 'uniform' ? [] : w.mode === 'hard-with-floor' ? [w.floor, w.unseen] : [w.learnable, w.hardness, w.unseen, w.unsolved, w.solved];
  if (values.some((v) => !(v >= 0 && Number.isFinite(v)))) throw new Error(`curriculum weights must be finite and >= 0, got ${JSON.stringify(w)}`);
  if (w.mode === 'hard-with-floor' && w.floor > 1) throw new Error(`hard-with-floor's floor must be in [0, 1], got ${w.floor}`);
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
  if (w.mode === 'uniform') return 1;
  if (w.mode === 'hard-with-floor') return p === undefined ? w.unseen : Math.max(w.floor, 1 - p);
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

/**
 * The adaptive filter for a generated task stream (issue 32): keep the tasks whose current pass rate lies in a
 * band [low, high], both edges included, so training sees tasks the policy solves sometimes (a group of equal
 * rewards carries no group-relative signal). A task with fewer than `minOutcomes` recorded outcomes is not yet
 * measured and is kept, so it gets tried and measured. Pass rates come from the curriculum's history (recent
 * outcomes per task id), and the kept set is recomputed every `refreshEvery` steps as the policy improves:
 * a task it has learnt leaves through the top of the band, one it has grown into enters through the bottom.
 *
 * Pure: (history, step, previous snapshot, options) -> snapshot, so the snapshot can live in the carried
 * curriculum state and a replay rebuilds it exactly.
 */
import { hashSeed } from '../common/random';
import { selectTasks, type CurriculumState } from './curriculum';

export interface PassRateBand {
  /** Lowest pass rate kept, included. In [0, 1]. */
  low: number;
  /** Highest pass rate kept, included. In [low, 1]. */
  high: number;
}

export interface TaskFilterOptions {
  band: PassRateBand;
  /** Outcomes a task needs before its pass rate counts; fewer = unmeasured (kept). At least 1. */
  minOutcomes: number;
  /** Steps between refreshes of the kept set. At least 1. */
  refreshEvery: number;
}

export interface FilterVerdict {
  /** In the band, or unmeasured; in id order. */
  kept: string[];
  /** Pass rate above the band. */
  tooEasy: string[];
  /** Pass rate below the band. */
  tooHard: string[];
  /** Kept because fewer than minOutcomes outcomes are recorded. */
  unmeasured: string[];
}

/** The filter state the curriculum carries: which tasks were kept, as of which step. */
export interface BandSnapshot {
  step: number;
  kept: string[];
}

export function checkFilterOptions(opts: TaskFilterOptions): void {
  const { low, high } = opts.band;
  if (!(low >= 0 && low <= high && high <= 1)) throw new Error(`pass-rate band must satisfy 0 <= low <= high <= 1, got [${low}, ${high}]`);
  if (!(Number.isInteger(opts.minOutcomes) && opts.minOutcomes >= 1)) throw new Error(`minOutcomes must be an integer >= 1, got ${opts.minOutcomes}`);
  if (!(Number.isInteger(opts.refreshEvery) && opts.refreshEvery >= 1)) throw new Error(`refreshEvery must be an integer >= 1, got ${opts.refreshEvery}`);
}

/** Sorts every task of `history` by its pass rate (the mean of its recorded outcomes) against the band. */
export function filterByPassRate(history: Readonly<Record<string, readonly number[]>>, opts: Omit<TaskFilterOptions, 'refreshEvery'>): FilterVerdict {
  const verdict: FilterVerdict = { kept: [], tooEasy: [], tooHard: [], unmeasured: [] };
  for (const id of Object.keys(history).sort()) {
    const outcomes = history[id];
    if (outcomes.length < opts.minOutcomes) {
      verdict.unmeasured.push(id);
      verdict.kept.push(id);
      continue;
    }
    const rate = outcomes.reduce((a, v) => a + v, 0) / outcomes.length;
    if (rate < opts.band.low) verdict.tooHard.push(id);
    else if (rate > opts.band.high) verdict.tooEasy.push(id);
    else verdict.kept.push(id);
  }
  return verdict;
}

/** The kept set for `step`: the previous one while it is younger than refreshEvery steps, else refreshed from `history`. */
export function bandAt(
  history: Readonly<Record<string, readonly number[]>>,
  step: number,
  previous: BandSnapshot | undefined,
  opts: TaskFilterOptions,
): BandSnapshot {
  checkFilterOptions(opts);
  if (previous && step >= previous.step && step - previous.step < opts.refreshEvery) return previous;
  return { step, kept: filterByPassRate(history, opts).kept };
}

/**
 * `count` distinct tasks by the curriculum's weights, from the band's kept tasks first; when the band holds too
 * few, the rest come from outside it (same weights, an independent draw). Without a band: plain `selectTasks`.
 */
export function selectTasksInBand(state: CurriculumState, count: number, seed: number): string[] {
  if (!state.band) return selectTasks(state, count, seed);
  const inBand = new Set(state.band.kept);
  const only = (keep: (id: string) => boolean): CurriculumState => ({ ...state, history: Object.fromEntries(Object.entries(state.history).filter(([id]) => keep(id))) });
  const picked = selectTasks(only((id) => inBand.has(id)), count, seed);
  if (picked.length >= count) return picked;
  return [...picked, ...selectTasks(only((id) => !inBand.has(id)), count - picked.length, hashSeed(`${seed}/outside-band`))];
}

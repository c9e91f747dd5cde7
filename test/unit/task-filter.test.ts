/**
 * The adaptive pass-rate filter (rl/task-filter.ts): keeps exactly the band [low, high], both edges included,
 * plus tasks not yet measured; refreshes every `refreshEvery` steps from the recorded outcomes; and the band
 * draw takes its tasks from the band first.
 */
import { createCurriculum, recordOutcomes } from '../../rl/curriculum';
import { bandAt, filterByPassRate, selectTasksInBand, type TaskFilterOptions } from '../../rl/task-filter';

/** `n` outcomes with `k` successes. */
const outcomes = (k: number, n: number) => Array.from({ length: n }, (_, i) => (i < k ? 1 : 0));
const OPTS: TaskFilterOptions = { band: { low: 0.25, high: 0.75 }, minOutcomes: 2, refreshEvery: 3 };

describe('pass-rate band filter', () => {
  // Pass rates 0, 1/8 ... 8/8 around the band [0.25, 0.75].
  const history: Record<string, number[]> = Object.fromEntries(Array.from({ length: 9 }, (_, k) => [`t${k}`, outcomes(k, 8)]));
  history.fresh = [];
  history.once = [1];

  test('keeps exactly the rates in [low, high], edges included, and the unmeasured', () => {
    const v = filterByPassRate(history, OPTS);
    // 2/8 = 0.25 and 6/8 = 0.75 sit on the edges and are kept; 1/8 and 7/8 just outside are not.
    expect(v.kept).toEqual(['fresh', 'once', 't2', 't3', 't4', 't5', 't6']);
    expect(v.tooHard).toEqual(['t0', 't1']);
    expect(v.tooEasy).toEqual(['t7', 't8']);
    expect(v.unmeasured).toEqual(['fresh', 'once']);
    // Every task lands in exactly one bucket besides the unmeasured ones being kept.
    expect(v.kept.length + v.tooEasy.length + v.tooHard.length).toBe(Object.keys(history).length);
  });

  test('a band of one point keeps only that rate; [0, 1] keeps everything', () => {
    // With minOutcomes 1, `once` (1 of 1) is measured and too easy; `fresh` (no outcome) stays kept.
    expect(filterByPassRate(history, { ...OPTS, band: { low: 0.5, high: 0.5 }, minOutcomes: 1 }).kept).toEqual(['fresh', 't4']);
    expect(filterByPassRate(history, { ...OPTS, band: { low: 0, high: 1 } }).kept).toHaveLength(11);
    expect(filterByPassRate(history, { ...OPTS, minOutcomes: 1 }).unmeasured).toEqual(['fresh']);
  });

  test('refreshes every refreshEvery steps from the outcomes recorded so far', () => {
    let state = createCurriculum(['a', 'b', 'c'], 4);
    let band = bandAt(state.history, 0, undefined, OPTS);
    expect(band).toEqual({ step: 0, kept: ['a', 'b', 'c'] }); // nothing measured yet
    // The policy learns `a` (always solved) and still fails `b`; `c` is solved half the time.
    state = recordOutcomes(state, [
      ...[1, 1, 1, 1].map((success) => ({ taskId: 'a', success })),
      ...[0, 0, 0, 0].map((success) => ({ taskId: 'b', success })),
      ...[1, 0, 1, 0].map((success) => ({ taskId: 'c', success })),
    ]);
    expect(bandAt(state.history, 1, band, OPTS)).toBe(band); // not yet due
    expect(bandAt(state.history, 2, band, OPTS)).toBe(band);
    band = bandAt(state.history, 3, band, OPTS);
    expect(band).toEqual({ step: 3, kept: ['c'] });
    // Later the policy grows into `b` and masters `c`: the next refresh swaps them.
    state = recordOutcomes(state, [
      ...[1, 0, 1, 1].map((success) => ({ taskId: 'b', success })),
      ...[1, 1, 1, 1].map((success) => ({ taskId: 'c', success })),
    ]);
    expect(bandAt(state.history, 5, band, OPTS)).toBe(band);
    expect(bandAt(state.history, 6, band, OPTS)).toEqual({ step: 6, kept: ['b'] });
    expect(() => bandAt(state.history, 0, undefined, { ...OPTS, band: { low: 0.8, high: 0.2 } })).toThrow(/0 <= low <= high <= 1/);
    expect(() => bandAt(state.history, 0, undefined, { ...OPTS, refreshEvery: 0 })).toThrow(/refreshEvery/);
  });

  test('the band draw takes band tasks first and tops up from outside it, deterministically', () => {
    let state = createCurriculum(['a', 'b', 'c', 'd', 'e'], 4);
    state = recordOutcomes(state, [
      ...['a', 'b', 'c'].flatMap((taskId) => [1, 1, 1, 1].map((success) => ({ taskId, success }))),
      ...['d', 'e'].flatMap((taskId) => [1, 0, 1, 0].map((success) => ({ taskId, success }))),
    ]);
    state = { ...state, band: bandAt(state.history, 0, undefined, OPTS) };
    expect(state.band!.kept).toEqual(['d', 'e']);
    for (let seed = 0; seed < 30; seed++) {
      expect(new Set(selectTasksInBand(state, 2, seed))).toEqual(new Set(['d', 'e']));
      const four = selectTasksInBand(state, 4, seed);
      expect(new Set(four.slice(0, 2))).toEqual(new Set(['d', 'e']));
      expect(new Set(four).size).toBe(4);
      expect(selectTasksInBand(JSON.parse(JSON.stringify(state)), 4, seed)).toEqual(four);
    }
  });
});

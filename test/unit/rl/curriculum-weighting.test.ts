/**
 * The curriculum's weighting as config (`curriculum.weighting`, config/training-tasks.ts): each mode's weights on
 * hand-computed states, the default equal to the original table (same JSON, so carried states do not change),
 * draws that follow each mode's weights, and the config's checks of the section and of `tasks`.
 */
import { parseRunConfig } from '../../../config/run-config';
import { curriculumWeightingOf } from '../../../config/training-tasks';
import {
  createCurriculum,
  type CurriculumWeighting,
  DEFAULT_CURRICULUM_WEIGHTS,
  recordOutcomes,
  selectTasks,
  taskWeight,
} from '../../../rl/curriculum';

// Window 4: easy 4/4, medium 3/4, hard 1/4, impossible 0/4, fresh unseen.
const IDS = ['easy', 'medium', 'hard', 'impossible', 'fresh'];
const RESULTS: Record<string, number[]> = { easy: [1, 1, 1, 1], medium: [1, 0, 1, 1], hard: [0, 0, 1, 0], impossible: [0, 0, 0, 0] };

function stateWith(weighting: CurriculumWeighting) {
  return recordOutcomes(
    createCurriculum(IDS, 4, weighting),
    Object.entries(RESULTS).flatMap(([taskId, r]) => r.map((success) => ({ taskId, success }))),
  );
}
const weightsOf = (weighting: CurriculumWeighting) => Object.fromEntries(IDS.map((id) => [id, taskWeight(stateWith(weighting), id)]));
const base = { runId: 'weighting', env: 'apps', steps: 1 } as const;

describe('curriculum weighting modes', () => {
  test('the default section is the original table, with the same JSON (no mode key)', () => {
    const config = parseRunConfig(base);
    expect(config.curriculum).toEqual({ weighting: 'sometimes-solved', window: 8, learnable: 4, hardness: 1, unseen: 2, unsolved: 0.5, solved: 0.1 });
    const weighting = curriculumWeightingOf(config.curriculum);
    expect(JSON.stringify(weighting)).toBe(JSON.stringify(DEFAULT_CURRICULUM_WEIGHTS));
    expect(JSON.stringify(createCurriculum(IDS, config.curriculum.window, weighting))).toBe(JSON.stringify(createCurriculum(IDS)));
  });

  test('sometimes-solved: learnable · (1 + hardness · (1 − p)), unseen, unsolved, solved', () => {
    expect(weightsOf(DEFAULT_CURRICULUM_WEIGHTS)).toEqual({ easy: 0.1, medium: 4 * 1.25, hard: 4 * 1.75, impossible: 0.5, fresh: 2 });
    const custom = curriculumWeightingOf(parseRunConfig({ ...base, curriculum: { weighting: 'sometimes-solved', learnable: 2, hardness: 0, solved: 0 } }).curriculum);
    expect(weightsOf(custom)).toEqual({ easy: 0, medium: 2, hard: 2, impossible: 0.5, fresh: 2 });
    // A state stored before there were modes (weights without `mode`) is weighted the same way.
    expect(weightsOf({ ...DEFAULT_CURRICULUM_WEIGHTS, mode: 'sometimes-solved' })).toEqual(weightsOf(DEFAULT_CURRICULUM_WEIGHTS));
  });

  test('uniform: every task 1, seen or not', () => {
    expect(weightsOf({ mode: 'uniform' })).toEqual({ easy: 1, medium: 1, hard: 1, impossible: 1, fresh: 1 });
  });

  test('hard-with-floor: max(floor, 1 − p), unseen at `unseen`', () => {
    expect(weightsOf({ mode: 'hard-with-floor', floor: 0.1, unseen: 1 })).toEqual({ easy: 0.1, medium: 0.25, hard: 0.75, impossible: 1, fresh: 1 });
    // A floor above 1 − p lifts the easier tasks to it.
    expect(weightsOf({ mode: 'hard-with-floor', floor: 0.3, unseen: 0.5 })).toEqual({ easy: 0.3, medium: 0.3, hard: 0.75, impossible: 1, fresh: 0.5 });
  });

  test('draws follow each mode\'s weights: P(first pick) = w / Σ w', () => {
    const runs = 3000;
    for (const weighting of [{ mode: 'uniform' }, { mode: 'hard-with-floor', floor: 0.1, unseen: 1 }] as CurriculumWeighting[]) {
      const state = stateWith(weighting);
      const weights = weightsOf(weighting);
      const total = Object.values(weights).reduce((a, v) => a + v, 0);
      const first: Record<string, number> = {};
      for (let seed = 0; seed < runs; seed++) {
        const [id] = selectTasks(state, 1, seed);
        first[id] = (first[id] ?? 0) + 1;
      }
      for (const [id, w] of Object.entries(weights)) {
        const expected = w / total;
        const sd = Math.sqrt((expected * (1 - expected)) / runs);
        expect(Math.abs((first[id] ?? 0) / runs - expected)).toBeLessThan(4 * sd + 1e-3);
      }
    }
  });

  test('the config refuses bad sections with the field named', () => {
    expect(parseRunConfig({ ...base, curriculum: { weighting: 'uniform' } }).curriculum).toEqual({ weighting: 'uniform', window: 8 });
    expect(() => parseRunConfig({ ...base, curriculum: { weighting: 'hardest' } })).toThrow(/curriculum\.weighting/);
    expect(() => parseRunConfig({ ...base, curriculum: { weighting: 'hard-with-floor', floor: 2 } })).toThrow(/curriculum\.floor/);
    expect(() => parseRunConfig({ ...base, curriculum: { weighting: 'uniform', floor: 0.2 } })).toThrow(/curriculum.floor: is a parameter of weighting hard-with-floor, not of uniform/);
    expect(() => parseRunConfig({ ...base, tasks: { pool: 10 } })).toThrow(/tasks.pool: is a setting of source "synthetic"/);
    expect(() => createCurriculum(IDS, 4, { mode: 'hard-with-floor', floor: -1, unseen: 1 })).toThrow(/>= 0/);
  });

  test('tasks: the fixed split by default; a synthetic stream for apps and deepsearch, with its band and pool checked', () => {
    expect(parseRunConfig(base).tasks).toEqual({ source: 'fixed' });
    expect(parseRunConfig({ ...base, tasks: { source: 'synthetic' } }).tasks).toEqual({
      source: 'synthetic', seed: 0, pool: 512, band: { low: 0.1, high: 0.9 }, minOutcomes: 2, refreshEvery: 5,
    });
    // A stream is not limited by the train split's 72 tasks, only by its pool.
    expect(parseRunConfig({ ...base, tasksPerStep: 100, rolloutShards: 1, tasks: { source: 'synthetic', pool: 100 } }).tasksPerStep).toBe(100);
    expect(() => parseRunConfig({ ...base, tasksPerStep: 100, rolloutShards: 1 })).toThrow(/tasksPerStep: must be at most the 72 tasks/);
    expect(() => parseRunConfig({ ...base, tasksPerStep: 16, tasks: { source: 'synthetic', pool: 8 } })).toThrow(/tasksPerStep: must be at most the 8 tasks of tasks.pool/);
    expect(() => parseRunConfig({ ...base, tasks: { source: 'synthetic', band: { low: 0.9, high: 0.1 } } })).toThrow(/tasks\.band: low must be at most high/);
    expect(parseRunConfig({ ...base, env: 'deepsearch', tasks: { source: 'synthetic' } }).tasks.source).toBe('synthetic');
    expect(() => parseRunConfig({ ...base, env: 'bandit', algorithm: 'grpo', tasks: { source: 'synthetic' } })).toThrow(/tasks\.source: a synthetic task stream is generated for apps and deepsearch; bandit trains on its fixed split/);
  });
});

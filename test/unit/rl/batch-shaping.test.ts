import {
  createCurriculum,
  filterInformativeGroups,
  groupsToOversample,
  recordOutcomes,
  selectTasks,
  successRate,
  taskWeight,
} from '../../../rl';

describe('dynamic sampling', () => {
  test('drops groups whose rewards are all equal, keeps the others in input order', () => {
    const scores = [1, 1, 0, 1, 0, 0, 0.5, 0.5];
    const groups = ['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd'];
    expect(filterInformativeGroups(scores, groups)).toEqual({
      keep: [2, 3],
      keptGroups: ['b'],
      droppedGroups: ['a', 'c', 'd'],
    });
    expect(filterInformativeGroups([0, 0.01], ['x', 'x'], 0.05).droppedGroups).toEqual(['x']);
  });

  test('asks for enough groups to refill the batch at the observed keep rate, capped', () => {
    expect(groupsToOversample({ targetGroups: 16, keptGroups: 8, keepRate: 0.5 })).toBe(16);
    expect(groupsToOversample({ targetGroups: 16, keptGroups: 13, keepRate: 0.75 })).toBe(4);
    expect(groupsToOversample({ targetGroups: 16, keptGroups: 16, keepRate: 0.1 })).toBe(0);
    expect(groupsToOversample({ targetGroups: 10, keptGroups: 0, keepRate: 0 })).toBe(40); // maxFactor 4
    expect(groupsToOversample({ targetGroups: 10, keptGroups: 0, keepRate: 0, maxFactor: 2 })).toBe(20);
  });
});

describe('curriculum sampler', () => {
  const ids = ['easy', 'medium', 'hard', 'impossible', 'fresh'];
  const state = recordOutcomes(createCurriculum(ids, 4), [
    ...[1, 1, 1, 1].map((success) => ({ taskId: 'easy', success })),
    ...[1, 0, 1, 1].map((success) => ({ taskId: 'medium', success })),
    ...[0, 0, 1, 0].map((success) => ({ taskId: 'hard', success })),
    ...[0, 0, 0, 0].map((success) => ({ taskId: 'impossible', success })),
  ]);

  test('success rate over the window and the weight table', () => {
    expect(successRate(state, 'medium')).toBe(0.75);
    expect(successRate(state, 'fresh')).toBeUndefined();
    expect(taskWeight(state, 'hard')).toBe(4 * (1 + 0.75));
    expect(taskWeight(state, 'medium')).toBe(4 * (1 + 0.25));
    expect(taskWeight(state, 'fresh')).toBe(2);
    expect(taskWeight(state, 'impossible')).toBe(0.5);
    expect(taskWeight(state, 'easy')).toBe(0.1);
    // only the last `window` outcomes count
    const later = recordOutcomes(state, [1, 1, 1, 1].map((success) => ({ taskId: 'hard', success })));
    expect(successRate(later, 'hard')).toBe(1);
    expect(state.history.hard).toEqual([0, 0, 1, 0]); // the old state is untouched
  });

  test('deterministic in (state, count, seed), also after a JSON round trip', () => {
    const carried = JSON.parse(JSON.stringify(state));
    for (let seed = 0; seed < 20; seed++) expect(selectTasks(carried, 3, seed)).toEqual(selectTasks(state, 3, seed));
    const picks = new Set(Array.from({ length: 20 }, (_, seed) => selectTasks(state, 2, seed).join(',')));
    expect(picks.size).toBeGreaterThan(1); // the seed matters
  });

  test('draws match the weights: learnable and harder tasks first, solved tasks rarely', () => {
    const firstPick: Record<string, number> = {};
    const runs = 4000;
    for (let seed = 0; seed < runs; seed++) {
      const [first] = selectTasks(state, 1, seed);
      firstPick[first] = (firstPick[first] ?? 0) + 1;
    }
    // P(first = task) = w_task / Σ w for weighted sampling without replacement
    const weights = { hard: 7, medium: 5, fresh: 2, impossible: 0.5, easy: 0.1 };
    const total = Object.values(weights).reduce((a, v) => a + v, 0);
    for (const [id, w] of Object.entries(weights)) {
      const expected = w / total;
      const sd = Math.sqrt((expected * (1 - expected)) / runs);
      expect(Math.abs((firstPick[id] ?? 0) / runs - expected)).toBeLessThan(4 * sd + 1e-3);
    }
  });

  test('returns distinct tasks, fewer when weights allow fewer; a zero weight drops a task', () => {
    const noSolved = { ...state, weights: { ...state.weights, solved: 0 } };
    const all = selectTasks(noSolved, 10, 7);
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual(['fresh', 'hard', 'impossible', 'medium']);
    expect(() => recordOutcomes(state, [{ taskId: 'x', success: 2 }])).toThrow(/\[0, 1\]/);
  });
});

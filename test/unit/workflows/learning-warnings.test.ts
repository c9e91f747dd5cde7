import { learningWarnings, nextFlatSteps } from '../../../workflows/learning-warnings';

test('consecutive flat steps count up and reset on the first step with a signal', () => {
  let flat: number | undefined;
  for (const informativeGroups of [0, 0, 3, 0]) flat = nextFlatSteps(flat, { informativeGroups });
  expect(flat).toBe(1);
  expect(nextFlatSteps(2, { informativeGroups: 0 })).toBe(3);
});

test('a base that never succeeds is named after 3 flat steps, not before', () => {
  const zero = { meanReward: 0, successRate: 0 };
  expect(learningWarnings(2, 30, zero)).toEqual([]);
  expect(learningWarnings(3, 30, zero)).toEqual([expect.stringMatching(/^all groups flat for 3 steps: the base never succeeds on these tasks/)]);
  // A run shorter than the threshold still says so by its end.
  expect(learningWarnings(2, 2, zero)).toHaveLength(1);
});

test('a solved task set and uniform groups get their own advice', () => {
  expect(learningWarnings(3, 30, { meanReward: 1, successRate: 1 })[0]).toMatch(/nothing left to learn/);
  expect(learningWarnings(3, 30, { meanReward: 0.5, successRate: 0.5 })[0]).toMatch(/temperature or groupSize/);
  expect(learningWarnings(0, 30, { meanReward: 0.5, successRate: 0.5 })).toEqual([]);
});

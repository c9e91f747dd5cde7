/** The evaluation summary: pass@k from n ≥ k samples per task, and metrics that do not apply left out. */
import type { TaskInfo } from '../../../envs/types';
import { summariseEvaluation } from '../../../trainer/evaluate';
import type { Trajectory } from '../../../trainer/trajectory';

const tasks: TaskInfo[] = ['a', 'b'].map((id) => ({ id, scenario: id }) as TaskInfo);

function attempt(taskId: string, sample: number, success: boolean, metrics: Record<string, number> = {}): Trajectory {
  return { taskId, group: 0, sample, seed: sample, policyVersion: 0, turns: [], reward: success ? 1 : 0, success, finishReason: 'completed', envErrors: 0, metrics };
}

test('pass@2 from 4 samples is the unbiased estimate, not "any of the samples"', () => {
  // Task a: 1 success in 4 -> 1 − C(3,2)/C(4,2) = 0.5; task b: 0 in 4 -> 0.
  const trajectories = [true, false, false, false].map((s, i) => attempt('a', i, s)).concat([0, 1, 2, 3].map((i) => attempt('b', i, false)));
  expect(summariseEvaluation(tasks, trajectories, 2).passAtK).toBeCloseTo(0.25, 12);
});

test('greedy evaluations have no pass@k', () => {
  expect(summariseEvaluation(tasks, [attempt('a', 0, true), attempt('b', 0, false)])).not.toHaveProperty('passAtK');
});

test('gold-passage recall is averaged over the episodes it applies to, and absent when none', () => {
  const some = [attempt('a', 0, true, { em: 1, gold_passage_recall: 0.5 }), attempt('b', 0, false, { em: 0 })];
  expect(summariseEvaluation(tasks, some)).toMatchObject({ em: 0.5, gold_passage_recall: 0.5 });
  const none = [attempt('a', 0, true, { em: 1 }), attempt('b', 0, false, { em: 0 })];
  expect(summariseEvaluation(tasks, none)).not.toHaveProperty('gold_passage_recall');
});

test('a split of several levels reports TGC per level; a split of one level does not', () => {
  const levelled: TaskInfo[] = [['a', 1], ['b', 1], ['c', 2], ['d', 3]].map(([id, level]) => ({ id, scenario: id, level }) as TaskInfo);
  const played = [attempt('a', 0, true), attempt('b', 0, false), attempt('c', 0, true), attempt('d', 0, false)];
  expect(summariseEvaluation(levelled, played)).toMatchObject({ success: 0.5, success_L1: 0.5, success_L2: 1, success_L3: 0 });
  const oneLevel = levelled.map((t) => ({ ...t, level: 1 }));
  expect(Object.keys(summariseEvaluation(oneLevel, played)).filter((k) => k.startsWith('success_L'))).toEqual([]);
});

/**
 * selectTasks carries the curriculum's state from step to step (the state the last step selected with, plus
 * that step's outcomes) instead of replaying the run's whole history, and picks exactly the tasks the replay
 * picks; a run without a carried state (recorded before there was one) falls back to the replay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactRef } from '../../../activities/contract';
import { LocalArtifactStore, putJson } from '../../../common/artifacts';
import { hashSeed } from '../../../common/random';
import { parseRunConfig } from '../../../config/run-config';
import { createCurriculum, recordOutcomes, selectTasks } from '../../../rl/curriculum';
import { envOf, PhaseContext, selectTasksPhase, TaskOutcome } from '../../../trainer/phases';
import { PolicyCache } from '../../../trainer/policy-bundle';

const config = parseRunConfig({ runId: 'curriculum', env: 'apps', steps: 20, seed: 5, tasksPerStep: 6, groupSize: 3, rolloutShards: 1 });
const STEPS = 20;

/** A synthetic run: task i succeeds with probability (i mod 5) / 4, per (step, task, sample). */
function outcomesOf(step: number, taskIds: string[]): (TaskOutcome & { group: number; sample: number })[] {
  return taskIds.flatMap((taskId, group) =>
    Array.from({ length: config.groupSize }, (_, sample) => {
      const p = (Number(taskId.split('/').pop()) % 5) / 4;
      return { step, taskId, group, sample, success: hashSeed(`${step}/${taskId}/${sample}`) / 0x7fffffff < p };
    }),
  );
}

describe('the curriculum state carried between steps', () => {
  let dir: string;
  let ctx: PhaseContext;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ratchet-curriculum-'));
    const store = new LocalArtifactStore(dir);
    ctx = { store, policies: new PolicyCache(store), states: new Map() };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('selects the same tasks over 20 steps as replaying the whole history each step, never reading the history', async () => {
    const pool = envOf(config).tasks(config.split).map((t) => t.id);
    const history: TaskOutcome[] = [];
    let carried: { sampler: ArtifactRef; outcomes: ArtifactRef } | undefined;
    const noHistory = async (): Promise<TaskOutcome[]> => {
      throw new Error('the carried state should make the history unnecessary');
    };

    for (let step = 0; step < STEPS; step++) {
      // The choice as selectTasks made it before the state was carried: every earlier step's outcomes, replayed.
      let replayed = createCurriculum(pool);
      for (let s = 0; s < step; s++) replayed = recordOutcomes(replayed, history.filter((h) => h.step === s).map((h) => ({ taskId: h.taskId, success: h.success ? 1 : 0 })));
      const expected = selectTasks(replayed, config.tasksPerStep, hashSeed(`${config.seed}/tasks/${step}`));

      const input = { runId: config.runId, step, config, round: 0, count: config.tasksPerStep, exclude: [], sampler: carried?.sampler, outcomes: carried?.outcomes };
      const { taskIds, sampler } = await selectTasksPhase(ctx, input, step === 0 ? async () => [] : noHistory);
      expect(taskIds).toEqual(expected);

      const outcomes = outcomesOf(step, taskIds);
      history.push(...outcomes);
      carried = { sampler, outcomes: await putJson(ctx.store, `runs/${config.runId}/step-${step}/rewards.json`, outcomes) };
    }
    // The synthetic outcomes move the curriculum: later steps do not keep drawing the same tasks.
    expect(new Set(history.map((h) => h.taskId)).size).toBeGreaterThan(2 * config.tasksPerStep);

    // A run that carries no state (recorded before there was one) replays its history, to the same choice.
    const step = STEPS;
    let replayed = createCurriculum(pool);
    for (let s = 0; s < step; s++) replayed = recordOutcomes(replayed, history.filter((h) => h.step === s).map((h) => ({ taskId: h.taskId, success: h.success ? 1 : 0 })));
    const fallback = await selectTasksPhase(ctx, { runId: config.runId, step, config, round: 0, count: config.tasksPerStep, exclude: [] }, async () => history);
    const incremental = await selectTasksPhase(ctx, { runId: config.runId, step, config, round: 0, count: config.tasksPerStep, exclude: [], ...carried }, noHistory);
    expect(fallback.taskIds).toEqual(selectTasks(replayed, config.tasksPerStep, hashSeed(`${config.seed}/tasks/${step}`)));
    expect(incremental.taskIds).toEqual(fallback.taskIds);
    expect(incremental.sampler).toEqual(fallback.sampler); // the same state, stored under the same key
  });

  it('a refill round draws other tasks than the step drew, from the step state, the same on a retry', async () => {
    const first = await selectTasksPhase(ctx, { runId: config.runId, step: 0, config, round: 0, count: 6, exclude: [] }, async () => []);
    const refill = { runId: config.runId, step: 0, config, round: 1, count: 4, exclude: first.taskIds, sampler: first.sampler };
    const again = await selectTasksPhase(ctx, refill, async () => []);
    expect(again.taskIds).toHaveLength(4);
    expect(again.taskIds.filter((id) => first.taskIds.includes(id))).toEqual([]);
    expect(again.sampler).toEqual(first.sampler);
    expect((await selectTasksPhase(ctx, refill, async () => [])).taskIds).toEqual(again.taskIds);
  });
});

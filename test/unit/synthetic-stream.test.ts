/**
 * `tasks.source: synthetic` through selectTasks (trainer/phases.ts): the step draws generated task ids (apps; made
 * inside the activity from the seed), draws from the pass-rate band once tasks are measured, carries the band in
 * the curriculum state exactly as a replay of the history rebuilds it, and every drawn id plays in the environment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactRef } from '../../activities/contract';
import { getJson, LocalArtifactStore, putJson } from '../../common/artifacts';
import { hashSeed } from '../../common/random';
import { parseRunConfig } from '../../config/run-config';
import { parseSyntheticAppsId } from '../../envs/apps/synthetic';
import { runEpisode } from '../../envs/types';
import type { CurriculumState } from '../../rl/curriculum';
import { filterByPassRate, type FilterVerdict } from '../../rl/task-filter';
import { envOf, type PhaseContext, selectTasksPhase, type TaskOutcome } from '../../trainer/phases';
import { PolicyCache } from '../../trainer/policy-bundle';

const STREAM = { source: 'synthetic', seed: 9, pool: 40, band: { low: 0.25, high: 0.75 }, minOutcomes: 4, refreshEvery: 2 } as const;
const config = parseRunConfig({ runId: 'synthetic-stream', env: 'apps', steps: 12, seed: 2, tasksPerStep: 6, groupSize: 4, rolloutShards: 1, tasks: STREAM });
const STEPS = 12;

/** A made-up policy: generated task i is solved with probability (i mod 5) / 4, per (step, task, sample). */
function outcomesOf(step: number, taskIds: string[]): (TaskOutcome & { group: number; sample: number })[] {
  return taskIds.flatMap((taskId, group) =>
    Array.from({ length: config.groupSize }, (_, sample) => {
      const p = (parseSyntheticAppsId(taskId)!.index % 5) / 4;
      return { step, taskId, group, sample, success: hashSeed(`${step}/${taskId}/${sample}`) / 0x7fffffff < p };
    }),
  );
}

describe('a run on a synthetic task stream', () => {
  let dir: string;
  let ctx: PhaseContext;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ratchet-synthetic-stream-'));
    const store = new LocalArtifactStore(dir);
    ctx = { store, policies: new PolicyCache(store), states: new Map() };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('draws generated tasks, from the band once measured, carried exactly as a replay rebuilds it', async () => {
    const history: TaskOutcome[] = [];
    let carried: { sampler: ArtifactRef; outcomes: ArtifactRef } | undefined;
    let measuredInBand = 0;
    let verdict: FilterVerdict | undefined;
    for (let step = 0; step < STEPS; step++) {
      const input = { runId: config.runId, step, config, round: 0, count: config.tasksPerStep, exclude: [], ...carried };
      const { taskIds, sampler } = await selectTasksPhase(ctx, input, async () => history);
      expect(taskIds).toHaveLength(config.tasksPerStep);
      for (const id of taskIds) expect(parseSyntheticAppsId(id)?.seed).toBe(9);

      const state = await getJson<CurriculumState>(ctx.store, sampler);
      expect(Object.keys(state.history)).toHaveLength(40);
      expect(state.band!.step).toBe(step - (step % STREAM.refreshEvery)); // refreshed every 2 steps
      const kept = new Set(state.band!.kept);
      // Band tasks come first: every drawn task is in the band, unless the band holds fewer than the step needs.
      if (kept.size >= taskIds.length) expect(taskIds.every((id) => kept.has(id))).toBe(true);
      else expect(taskIds.filter((id) => kept.has(id))).toHaveLength(kept.size);
      // At a refresh the kept set is the filter's verdict on the outcomes recorded so far.
      if (state.band!.step === step) {
        verdict = filterByPassRate(state.history, STREAM);
        expect(state.band!.kept).toEqual(verdict.kept);
      }
      measuredInBand += taskIds.filter((id) => kept.has(id) && !verdict!.unmeasured.includes(id)).length;

      // Without the carried state, a replay of the whole history picks the same tasks from the same state.
      const replay = await selectTasksPhase(ctx, { runId: `${config.runId}-replay`, step, config, round: 0, count: config.tasksPerStep, exclude: [] }, async () => history);
      expect(replay.taskIds).toEqual(taskIds);
      expect(await getJson<CurriculumState>(ctx.store, replay.sampler)).toEqual(state);

      const outcomes = outcomesOf(step, taskIds);
      history.push(...outcomes);
      carried = { sampler, outcomes: await putJson(ctx.store, `runs/${config.runId}/step-${step}/rewards.json`, outcomes) };
    }
    expect(measuredInBand).toBeGreaterThan(0);
    // Measured never-solved (i mod 5 = 0) and always-solved (i mod 5 = 4) tasks have left the band.
    expect(verdict!.tooHard.length).toBeGreaterThan(0);
    expect(verdict!.tooEasy.length).toBeGreaterThan(0);
    for (const id of verdict!.tooHard) expect(parseSyntheticAppsId(id)!.index % 5).not.toBe(4);
    for (const id of verdict!.tooEasy) expect(parseSyntheticAppsId(id)!.index % 5).not.toBe(0);
    for (const id of verdict!.kept.filter((k) => !verdict!.unmeasured.includes(k))) expect([0, 4]).not.toContain(parseSyntheticAppsId(id)!.index % 5);

    // Every drawn id plays in the run's environment, rebuilt from the id, and the expert solves it.
    const env = envOf(config);
    for (const id of new Set(history.map((h) => h.taskId))) {
      expect(runEpisode(env.createEpisode(id, 3), env.expert(id, { noise: 0, seed: 1 })).score().success).toBe(true);
    }
  });

  it('deepsearch: the stream asks new questions with the training split\'s hop counts, each one the expert solves', async () => {
    for (const [family, hops] of [['multi', [2, 3, 4]], ['single', [1]]] as const) {
      const ds = parseRunConfig({ runId: `synthetic-${family}`, env: 'deepsearch', deepsearch: { family, passages: 1000 }, steps: 1, seed: 2, tasksPerStep: 8, groupSize: 2, tasks: { ...STREAM, pool: 24 } });
      const { taskIds } = await selectTasksPhase(ctx, { runId: ds.runId, step: 0, config: ds, round: 0, count: ds.tasksPerStep, exclude: [] }, async () => []);
      expect(taskIds).toHaveLength(8);
      const env = envOf(ds);
      const fixed = new Set(env.tasks(ds.split).map((t) => t.instruction));
      for (const id of taskIds) {
        expect(id).toMatch(new RegExp(`^deepsearch/synthetic/g9h${hops.join('')}/\\d{5}$`));
        const task = env.task(id);
        expect(hops).toContain(task.level);
        expect(fixed.has(task.instruction)).toBe(false);
        expect(runEpisode(env.createEpisode(id, 3), env.expert(id, { noise: 0, seed: 1 })).score().success).toBe(true);
      }
    }
  });
});

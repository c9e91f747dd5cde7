/**
 * One step loop: the trainingRun workflow (activities on the real dev server, rows in Postgres) and the
 * in-process trainer run the same step function (trainer/step.ts), so one config gives the same trajectory
 * rows, rewards, checkpoints, adaptive KL coefficients and evaluations both ways.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { LocalArtifactStore } from '../../common/artifacts';
import { parseRunConfig } from '../../config/run-config';
import { listEvaluations, listSteps } from '../../db/queries';
import { checkpoints, trajectories } from '../../db/schema';
import { trainInProcess } from '../../trainer/in-process';
import type { TrainingRunResult } from '../../workflows/training-run';
import { appsTestConfig } from './support/apps';
import { openHarness, runWorkers, type Harness } from './support/harness';

let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await openHarness();
  dir = mkdtempSync(join(tmpdir(), 'ratchet-one-loop-'));
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the workflow and the in-process trainer record the same trajectories, checkpoints, KL coefficients and evaluations', async () => {
  const input = appsTestConfig({
    steps: 2,
    tasksPerStep: 4,
    groupSize: 2,
    rolloutShards: 2,
    agent: {
      model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
      base: { sftSteps: 20, demosPerTask: 1, sftBatchSize: 8 },
      sampling: { maxTurns: 4 },
      ppo: { minibatchSegments: 32 },
      // The adaptive coefficient is loop state: both paths must carry it the same way.
      kl: { mode: 'reward', coef: 0.05, targetKl: 1e-4, horizon: 100 },
    },
    evaluation: { every: 1, split: 'dev', tasks: 2, passK: 2 },
  });
  const workers = await runWorkers(h, input.taskQueues);
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: input.taskQueues.control, workflowId: `train-${input.runId}`, args: [input] });
    expect((await handle.result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 2, policyVersion: 2 });
  } finally {
    await workers.stop();
  }
  const local = await trainInProcess(parseRunConfig(input), new LocalArtifactStore(dir));

  const { runId } = input;
  const recorded = await h.database.db.select().from(trajectories).where(eq(trajectories.runId, runId)).orderBy(asc(trajectories.step), asc(trajectories.group), asc(trajectories.sample));
  expect(recorded).toHaveLength(2 * 4 * 2);
  expect(recorded.map(({ runId: _runId, ...row }) => row)).toEqual(local.trajectories);
  expect(new Set(recorded.map((r) => r.artifactKey)).size).toBe(4); // two steps of two shards

  const versions = await h.database.db.select().from(checkpoints).where(eq(checkpoints.runId, runId)).orderBy(asc(checkpoints.version));
  expect(versions.map(({ version, step, sha256 }) => ({ version, step, sha256 }))).toEqual(local.checkpoints);

  const steps = await listSteps(h.database.db, runId);
  const klCoefs = steps.map((s) => (s.metrics as { klCoef: number }).klCoef);
  expect(klCoefs).toEqual(local.steps.map((s) => s.klCoef));
  expect(klCoefs[1]).not.toBe(klCoefs[0]); // the controller moved it
  expect(steps.map((s) => s.meanReward)).toEqual(local.steps.map((s) => s.meanReward));

  const evaluations = (await listEvaluations(h.database.db, runId)).map(({ step, mode, metrics }) => ({ step, mode, metrics }));
  expect(evaluations).toEqual(
    local.evaluations.map(({ step, mode, metrics }) => ({ step, mode, metrics })).sort((a, b) => a.step - b.step || a.mode.localeCompare(b.mode)),
  );
  expect(evaluations.map((e) => e.mode)).toEqual(['greedy', 'pass@2', 'greedy', 'pass@2']);
}, 600_000);

/**
 * A small apps run end to end on the real dev server and Postgres: base SFT, rollouts of the transformer policy
 * through ONNX Runtime, verified rewards, GRPO update, weight sync, records, a held-out evaluation, and a
 * replay of the recorded histories.
 */
import { Worker } from '@temporalio/worker';
import { asc, eq } from 'drizzle-orm';
import { countTrajectories, listEvaluations, listSteps } from '../../db/queries';
import { checkpoints } from '../../db/schema';
import type { TrainingRunResult } from '../../workflows/training-run';
import { appsTestConfig } from './support/apps';
import { openHarness, runWorkers, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('apps: 3 steps of 8 tasks x 4 rollouts, policy versions rising by one, checkpoints and evaluation rows', async () => {
  const config = appsTestConfig();
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    const result = (await handle.result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps: 3, policyVersion: 3 });

    const steps = await listSteps(h.database.db, config.runId);
    expect(steps.map((s) => [s.step, s.policyVersion, s.trajectories])).toEqual([
      [0, 0, 32],
      [1, 1, 32],
      [2, 2, 32],
    ]);
    for (const s of steps) {
      const metrics = s.metrics as Record<string, unknown>;
      expect(metrics.backend).toBe('wasm');
      expect(Object.keys(metrics.phaseMs as object)).toEqual(
        expect.arrayContaining(['selectTasks', 'rolloutBatch', 'checkRewards', 'scoreBatch', 'computeAdvantages', 'updatePolicy', 'syncWeights']),
      );
    }
    expect(await countTrajectories(h.database.db, config.runId)).toBe(3 * 8 * 4);

    // One checkpoint per version, each verifiable in the artifact store by its sha256.
    const rows = await h.database.db.select().from(checkpoints).where(eq(checkpoints.runId, config.runId)).orderBy(asc(checkpoints.version));
    expect(rows.map((r) => [r.version, r.step])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    for (const row of rows) await expect(h.store.get(row.artifactKey, row.sha256)).resolves.toBeInstanceOf(Uint8Array);

    const evaluations = await listEvaluations(h.database.db, config.runId);
    expect(evaluations.map((e) => [e.step, e.mode, e.policyVersion, e.split, e.tasks])).toEqual([[3, 'greedy', 3, 'dev', 8]]);
    expect((evaluations[0].metrics as Record<string, number>).sgc).toBeGreaterThanOrEqual(0);

    // The recorded histories (the run and its evaluation child) replay without nondeterminism.
    await Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, await handle.fetchHistory(), handle.workflowId);
    const child = h.client.workflow.getHandle(`${handle.workflowId}/eval/step-3`);
    await Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, await child.fetchHistory(), child.workflowId);
  } finally {
    await workers.stop();
  }
}, 600_000);

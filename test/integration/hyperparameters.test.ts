/** The validated `setHyperparameters` update: applied between steps, carried in the loop state and the resume point. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { ResumePoint } from '../../activities/contract';
import { listSteps } from '../../db/queries';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('setHyperparameters is validated, applies from the next step, and is saved with each step', async () => {
  const config = testConfig({ steps: 4, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 200 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    await handle.signal('pause');
    const paused = await eventually('the pause', async () => {
      const p = (await handle.query('progress')) as Progress;
      return p.phase === 'paused' ? p : undefined;
    });
    expect(paused.klCoef).toBe(0.01); // config.agent.kl.coef's default

    for (const bad of [{ learningRate: 0 }, { klCoef: -0.1 }, { klCoef: 11 }, { learningRate: 'fast' }, { momentum: 0.9 }, {}]) {
      await expect(handle.executeUpdate('setHyperparameters', { args: [bad] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    }
    expect(await handle.executeUpdate('setHyperparameters', { args: [{ klCoef: 0.2 }] })).toEqual({
      previous: { learningRate: 2, klCoef: 0.01 },
      current: { learningRate: 2, klCoef: 0.2 },
    });
    expect(await handle.executeUpdate('setHyperparameters', { args: [{ learningRate: 0.5 }] })).toEqual({
      previous: { learningRate: 2, klCoef: 0.2 },
      current: { learningRate: 0.5, klCoef: 0.2 },
    });
    await handle.signal('resume');
    expect((await handle.result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 4 });

    const rows = await listSteps(h.database.db, config.runId);
    const states = rows.map((r) => r.state as ResumePoint);
    expect(rows.map((r) => r.learningRate)).toEqual(rows.map((r) => (r.step < paused.step ? 2 : 0.5)));
    expect(states.map((s) => s.klCoef)).toEqual(rows.map((r) => (r.step < paused.step ? 0.01 : 0.2)));
    expect(states.map((s) => [s.step, s.policy.version])).toEqual([1, 2, 3, 4].map((n) => [n, n]));

    // The klCoef reached updatePolicy: it is in the scheduled activity's input in the history.
    const history = await handle.fetchHistory();
    const updates = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'updatePolicy');
    const klCoefs = updates.map((e) => JSON.parse(Buffer.from(e.activityTaskScheduledEventAttributes!.input!.payloads![0].data!).toString()).klCoef);
    expect(klCoefs).toEqual(rows.map((r) => (r.step < paused.step ? 0.01 : 0.2)));
    // Each step row also says where its wall time went, phase by phase.
    const phases = ['selectTasks', 'rolloutBatch', 'checkRewards', 'scoreBatch', 'computeAdvantages', 'updatePolicy', 'syncWeights'];
    for (const row of rows) {
      const { phaseMs } = row.metrics as { phaseMs: Record<string, number> };
      expect(Object.keys(phaseMs).sort()).toEqual([...phases].sort());
      expect(phaseMs.rolloutBatch).toBeGreaterThanOrEqual(200); // the configured rollout latency
      expect(Object.values(phaseMs).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(row.wallMs);
    }
    const [{ n }] = (await h.database.db.execute(sql`select count(*)::int as n from steps where run_id = ${config.runId} and state is null`)).rows as { n: number }[];
    expect(n).toBe(0);
  } finally {
    await workers.stop();
  }
});

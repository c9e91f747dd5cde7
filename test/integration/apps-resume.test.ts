/**
 * `ratchet resume` on the apps environment: a run terminated mid-step and resumed records the same trajectories,
 * step metrics and final checkpoint as an uninterrupted run with the same seed (the curriculum continues from
 * the state saved with the last recorded step, every draw derives from the seed, training is deterministic).
 */
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { appsTestConfig, recordedRun } from './support/apps';
import { ratchet, temporal, writeConfig } from './support/cli';
import { eventually, openHarness, runWorkers, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('apps: terminated mid-step, resumed with `ratchet resume`, records what an uninterrupted run records', async () => {
  const settings = { steps: 3, seed: 5, tasksPerStep: 4, groupSize: 2 };
  const baseline = appsTestConfig(settings);
  const interrupted = appsTestConfig(settings);
  const workers = [await runWorkers(h, baseline.taskQueues), await runWorkers(h, interrupted.taskQueues)];
  try {
    const baselineRun = await h.client.workflow.start('trainingRun', { taskQueue: baseline.taskQueues.control, workflowId: `train-${baseline.runId}`, args: [baseline] });
    expect((await baselineRun.result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 3 });

    expect(await ratchet(['start', writeConfig(interrupted.runId, interrupted)])).toMatchObject({ code: 0 });
    const workflowId = `train-${interrupted.runId}`;
    const handle = h.client.workflow.getHandle(workflowId);
    await eventually('step 2 in flight', async () => {
      const p = (await handle.query('progress')) as Progress;
      return p.step === 1 && p.phase === 'updatePolicy' ? true : undefined;
    }, 240_000, 50);
    expect(await temporal(['workflow', 'terminate', '--workflow-id', workflowId, '--reason', 'test: simulated crash'])).toMatchObject({ code: 0 });

    const resumed = await ratchet(['resume', interrupted.runId]);
    expect(resumed).toMatchObject({ code: 0 });
    // Terminated during step 2 (the terminate may land just after that step was recorded).
    expect(resumed.stdout).toMatch(/resumed .* \(was TERMINATED\) from step [12]\b/);
    expect((await h.client.workflow.getHandle(workflowId).result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 3, policyVersion: 3 });

    const [a, b] = [await recordedRun(h, interrupted.runId), await recordedRun(h, baseline.runId)];
    expect(a.trajectories).toHaveLength(3 * 4 * 2);
    expect(a).toEqual(b);
  } finally {
    for (const w of workers) await w.stop();
  }
}, 900_000);

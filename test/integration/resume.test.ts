/**
 * `ratchet resume`: a terminated run continues from its last recorded step under the same workflow id, and
 * everything it records afterwards equals what an uninterrupted run with the same seed records. Also: a used
 * run id is refused by `ratchet start` unless --force. Both through the real CLIs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { sql } from 'drizzle-orm';
import { getRun, latestCheckpoint, listEvaluations, listSteps } from '../../db/queries';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { ratchet, temporal, writeConfig } from './support/cli';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

const settings = { steps: 6, seed: 11, evaluation: { tasks: 4, passK: 2 }, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 300 } };

/** What a run recorded, without the run id: the comparison between two runs of the same config and seed. */
async function recorded(runId: string) {
  const steps = (await listSteps(h.database.db, runId)).map(({ step, policyVersion, meanReward, successRate, entropy, kl, learningRate, trajectories, tokens }) => ({
    step, policyVersion, meanReward, successRate, entropy, kl, learningRate, trajectories, tokens,
  }));
  const trajectories = (
    await h.database.db.execute(
      sql`select step, "group", sample, task_id, policy_version, reward, success, finish_reason from trajectories where run_id = ${runId} order by step, "group", sample`,
    )
  ).rows;
  const evaluations = (await listEvaluations(h.database.db, runId)).map(({ step, mode, policyVersion, successRate, meanReward, metrics, artifactSha256 }) => ({
    step, mode, policyVersion, successRate, meanReward, metrics, artifactSha256,
  }));
  const checkpoint = await latestCheckpoint(h.database.db, runId);
  return { steps, trajectories, evaluations, checkpoint: { version: checkpoint.version, step: checkpoint.step, sha256: checkpoint.sha256 } };
}

test('a terminated run resumed with `ratchet resume` records exactly what an uninterrupted run records', async () => {
  const baseline = testConfig(settings);
  const interrupted = testConfig(settings);
  const workers = [await runWorkers(h, baseline.taskQueues), await runWorkers(h, interrupted.taskQueues)];
  try {
    const baselineRun = await h.client.workflow.start('trainingRun', { taskQueue: baseline.taskQueues.control, workflowId: `train-${baseline.runId}`, args: [baseline] });
    expect((await baselineRun.result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 6 });

    const file = writeConfig(interrupted.runId, interrupted);
    const started = await ratchet(['start', file]);
    expect(started).toMatchObject({ code: 0 });
    const workflowId = `train-${interrupted.runId}`;
    const handle = h.client.workflow.getHandle(workflowId);
    // Terminate in the middle of step 3 (2 steps recorded, a rollout in flight).
    await eventually('step 3 in flight', async () => {
      const p = (await handle.query('progress')) as Progress;
      return p.step === 2 && p.phase === 'rolloutBatch' ? true : undefined;
    }, 60_000, 50);
    expect(await temporal(['workflow', 'terminate', '--workflow-id', workflowId, '--reason', 'test: simulated crash'])).toMatchObject({ code: 0 });

    // The id is taken: a second start is refused, naming the way out.
    const again = await ratchet(['start', file]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already has rows .*ratchet resume/);

    const resumed = await ratchet(['resume', interrupted.runId]);
    expect(resumed).toMatchObject({ code: 0 });
    expect(resumed.stdout).toMatch(/resumed .* \(was TERMINATED\) from step 2/);
    const result = (await h.client.workflow.getHandle(workflowId).result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps: 6, policyVersion: 6 });

    expect(await recorded(interrupted.runId)).toEqual(await recorded(baseline.runId));
    expect(await getRun(h.database.db, interrupted.runId)).toMatchObject({ status: 'completed', stepsCompleted: 6 });
    const executions = [];
    for await (const e of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) executions.push(e.status.name);
    expect(executions.sort()).toEqual(['COMPLETED', 'TERMINATED']);

    // A completed run is not resumed.
    const twice = await ratchet(['resume', interrupted.runId]);
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toMatch(/is COMPLETED; only a failed or terminated run can be resumed/);
  } finally {
    for (const w of workers) await w.stop();
  }
});

test('`ratchet start --force` replaces the rows of a used run id', async () => {
  const config = testConfig({ steps: 2 });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const file = writeConfig(config.runId, config);
    expect(await ratchet(['start', file, '--watch'])).toMatchObject({ code: 0 });
    await h.database.db.execute(sql`update steps set mean_reward = -1 where run_id = ${config.runId}`);
    const forced = await ratchet(['start', file, '--force', '--watch']);
    expect(forced).toMatchObject({ code: 0 });
    const rows = await listSteps(h.database.db, config.runId);
    expect(rows.map((r) => r.step)).toEqual([0, 1]);
    expect(rows.every((r) => r.meanReward >= 0)).toBe(true);
  } finally {
    await workers.stop();
  }
});

test('a run that fails is marked failed in Postgres, and `ratchet resume` continues it once the cause is fixed', async () => {
  const config = testConfig({ steps: 4, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 200 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const workflowId = `train-${config.runId}`;
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId, args: [config] });
    await eventually('step 2', async () => (((await handle.query('progress')) as Progress).step >= 2 ? true : undefined));
    await handle.signal('pause');
    const paused = await eventually('the pause', async () => {
      const p = (await handle.query('progress')) as Progress;
      return p.phase === 'paused' ? p : undefined;
    });

    // Corrupt the published policy the next rollout loads: the store refuses it (non-retryable), the run fails.
    const file = join(h.env.artifactsDir, 'runs', config.runId, 'policy', `v${String(paused.policyVersion).padStart(6, '0')}.json`);
    const original = readFileSync(file);
    writeFileSync(file, '{"arms":6,"logits":{}}');
    await handle.signal('resume');
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('FAILED');
    expect(await getRun(h.database.db, config.runId)).toMatchObject({ status: 'failed', stepsCompleted: paused.step });

    writeFileSync(file, original);
    const resumed = await ratchet(['resume', config.runId, '--watch']);
    expect(resumed).toMatchObject({ code: 0 });
    expect(resumed.stdout).toMatch(new RegExp(`\\(was FAILED\\) from step ${paused.step}`));
    expect(await getRun(h.database.db, config.runId)).toMatchObject({ status: 'completed', stepsCompleted: 4 });
    expect((await listSteps(h.database.db, config.runId)).map((r) => [r.step, r.policyVersion])).toEqual([0, 1, 2, 3].map((s) => [s, s]));
  } finally {
    await workers.stop();
  }
});

test('a second workflow started with a used run id (e.g. from the Temporal CLI) fails at once and leaves the rows alone', async () => {
  const config = testConfig({ steps: 2 });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const first = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    await first.result();
    const before = await recorded(config.runId);

    const second = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `other-${config.runId}`, args: [{ ...config, seed: 99 }] });
    const error = await second.result().then(() => undefined, (err: WorkflowFailedError) => err);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(((error!.cause as ActivityFailure).cause as ApplicationFailure).type).toBe('RunIdInUse');
    expect(await recorded(config.runId)).toEqual(before);
    expect(await getRun(h.database.db, config.runId)).toMatchObject({ status: 'completed', workflowId: `train-${config.runId}` });
  } finally {
    await workers.stop();
  }
});

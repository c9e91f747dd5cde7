/**
 * Asynchronous, one-step-off-policy training (`async.maxStaleness: 1`) on the apps environment, durable: worker
 * processes SIGKILLed while a step updates and the next step's rollouts run beside it, and a run terminated
 * mid-overlap and resumed with `ratchet resume`, each record exactly what an uninterrupted run records.
 */
import { sql } from 'drizzle-orm';
import { listSteps } from '../../db/queries';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { appsTestConfig, recordedRun } from './support/apps';
import { ratchet, temporal, writeConfig } from './support/cli';
import { runUninterrupted, runWithFaults } from './support/faults';
import { eventually, openHarness, runWorkers, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

const settings = { steps: 4, seed: 11, tasksPerStep: 4, groupSize: 2, async: { maxStaleness: 1 } };
let baseline: Awaited<ReturnType<typeof recordedRun>>;

test('step k trains on rollouts of v(k-1), records their version and staleness, and the rollouts overlap the update', async () => {
  const config = appsTestConfig(settings);
  const run = await runUninterrupted(h, config);
  expect(run.result).toMatchObject({ status: 'completed', steps: 4, policyVersion: 4 });
  baseline = await recordedRun(h, config.runId);

  expect(baseline.steps.map((s) => s.policyVersion)).toEqual([0, 0, 1, 2]);
  const versions = (
    await h.database.db.execute(sql`select step, array_agg(distinct policy_version) as versions from trajectories where run_id = ${config.runId} group by step order by step`)
  ).rows.map((r) => (r.versions as number[]).map(Number));
  expect(versions).toEqual([[0], [0], [1], [2]]);
  const metrics = (await listSteps(h.database.db, config.runId)).map((r) => r.metrics as Record<string, unknown>);
  expect(metrics[0].staleness).toBeUndefined(); // step 0 trains on its own rollouts
  for (const m of metrics.slice(1)) {
    expect(Object.keys(m.staleness as object)).toEqual(['1']);
    expect(m.staleDropped).toBe(0);
    expect(m.importanceWeight).toBeGreaterThan(0);
  }

  // The draw of step k+1 was scheduled before step k's update completed.
  const history = await h.client.workflow.getHandle(`train-${config.runId}`).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.flatMap((e, i) => {
    const a = e.activityTaskScheduledEventAttributes;
    return a ? [{ i, id: String(e.eventId), type: a.activityType!.name!, step: stepOf(a.input?.payloads?.[0]?.data) }] : [];
  });
  const completedAt = (id: string) => events.findIndex((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
  for (let step = 0; step < 3; step++) {
    const update = scheduled.find((s) => s.type === 'updatePolicy' && s.step === step)!;
    const nextRollout = scheduled.find((s) => s.type === 'rolloutBatch' && s.step === step + 1)!;
    expect(nextRollout.i).toBeLessThan(completedAt(update.id));
  }
}, 600_000);

test('SIGKILL of the gpu worker mid-update and of the cpu worker mid-rollout-ahead: the same rows as uninterrupted', async () => {
  const config = appsTestConfig(settings);
  const faulted = await runWithFaults(h, config, [
    { pool: 'gpu', phase: 'updatePolicy', atStep: 1 }, // step 2's rollouts run on the cpu worker meanwhile
    { pool: 'cpu', phase: 'scoreBatch', atStep: 2, delayMs: 100 }, // the cpu worker is rolling out step 3
  ]);
  expect(faulted.result).toMatchObject({ status: 'completed', steps: 4, policyVersion: 4 });
  expect(faulted.fired).toHaveLength(2);
  expect(faulted.retries.length).toBeGreaterThan(0);
  expect(await recordedRun(h, config.runId)).toEqual(baseline);
}, 900_000);

test('terminated mid-overlap and resumed with `ratchet resume`: the same rows as uninterrupted', async () => {
  const config = appsTestConfig(settings);
  const workers = await runWorkers(h, config.taskQueues);
  try {
    expect(await ratchet(['start', writeConfig(config.runId, config)])).toMatchObject({ code: 0 });
    const workflowId = `train-${config.runId}`;
    await eventually('step 3 updating while step 4 draws', async () => {
      const p = (await h.client.workflow.getHandle(workflowId).query('progress')) as Progress;
      return p.step === 2 && p.phase === 'updatePolicy' ? true : undefined;
    }, 300_000, 25);
    expect(await temporal(['workflow', 'terminate', '--workflow-id', workflowId, '--reason', 'test: crash mid-overlap'])).toMatchObject({ code: 0 });

    const resumed = await ratchet(['resume', config.runId]);
    expect(resumed).toMatchObject({ code: 0 });
    expect(resumed.stdout).toMatch(/from step [23]\b/);
    expect((await h.client.workflow.getHandle(workflowId).result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 4, policyVersion: 4 });
    expect(await recordedRun(h, config.runId)).toEqual(baseline);
  } finally {
    await workers.stop();
  }
}, 900_000);

/** The step of an activity input payload (JSON, maybe behind the config-by-reference interceptor). */
function stepOf(data: Uint8Array | null | undefined): number | undefined {
  if (!data) return undefined;
  const input = JSON.parse(Buffer.from(data).toString('utf8')) as { step?: number };
  return input.step;
}

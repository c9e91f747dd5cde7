/**
 * Algorithms end to end on the real dev server and Postgres: LOOP and GiGPO on a tiny apps agent, and DAPO's
 * refill (dynamicSampling.refill) on apps and on the bandit, checked in the rows they record. The tiny apps
 * base solves nothing, so every apps group is flat: LOOP and GiGPO run their whole pipeline on a batch they
 * drop, and refill draws up to its budget.
 */
import { Worker } from '@temporalio/worker';
import { sql } from 'drizzle-orm';
import type { ComputeAdvantagesInput, ResumePoint } from '../../activities/contract';
import { artifactKeys } from '../../common/artifact-keys';
import type { RunConfigInput } from '../../config/run-config';
import { getRun, listSteps } from '../../db/queries';
import type { Scores } from '../../trainer/score';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { appsTestConfig } from './support/apps';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

const tinyApps = (overrides: Partial<RunConfigInput>) =>
  appsTestConfig({
    steps: 2,
    tasksPerStep: 4,
    groupSize: 2,
    rolloutShards: 2,
    ...overrides,
    agent: {
      model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
      base: { sftSteps: 20, demosPerTask: 1, sftBatchSize: 8 },
      sampling: { maxTurns: 4 },
      ...overrides.agent,
    },
  });

/** The run's trajectory rows, per step: groups, distinct tasks, rows. */
async function trajectoriesPerStep(runId: string) {
  const { rows } = await h.database.db.execute(
    sql`select step, count(distinct "group")::int as groups, count(distinct task_id)::int as tasks, max("group")::int as "maxGroup", count(*)::int as rows
        from trajectories where run_id = ${runId} group by step order by step`,
  );
  return rows as { step: number; groups: number; tasks: number; maxGroup: number; rows: number }[];
}

async function runToCompletion(config: ReturnType<typeof testConfig>, during?: (handle: ReturnType<Harness['client']['workflow']['getHandle']>) => Promise<void>) {
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    await during?.(handle);
    const result = (await handle.result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps: config.steps, policyVersion: config.steps });
    await Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, await handle.fetchHistory(), handle.workflowId);
    return handle;
  } finally {
    await workers.stop();
  }
}

test('LOOP: LOOP_LOSS settings, a step row per step with the update metrics, continue-as-new carrying the curriculum', async () => {
  const config = tinyApps({ algorithm: 'loop', steps: 3, continueAsNewEvery: 2 });
  await runToCompletion(config);

  const steps = await listSteps(h.database.db, config.runId);
  expect(steps.map((s) => [s.step, s.policyVersion, s.trajectories])).toEqual([0, 1, 2].map((s) => [s, s, 8]));
  for (const s of steps) {
    const metrics = s.metrics as Record<string, number>;
    expect(metrics).toMatchObject({ groupsDrawn: 4, refillRounds: 0, klCoef: 0.01, measuredKl: 0 });
    expect(metrics.optimizerSteps).toBe(0); // every group flat: LOOP keeps none of it
    expect(typeof metrics.trainedTokens).toBe('number');
  }
  // The curriculum state crossed continue-as-new with the loop (each step's sampler is the previous step's plus its outcomes).
  const states = steps.map((s) => s.state as ResumePoint);
  expect(states.map((s) => s.curriculum?.sampler.key)).toEqual([0, 1, 2].map((s) => artifactKeys.step(config.runId, s, 'curriculum.json')));
  expect(states.map((s) => s.curriculum?.outcomes.key)).toEqual([0, 1, 2].map((s) => artifactKeys.step(config.runId, s, 'rewards.json')));
  expect((await getRun(h.database.db, config.runId))?.config).toMatchObject({ agent: { kl: { mode: 'none' }, ppo: { clipLow: 0.1, clipHigh: 0.1 } } });
}, 600_000);

test('GiGPO, with KL as a reward penalty from a coefficient of 0 raised live: the reference is scored and the new coefficient reaches computeAdvantages', async () => {
  const config = tinyApps({ algorithm: 'grpo', agent: { stepCredit: 'gigpo', kl: { mode: 'reward', coef: 0 } } });
  const handle = await runToCompletion(config, async (run) => {
    await run.signal('pause');
    await eventually('the pause', async () => ((await (run.query('progress') as Promise<Progress>)).phase === 'paused' ? true : undefined), 120_000);
    await run.executeUpdate('setHyperparameters', { args: [{ klCoef: 0.3 }] });
    expect(((await run.query('progress')) as Progress).klCoef).toBe(0.3);
    await run.signal('resume');
  });

  const steps = await listSteps(h.database.db, config.runId);
  expect(steps.map((s) => (s.metrics as { klCoef: number }).klCoef)).toEqual([0.3, 0.3]);
  const history = await handle.fetchHistory();
  const advantagesInputs = history
    .events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'computeAdvantages')
    .map((e) => JSON.parse(Buffer.from(e.activityTaskScheduledEventAttributes!.input!.payloads![0].data!).toString()) as ComputeAdvantagesInput);
  expect(advantagesInputs.map((i) => [i.step, i.klCoef])).toEqual([
    [0, 0.3],
    [1, 0.3],
  ]);
  expect(advantagesInputs[0].config.agent).toMatchObject({ stepCredit: 'gigpo' });
  // Scored against the reference although the config's coefficient is 0 (all of the batch: GRPO scores only
  // informative groups, and there are none, so the step's scores hold the reference rows or nothing at all).
  const scores = JSON.parse(new TextDecoder().decode(await h.store.get(artifactKeys.step(config.runId, 0, 'scores.json')))) as Scores;
  expect(scores.refLogProbs).toBeDefined();
}, 600_000);

test('DAPO refill on apps: flat groups are replaced by newly drawn tasks until the maxGroups budget; every drawn group is recorded', async () => {
  const config = tinyApps({ algorithm: 'grpo', dynamicSampling: { refill: true, maxGroups: 8 } });
  await runToCompletion(config);

  const steps = await listSteps(h.database.db, config.runId);
  for (const s of steps) {
    expect(s.metrics).toMatchObject({ groupsDrawn: 8, refillRounds: 1, informativeGroups: 0, flatGroups: 8 });
    expect(s.trajectories).toBe(8 * 2);
  }
  // Groups 0..7 in each step, each a different task, all recorded.
  expect(await trajectoriesPerStep(config.runId)).toEqual([0, 1].map((step) => ({ step, groups: 8, tasks: 8, maxGroup: 7, rows: 16 })));
  // Round 1 rolled out into shards of its own, and its rewards cover both rounds.
  const rewards = JSON.parse(new TextDecoder().decode(await h.store.get(artifactKeys.step(config.runId, 0, 'rewards-round-1.json')))) as { group: number; shard: { key: string } }[];
  expect(rewards.map((r) => r.group)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
  expect(new Set(rewards.map((r) => r.shard.key))).toEqual(new Set([0, 1, 2, 3].map((shard) => artifactKeys.rolloutShard(config.runId, 0, shard))));
}, 600_000);

test('DAPO refill on the bandit: steps with flat groups draw more tasks, never a task twice, and train on at most tasksPerStep informative groups', async () => {
  const config = testConfig({ steps: 6, tasksPerStep: 4, groupSize: 4, dynamicSampling: { refill: true }, bandit: { arms: 6, tasks: 8, worldSeed: 5 } });
  await runToCompletion(config);

  const steps = await listSteps(h.database.db, config.runId);
  const drawn = steps.map((s) => (s.metrics as { groupsDrawn: number }).groupsDrawn);
  expect(steps.map((s) => s.trajectories)).toEqual(drawn.map((g) => g * 4));
  expect(drawn.some((g) => g > 4)).toBe(true);
  for (const s of steps) {
    const { groupsDrawn, informativeGroups, refillRounds } = s.metrics as Record<string, number>;
    expect(groupsDrawn).toBeLessThanOrEqual(8); // the bandit's split has 8 tasks
    expect(informativeGroups).toBeLessThanOrEqual(4);
    expect(refillRounds > 0).toBe(groupsDrawn > 4);
  }
  const perStep = await trajectoriesPerStep(config.runId);
  expect(perStep.map((s) => [s.groups, s.tasks, s.maxGroup + 1])).toEqual(drawn.map((g) => [g, g, g]));
}, 300_000);

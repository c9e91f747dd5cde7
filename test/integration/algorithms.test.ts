/**
 * Algorithms end to end on the real dev server and Postgres, checked in the rows they record: LOOP and GiGPO on a
 * small deepsearch agent that solves some single-hop tasks (so some groups carry a signal and both train), pass@k
 * from passN samples on that agent, and DAPO's refill (dynamicSampling.refill) on apps and on the bandit. The
 * tiny apps base solves nothing, so every apps group is flat and refill draws up to its budget.
 */
import { Worker } from '@temporalio/worker';
import { sql } from 'drizzle-orm';
import type { ArtifactRef, ComputeAdvantagesInput, ResumePoint } from '../../activities/contract';
import { artifactKeys } from '../../common/artifact-keys';
import { getJson } from '../../common/artifacts';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../../config/run-config';
import { getRun, listEvaluations, listSteps } from '../../db/queries';
import { LOOP_LOSS } from '../../rl';
import { initPolicyPhase, releaseContext, type PublishedPolicy } from '../../trainer/phases';
import { PolicyCache } from '../../trainer/policy-bundle';
import type { Scores } from '../../trainer/score';
import type { Trajectory } from '../../trainer/trajectory';
import type { EvaluationSummary } from '../../workflows/evaluation-run';
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

/**
 * A deepsearch single-hop agent that solves some tasks: 200 SFT steps on flawless demonstrations (search, then
 * answer) and rollouts at temperature 0.5, 8 per task. Measured in process (trainer/in-process.ts, seed 1), and
 * the same here: 1 to 3 of each step's 4 groups have differing rewards (success 6-16%; a 150-step base ~3%, a
 * 300-step one up to 25% for ~15 s more). The base takes 25-35 s to build on 2 busy cores, so the runs share
 * one (base.checkpoint) instead of building it each.
 */
const deepsearchAgent = {
  model: { layers: 1, heads: 2, width: 64, contextLength: 512 },
  base: { sftSteps: 200, demosPerTask: 1, demoNoise: 0, sftBatchSize: 8, sftLearningRate: 5e-3 },
  sampling: { maxTurns: 2, maxActionTokens: 48, temperature: 0.5 },
};

const tinyDeepsearch = (overrides: Partial<RunConfigInput>, base?: PublishedPolicy) =>
  testConfig({
    env: 'deepsearch',
    deepsearch: { passages: 2000, family: 'single' },
    seed: 1,
    learningRate: 3e-4, // the env's default (testConfig's is the bandit's)
    steps: 2,
    tasksPerStep: 4,
    groupSize: 8,
    rolloutShards: 2,
    timeouts: { activityStartToClose: '5m', activityHeartbeat: '30s', retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
    evaluation: { every: 0, tasks: 2 },
    ...overrides,
    agent: { ...deepsearchAgent, ...(base ? { base: { ...deepsearchAgent.base, checkpoint: base.checkpoint } } : {}), ...overrides.agent },
  });

let deepsearchBase: Promise<PublishedPolicy> | undefined;
/** The shared base, built in this process by the first test that needs it (what a run's initPolicy would do). */
function sharedDeepsearchBase(): Promise<PublishedPolicy> {
  deepsearchBase ??= (async () => {
    const config = parseRunConfig(tinyDeepsearch({}));
    const ctx = { store: h.store, policies: new PolicyCache(h.store), states: new Map() };
    try {
      return await initPolicyPhase(ctx, config.runId, config);
    } finally {
      await releaseContext(ctx);
    }
  })();
  return deepsearchBase;
}

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

test('LOOP trains on the informative groups with LOOP_LOSS settings; a step row per step with the update metrics, continue-as-new carrying the curriculum', async () => {
  const config = tinyDeepsearch({ algorithm: 'loop', steps: 3, continueAsNewEvery: 2 }, await sharedDeepsearchBase());
  await runToCompletion(config);

  const steps = await listSteps(h.database.db, config.runId);
  expect(steps.map((s) => [s.step, s.policyVersion, s.trajectories])).toEqual([0, 1, 2].map((s) => [s, s, 32]));
  for (const s of steps) {
    const metrics = s.metrics as Record<string, number>;
    expect(metrics).toMatchObject({ groupsDrawn: 4, refillRounds: 0, klCoef: 0.01, measuredKl: 0 });
    // LOOP_LOSS: no KL term, no critic, every minibatch stepped once per epoch; a step trains iff a group is informative.
    expect(metrics).toMatchObject({ refKl: 0, valueLoss: 0 });
    expect(metrics.optimizerSteps % LOOP_LOSS.epochs).toBe(0);
    expect(metrics.optimizerSteps > 0).toBe(metrics.informativeGroups > 0);
  }
  const trained = steps.filter((s) => (s.metrics as Record<string, number>).optimizerSteps > 0);
  expect(trained.length).toBeGreaterThan(0);
  for (const s of trained) expect((s.metrics as Record<string, number>).trainedTokens).toBeGreaterThan(0);
  // The curriculum state crossed continue-as-new with the loop (each step's sampler is the previous step's plus its outcomes).
  const states = steps.map((s) => s.state as ResumePoint);
  expect(states.map((s) => s.curriculum?.sampler.key)).toEqual([0, 1, 2].map((s) => artifactKeys.step(config.runId, s, 'curriculum.json')));
  expect(states.map((s) => s.curriculum?.outcomes.key)).toEqual([0, 1, 2].map((s) => artifactKeys.step(config.runId, s, 'rewards.json')));
  expect((await getRun(h.database.db, config.runId))?.config).toMatchObject({
    agent: { kl: { mode: 'none' }, ppo: { clipLow: LOOP_LOSS.clipLow, clipHigh: LOOP_LOSS.clipHigh, aggregation: LOOP_LOSS.aggregation, epochs: LOOP_LOSS.epochs } },
  });
}, 600_000);

test('GiGPO trains, with KL as a reward penalty from a coefficient of 0 raised live: the reference is scored and the new coefficient reaches computeAdvantages', async () => {
  const config = tinyDeepsearch({ algorithm: 'grpo', agent: { stepCredit: 'gigpo', kl: { mode: 'reward', coef: 0 } } }, await sharedDeepsearchBase());
  const handle = await runToCompletion(config, async (run) => {
    await run.signal('pause');
    await eventually('the pause', async () => ((await (run.query('progress') as Promise<Progress>)).phase === 'paused' ? true : undefined), 120_000);
    await run.executeUpdate('setHyperparameters', { args: [{ klCoef: 0.3 }] });
    expect(((await run.query('progress')) as Progress).klCoef).toBe(0.3);
    await run.signal('resume');
  });

  const steps = await listSteps(h.database.db, config.runId);
  expect(steps.map((s) => (s.metrics as { klCoef: number }).klCoef)).toEqual([0.3, 0.3]);
  expect(steps.some((s) => (s.metrics as { optimizerSteps: number }).optimizerSteps > 0)).toBe(true);
  const history = await handle.fetchHistory();
  const advantagesInputs = history
    .events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'computeAdvantages')
    .map((e) => JSON.parse(Buffer.from(e.activityTaskScheduledEventAttributes!.input!.payloads![0].data!).toString()) as ComputeAdvantagesInput);
  expect(advantagesInputs.map((i) => [i.step, i.klCoef])).toEqual([
    [0, 0.3],
    [1, 0.3],
  ]);
  // Activities get the config by reference (activities/config-ref.ts): the stored one is the run's.
  const { configRef } = advantagesInputs[0] as unknown as { configRef: ArtifactRef };
  expect((await getJson<RunConfig>(h.store, configRef)).agent).toMatchObject({ stepCredit: 'gigpo' });
  // Scored against the reference although the config's coefficient is 0.
  const scores = JSON.parse(new TextDecoder().decode(await h.store.get(artifactKeys.step(config.runId, 0, 'scores.json')))) as Scores;
  expect(scores.refLogProbs).toBeDefined();
}, 600_000);

test('pass@k of a text agent is the unbiased estimate from passN samples per task, not "any of them"', async () => {
  const policy = await sharedDeepsearchBase();
  const config = parseRunConfig(tinyDeepsearch({ evaluation: { split: 'single/dev', tasks: 8, passK: 2, passN: 8 } }, policy));
  const workers = await runWorkers(h, config.taskQueues, ['control', 'cpu']);
  try {
    const summary = (await h.client.workflow.execute('evaluationRun', { taskQueue: config.taskQueues.control, workflowId: `eval-${config.runId}`, args: [{ config, step: 0, policy }] })) as EvaluationSummary;
    expect(summary.modes.map((m) => [m.mode, m.episodes])).toEqual([['greedy', 8], ['pass@2', 64]]);
  } finally {
    await workers.stop();
  }
  const row = (await listEvaluations(h.database.db, config.runId)).find((r) => r.mode === 'pass@2')!;
  expect(row.episodes).toBe(8 * 8);
  const { trajectories } = await getJson<{ trajectories: Trajectory[] }>(h.store, { key: row.artifactKey, sha256: row.artifactSha256 });
  const successes = [...new Set(trajectories.map((t) => t.taskId))].map((task) => trajectories.filter((t) => t.taskId === task && t.success).length);
  // 1 − C(8−c, 2)/C(8, 2) = 1 − (8−c)(7−c)/56 per task; "any of them" is 1 for every task with a success.
  const unbiased = successes.map((c) => 1 - ((8 - c) * (7 - c)) / 56);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(mean(unbiased)).toBeLessThan(mean(successes.map((c) => (c > 0 ? 1 : 0))));
  expect((row.metrics as Record<string, number>).passAtK).toBeCloseTo(mean(unbiased), 12);
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

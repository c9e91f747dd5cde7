/** The training workflow end to end against the real dev server and Postgres, with in-process workers. */
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { sql } from 'drizzle-orm';
import { countTrajectories, getRun, listSteps } from '../../db/queries';
import * as sa from '../../workflows/search-attributes';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

const start = (config: ReturnType<typeof testConfig> | Record<string, unknown>, queue: string, workflowId: string) =>
  h.client.workflow.start('trainingRun', { taskQueue: queue, workflowId, args: [config] });

const progressOf = (handle: { query: (name: string) => Promise<unknown> }) => handle.query('progress') as Promise<Progress>;

test('a bandit run completes: one step row per step, reward rises, search attributes, continue-as-new when suggested, replayable history', async () => {
  const config = testConfig({ steps: 16, tasksPerStep: 8, bandit: { arms: 6, tasks: 8, worldSeed: 5 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await start(config, config.taskQueues.control, `train-${config.runId}`);
    const result = (await handle.result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps: 16, policyVersion: 16 });

    const rows = await listSteps(h.database.db, config.runId);
    expect(rows.map((r) => r.step)).toEqual([...Array(16).keys()]);
    expect(rows.map((r) => r.policyVersion)).toEqual([...Array(16).keys()]);
    expect(await countTrajectories(h.database.db, config.runId)).toBe(16 * 8 * 4);
    const mean = (xs: typeof rows) => xs.reduce((s, r) => s + r.meanReward, 0) / xs.length;
    expect(mean(rows.slice(-4))).toBeGreaterThan(mean(rows.slice(0, 4)) + 0.1);
    expect(await getRun(h.database.db, config.runId)).toMatchObject({ status: 'completed', stepsCompleted: 16 });

    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(sa.RatchetRunId)).toBe(config.runId);
    expect(description.typedSearchAttributes.get(sa.RatchetStep)).toBe(16);
    expect(description.typedSearchAttributes.get(sa.RatchetPolicyVersion)).toBe(16);
    expect(description.typedSearchAttributes.get(sa.RatchetMeanReward)).toBeCloseTo(rows[15].meanReward);

    // The test server suggests continue-as-new after a few hundred events, and the run took the hint
    // (its own every-K limit is the default 100 steps).
    const executions = [];
    for await (const execution of h.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) executions.push(execution);
    expect(executions.length).toBeGreaterThan(1);

    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, history, handle.workflowId);
  } finally {
    await workers.stop();
  }
});

test('a bad config fails the run at once, non-retryable, naming the field; no activity runs', async () => {
  const config = { ...testConfig(), steps: 0 };
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await start(config, config.taskQueues.control, `train-${config.runId}`);
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidRunConfig');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(/steps: /);
    expect(await getRun(h.database.db, config.runId)).toBeUndefined();
  } finally {
    await workers.stop();
  }
});

test('pause holds the loop, the learning-rate update is validated, resume continues, stop ends after the step', async () => {
  const config = testConfig({ steps: 500, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 100 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await start(config, config.taskQueues.control, `train-${config.runId}`);
    await eventually('two steps', async () => ((await progressOf(handle)).step >= 2 ? true : undefined));

    await handle.signal('pause');
    const paused = await eventually('the pause', async () => {
      const p = await progressOf(handle);
      return p.phase === 'paused' ? p : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await progressOf(handle)).step).toBe(paused.step);
    expect((await handle.describe()).typedSearchAttributes.get(sa.RatchetPaused)).toBe(true);

    await expect(handle.executeUpdate('setLearningRate', { args: [-1] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    expect(await handle.executeUpdate('setLearningRate', { args: [0.5] })).toEqual({ previous: 2, learningRate: 0.5 });

    await handle.signal('resume');
    await eventually('a step after resuming', async () => ((await progressOf(handle)).step > paused.step ? true : undefined));
    await handle.signal('stopAfterStep');
    const result = (await handle.result()) as TrainingRunResult;

    expect(result.status).toBe('stopped');
    expect(result.steps).toBeGreaterThan(paused.step);
    expect(result.steps).toBeLessThan(500);
    const rows = await listSteps(h.database.db, config.runId);
    expect(rows).toHaveLength(result.steps);
    expect(rows[paused.step].learningRate).toBe(0.5);
    expect(rows[paused.step - 1].learningRate).toBe(2);
    expect(await getRun(h.database.db, config.runId)).toMatchObject({ status: 'stopped', stepsCompleted: result.steps });
  } finally {
    await workers.stop();
  }
});

test('continue-as-new every K steps carries the loop state: step, policy version, learning rate', async () => {
  const config = testConfig({ steps: 7, continueAsNewEvery: 3, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 300 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await start(config, config.taskQueues.control, `train-${config.runId}`);
    await handle.signal('pause');
    const paused = await eventually('the pause', async () => {
      const p = await progressOf(handle);
      return p.phase === 'paused' ? p : undefined;
    });
    expect(paused.step).toBeLessThan(3);
    await handle.executeUpdate('setLearningRate', { args: [0.7] });
    await handle.signal('resume');
    const result = (await handle.result()) as TrainingRunResult;

    expect(result).toMatchObject({ status: 'completed', steps: 7, policyVersion: 7 });
    const rows = await listSteps(h.database.db, config.runId);
    expect(rows.map((r) => [r.step, r.policyVersion])).toEqual([...Array(7).keys()].map((i) => [i, i]));
    expect(rows.slice(3).every((r) => r.learningRate === 0.7)).toBe(true);

    // The chain: first execution -> continued twice (after steps 3 and 6).
    const executions = [];
    for await (const execution of h.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) executions.push(execution);
    expect(executions).toHaveLength(3);
    expect(executions.filter((e) => e.status.name === 'CONTINUED_AS_NEW')).toHaveLength(2);
    const [{ n }] = (await h.database.db.execute(sql`select count(*)::int as n from runs where run_id = ${config.runId}`)).rows as { n: number }[];
    expect(n).toBe(1);
  } finally {
    await workers.stop();
  }
});

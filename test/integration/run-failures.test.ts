/**
 * What ends a run and what does not, on the real dev server and Postgres: an error retrying cannot fix fails the run
 * at its first attempt, any other error after the configured attempts; either way the cause reaches Postgres,
 * `ratchet status` and the workflow's failure. And the config travels by reference, which keeps histories small.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { createCpuActivities } from '../../activities';
import { configRefInterceptors } from '../../activities/config-ref';
import { payloadCodecs } from '../../common/payload-codec';
import type { CpuActivities } from '../../activities/contract';
import { getRun, listSteps } from '../../db/queries';
import { ratchet } from './support/cli';
import { openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

type Config = ReturnType<typeof testConfig>;

/** The control and gpu pools as usual, and a cpu pool whose activities are `override`n. */
async function runWithCpuActivities(config: Config, override: Partial<CpuActivities>) {
  const workers = await runWorkers(h, config.taskQueues, ['control', 'gpu']);
  const cpu = await Worker.create({
    connection: h.nativeConnection,
    taskQueue: config.taskQueues.cpu,
    activities: { ...createCpuActivities({ db: h.database.db, store: h.store }), ...override },
    interceptors: configRefInterceptors(h.store),
    dataConverter: { payloadCodecs: payloadCodecs() },
  });
  const running = cpu.run();
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    return { handle, failure };
  } finally {
    cpu.shutdown();
    await running;
    await workers.stop();
  }
}

/** Every event of the run's workflow chain (continue-as-new executions included), oldest first. */
async function chainEvents(workflowId: string): Promise<{ bytes: number; events: proto.api.history.v1.IHistoryEvent[] }> {
  const executions = [];
  for await (const e of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) executions.push(e);
  executions.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  let bytes = 0;
  const events: proto.api.history.v1.IHistoryEvent[] = [];
  for (const e of executions) {
    const history = await h.client.workflow.getHandle(workflowId, e.runId).fetchHistory();
    bytes += proto.api.history.v1.History.encode(history).finish().length;
    events.push(...(history.events ?? []));
  }
  return { bytes, events };
}

const inputOf = (event: proto.api.history.v1.IHistoryEvent) =>
  JSON.parse(new TextDecoder().decode(event.activityTaskScheduledEventAttributes!.input!.payloads![0].data!)) as Record<string, unknown>;

test('a programming error in an activity fails the run at its first attempt, with the cause in Postgres, `ratchet status` and the failure', async () => {
  const config = testConfig({ steps: 3 });
  let calls = 0;
  const { handle, failure } = await runWithCpuActivities(config, {
    async computeAdvantages() {
      calls++;
      const groups = undefined as unknown as { advantages: never }[];
      return groups[0].advantages; // TypeError: a bug, the same on every attempt
    },
  });

  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const activity = (failure as WorkflowFailedError).cause as ActivityFailure;
  expect(activity).toBeInstanceOf(ActivityFailure);
  expect(activity.activityType).toBe('computeAdvantages');
  expect(activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
  expect((activity.cause as ApplicationFailure).type).toBe('TypeError');
  expect(calls).toBe(1);

  const run = await getRun(h.database.db, config.runId);
  expect(run).toMatchObject({ status: 'failed', stepsCompleted: 0 });
  expect(run.error).toMatch(/^computeAdvantages \(not retryable\) ← TypeError: Cannot read properties of undefined/);
  const status = await ratchet(['status']);
  expect(status.stdout).toContain(`run ${config.runId}  bandit/grpo  failed`);
  expect(status.stdout).toContain(`failed: computeAdvantages (not retryable) ← TypeError`);
  expect((await handle.describe()).status.name).toBe('FAILED');
}, 120_000);

test('an error a retry may fix is retried up to the configured attempts, then fails the run with its cause', async () => {
  const config = testConfig({ steps: 3, timeouts: { ...testConfig().timeouts, kinds: { bookkeeping: { maximumAttempts: 3 } } } });
  let calls = 0;
  const { failure } = await runWithCpuActivities(config, {
    async recordStep() {
      calls++;
      throw new Error('the disk is on fire');
    },
  });

  const activity = (failure as WorkflowFailedError).cause as ActivityFailure;
  expect(activity.activityType).toBe('recordStep');
  expect(activity.retryState).toBe(RetryState.MAXIMUM_ATTEMPTS_REACHED);
  expect(calls).toBe(3);
  expect((await getRun(h.database.db, config.runId))?.error).toBe('recordStep (attempts exhausted) ← Error: the disk is on fire');
}, 120_000);

test('activities get the config by reference: only the first recordRun carries it; history bytes per step', async () => {
  const config = testConfig({ steps: 12, tasksPerStep: 8, evaluation: { every: 6, tasks: 4 } });
  const workers = await runWorkers(h, config.taskQueues);
  const workflowId = `train-${config.runId}`;
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId, args: [config] });
    await handle.result();
  } finally {
    await workers.stop();
  }
  expect((await listSteps(h.database.db, config.runId)).map((r) => r.step)).toEqual([...Array(12).keys()]);

  const { bytes, events } = await chainEvents(workflowId);
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes);
  const carryingConfig = scheduled.filter((e) => 'config' in inputOf(e)).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
  expect(carryingConfig).toEqual(['recordRun']);
  expect(scheduled.slice(1).every((e) => 'configRef' in inputOf(e))).toBe(true);

  const byKind = new Map<string, number>();
  const scheduledType = new Map(scheduled.map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!]));
  for (const e of events) {
    const size = proto.api.history.v1.HistoryEvent.encode(e).finish().length;
    const completed = e.activityTaskCompletedEventAttributes;
    const kind = e.activityTaskScheduledEventAttributes
      ? `${e.activityTaskScheduledEventAttributes.activityType!.name} input`
      : completed
        ? `${scheduledType.get(String(completed.scheduledEventId))} result`
        : String(proto.api.enums.v1.EventType[e.eventType!]);
    byKind.set(kind, (byKind.get(kind) ?? 0) + size);
  }
  const largest = [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`largest parts (bytes): ${largest.map(([kind, size]) => `${kind} ${size}`).join(', ')}`);
  const perStep = { bytes: bytes / config.steps, events: events.length / config.steps };
  console.log(`history of a ${config.steps}-step bandit run: ${bytes} bytes, ${events.length} events; per step ${perStep.bytes.toFixed(0)} bytes, ${perStep.events.toFixed(1)} events`);
  // Measured: 18.2 KB and 56 events a step (27.6 KB before the config went by reference). Continue-as-new every
  // 100 steps (the default), or sooner when the server suggests it, keeps each execution of a 2,000-step run inside
  // Temporal's warnings (10 MB, 10,240 events): here 100 steps are ~1.8 MB and ~5,600 events.
  expect(perStep.bytes * 100).toBeLessThan(2_500_000);
  expect(perStep.events * 100).toBeLessThan(7_000);
}, 180_000);

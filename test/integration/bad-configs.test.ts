/**
 * Generated bad configs (test/support/bad-configs.ts) are refused before anything runs, by every way in. A fixed
 * sample of 224, 8 per (base config, category) pair, each one:
 * - refused by `ratchet start`'s validation (cli/start.ts loadRunConfig on the written file), naming the field;
 *   14 of them also through the real command (a process each, ~2.5 s), which exits 1 and starts no workflow;
 * - started as a `trainingRun` (9 with `temporal workflow start --input-file`, the rest with the Temporal client),
 *   which fails with InvalidRunConfig naming the field, with no ActivityTaskScheduled event in its history.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { loadRunConfig } from '../../cli/start';
import { sampleBadConfigs, namesField, type BadConfig } from '../support/bad-configs';
import { ratchet, temporal, writeConfig } from './support/cli';
import { openHarness, runWorkers, type Harness } from './support/harness';

const SAMPLE = sampleBadConfigs(224, 2028);
// The sample cycles through the 28 pairs, so these strides pick distinct pairs covering every category.
const BY_RATCHET_PROCESS = SAMPLE.filter((_, i) => i % 17 === 0).slice(0, 14);
const BY_TEMPORAL_CLI = SAMPLE.filter((_, i) => i % 27 === 1);
const BY_CLIENT = SAMPLE.filter((bad) => !BY_TEMPORAL_CLI.includes(bad));

let h: Harness;
const id = randomUUID().slice(0, 8);
const queue = `bad-configs-${id}-control`;
let workers: Awaited<ReturnType<typeof runWorkers>>;
const since = new Date().toISOString();
const counts = { ratchetValidation: 0, ratchetProcess: 0, workflow: 0 };

beforeAll(async () => {
  h = await openHarness();
  // Only the control pool: an activity the workflow scheduled would stay in its history, run or not.
  workers = await runWorkers(h, { control: queue, cpu: `bad-configs-${id}-cpu`, gpu: `bad-configs-${id}-gpu` }, ['control']);
});
afterAll(async () => {
  await workers?.stop();
  await h?.close();
  console.log(
    `bad configs tried: ${SAMPLE.length}; rejected naming the field by ratchet start's validation ${counts.ratchetValidation}, ` +
      `by the ratchet start command ${counts.ratchetProcess}/${BY_RATCHET_PROCESS.length}, ` +
      `by trainingRun before any activity ${counts.workflow} (temporal CLI ${BY_TEMPORAL_CLI.length}, client ${BY_CLIENT.length})`,
  );
});

const describeBad = (bad: BadConfig) => `(${bad.base}, ${bad.category}) ${bad.change}`;

function refusal(attempt: () => unknown): string | undefined {
  try {
    attempt();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

async function workflowsStartedSince(): Promise<number> {
  let n = 0;
  for await (const _ of h.client.workflow.list({ query: `StartTime > "${since}"` })) n++;
  return n;
}

test('ratchet start validates each written file and refuses it, naming the field', () => {
  for (const [i, bad] of SAMPLE.entries()) {
    const file = writeConfig(`bad-config-${id}-${i}`, bad.config);
    const message = refusal(() => loadRunConfig(file));
    if (message === undefined) throw new Error(`${describeBad(bad)}: accepted`);
    if (!message.includes(`${bad.field}: `) || (bad.unknownKey !== undefined && !message.includes(JSON.stringify(bad.unknownKey)))) {
      throw new Error(`${describeBad(bad)}: expected ${bad.field}, got ${message.slice(0, 300)}`);
    }
    counts.ratchetValidation++;
  }
});

test('the ratchet start command exits 1 naming the field, and starts no workflow', async () => {
  for (const [i, bad] of BY_RATCHET_PROCESS.entries()) {
    const result = await ratchet(['start', writeConfig(`bad-config-${id}-${i}`, bad.config)]);
    expect({ bad: describeBad(bad), code: result.code }).toEqual({ bad: describeBad(bad), code: 1 });
    expect(`${describeBad(bad)}\n${result.stderr}`).toContain(`${bad.field}: `);
    if (bad.unknownKey !== undefined) expect(result.stderr).toContain(JSON.stringify(bad.unknownKey));
    counts.ratchetProcess++;
  }
  expect(await workflowsStartedSince()).toBe(0);
}, 90_000);

/** The run's failure and its history: InvalidRunConfig naming the field, and no ActivityTaskScheduled event. */
async function expectRejected(workflowId: string, bad: BadConfig): Promise<void> {
  const handle = h.client.workflow.getHandle(workflowId);
  const error = await handle.result().then(() => undefined, (err: unknown) => err);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
  expect({ bad: describeBad(bad), type: cause.type, nonRetryable: cause.nonRetryable }).toEqual({ bad: describeBad(bad), type: 'InvalidRunConfig', nonRetryable: true });
  const issues = cause.details?.[0] as { field: string; message: string }[];
  if (!namesField(issues, bad)) throw new Error(`${describeBad(bad)}: expected ${bad.field}, got ${cause.message.slice(0, 300)}`);
  const history = await handle.fetchHistory();
  const scheduled = history.events?.filter((e) => e.eventType === proto.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) ?? [];
  expect({ bad: describeBad(bad), scheduled: scheduled.length }).toEqual({ bad: describeBad(bad), scheduled: 0 });
  counts.workflow++;
}

test('temporal workflow start: each run fails with InvalidRunConfig naming the field, with no activity scheduled', async () => {
  for (const [i, bad] of BY_TEMPORAL_CLI.entries()) {
    const workflowId = `bad-config-${id}-cli-${i}`;
    const file = writeConfig(workflowId, bad.config);
    const started = await temporal(['workflow', 'start', '--type', 'trainingRun', '--task-queue', queue, '--workflow-id', workflowId, '--input-file', file]);
    expect({ bad: describeBad(bad), code: started.code, stderr: started.stderr }).toMatchObject({ bad: describeBad(bad), code: 0 });
    await expectRejected(workflowId, bad);
  }
}, 60_000);

test('the Temporal client: each run fails with InvalidRunConfig naming the field, with no activity scheduled', async () => {
  const batch = 10;
  for (let first = 0; first < BY_CLIENT.length; first += batch) {
    await Promise.all(
      BY_CLIENT.slice(first, first + batch).map(async (bad, j) => {
            const workflowId = `bad-config-${id}-client-${first + j}`;
        await h.client.workflow.start('trainingRun', { taskQueue: queue, workflowId, args: [bad.config] });
        await expectRejected(workflowId, bad);
      }),
    );
  }
}, 60_000);

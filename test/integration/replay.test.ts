/**
 * Replay: recorded histories of trainingRun must replay on the current workflow code without
 * nondeterminism errors. A committed fixture guards against accidental changes to the workflow's commands;
 * regenerate it only for an intended, patched change: RATCHET_RECORD_FIXTURE=1 npx jest test/integration/replay.test.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { findTemporalCli } from '../../infra/temporal';
import { Worker } from '@temporalio/worker';
import type { Progress } from '../../workflows/training-run';
import { loadHistoryJson } from './support/history';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

const FIXTURE = join(__dirname, 'fixtures', 'training-run.history.json');

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('histories recorded now, with signals, updates, continue-as-new and an evaluation child, replay', async () => {
  const config = testConfig({ steps: 3, continueAsNewEvery: 2, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 200 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await h.client.workflow.start('trainingRun', {
      taskQueue: config.taskQueues.control,
      workflowId: `replay-${Date.now()}`,
      args: [config],
    });
    await handle.signal('pause');
    await eventually('the pause', async () => ((await (handle.query('progress') as Promise<Progress>)).phase === 'paused' ? true : undefined));
    await handle.executeUpdate('setLearningRate', { args: [1.5] });
    await handle.executeUpdate('setHyperparameters', { args: [{ klCoef: 0.05 }] });
    await handle.signal('resume');
    await handle.result();

    // Every execution of the chain, and the evaluation child started at the end, replay too.
    const query = `WorkflowId = '${handle.workflowId}' OR WorkflowId = '${handle.workflowId}/eval/step-3'`;
    const executions = await eventually('the two executions and the child in visibility', async () => {
      const found = [];
      for await (const execution of h.client.workflow.list({ query })) found.push(execution);
      return found.length === 3 ? found : undefined;
    });
    for (const execution of executions) {
      const executionHistory = await h.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, executionHistory, execution.workflowId);
    }

    // The first execution of the chain: start, pause, update, two steps, continue-as-new.
    const first = h.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    const history = await first.fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, history, handle.workflowId);
    if (process.env.RATCHET_RECORD_FIXTURE) {
      // The Temporal CLI's JSON history format, as `temporal workflow show --output json` writes it.
      const args = ['workflow', 'show', '--address', h.env.temporalAddress, '-w', first.workflowId, '-r', handle.firstExecutionRunId, '--output', 'json'];
      writeFileSync(FIXTURE, execFileSync(findTemporalCli()!, args));
    }
  } finally {
    await workers.stop();
  }
});

test('the committed history fixture replays without nondeterminism', async () => {
  const history = loadHistoryJson(FIXTURE);
  await expect(
    Worker.runReplayHistory({ workflowBundle: { codePath: h.env.workflowBundle } }, history, 'train-replay-fixture'),
  ).resolves.toBeUndefined();
});

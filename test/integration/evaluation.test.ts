/** Held-out evaluation: evaluationRun children every E steps and at the end, one `evaluations` row per mode. */
import { defaultPayloadConverter } from '@temporalio/common';
import { listEvaluations } from '../../db/queries';
import type { EvaluationSummary } from '../../workflows/evaluation-run';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;

/** The inputs of a workflow's scheduled activities of one type, in history order. */
async function scheduledInputs<T>(workflowId: string, type: string): Promise<T[]> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes).filter((a) => a?.activityType?.name === type);
  return scheduled.map((a) => defaultPayloadConverter.fromPayload(a!.input!.payloads![0]) as T);
}
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('a run evaluates every E steps and at the end, greedy and pass@k, into evaluations rows', async () => {
  const config = testConfig({ steps: 5, evaluation: { every: 2, split: 'dev', tasks: 5, passK: 3 } });
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const workflowId = `train-${config.runId}`;
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId, args: [config] });
    const result = (await handle.result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps: 5 });

    // Steps 2 and 4 (every 2), then the end (5); each greedy and pass@3, on the first 5 dev tasks.
    const rows = await listEvaluations(h.database.db, config.runId);
    expect(rows.map((r) => [r.step, r.mode, r.policyVersion, r.split, r.tasks, r.episodes])).toEqual([
      [2, 'greedy', 2, 'dev', 5, 5],
      [2, 'pass@3', 2, 'dev', 5, 15],
      [4, 'greedy', 4, 'dev', 5, 5],
      [4, 'pass@3', 4, 'dev', 5, 15],
      [5, 'greedy', 5, 'dev', 5, 5],
      [5, 'pass@3', 5, 'dev', 5, 15],
    ]);
    for (const row of rows) {
      const metrics = row.metrics as Record<string, number>;
      expect(row.successRate).toBe(row.mode === 'greedy' ? metrics.success : metrics.passAtK);
      if (row.mode !== 'greedy') expect(metrics.passAtK).toBeGreaterThanOrEqual(metrics.success);
      // The per-task details are in the store under the sha256 the row names.
      const details = JSON.parse(new TextDecoder().decode(await h.store.get(row.artifactKey, row.artifactSha256)));
      expect(details).toHaveLength(5);
    }

    // Children have deterministic ids and carry the run's search attributes.
    for (const step of [2, 4, 5]) {
      const child = h.client.workflow.getHandle(`${workflowId}/eval/step-${step}`);
      const summary = (await child.result()) as EvaluationSummary;
      expect(summary).toMatchObject({ step, policyVersion: step, split: 'dev' });
    }
    const progress = (await handle.query('progress')) as Progress;
    expect(progress.lastEvaluation?.step).toBe(5);

    // The step after an evaluation starts tells syncWeights the version it reads (an LLM run keeps that graph).
    const syncs = await scheduledInputs<{ step: number; evaluating?: number[] }>(handle.workflowId, 'syncWeights');
    expect(syncs.map((s) => s.step)).toEqual([0, 1, 2, 3, 4]);
    expect(syncs.slice(0, 2).map((s) => s.evaluating)).toEqual([undefined, undefined]);
    expect(syncs[2].evaluating).toContain(2);
    expect(syncs[4].evaluating).toContain(4);
    for (const s of syncs) for (const v of s.evaluating ?? []) expect([2, 4]).toContain(v);
  } finally {
    await workers.stop();
  }
});

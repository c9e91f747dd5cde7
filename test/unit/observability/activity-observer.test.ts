import { Writable } from 'node:stream';
import type { Context } from '@temporalio/activity';
import type { Database } from '../../../db/client';
import { ActivityObserver } from '../../../workers/observability/activity-observer';
import { createLogger } from '../../../workers/observability/logger';
import { TrainingMetrics } from '../../../workers/observability/training-metrics';
import { parsePrometheusText, sampleValue } from '../../support/prometheus-text';

const labels = { run: 'r1', env: 'bandit', algorithm: 'grpo' };
const input = (activityType: string) => ({
  context: { info: { activityType, attempt: 3, workflowExecution: { workflowId: 'train-r1', runId: 'x' } } } as unknown as Context,
  args: [{ runId: 'r1', step: 4, config: { env: 'bandit', algorithm: 'grpo' } }],
});

function observer(activityType: string, db?: Database) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  const metrics = new TrainingMetrics(16, false);
  const { context, args } = input(activityType);
  const o = new ActivityObserver(context, db, metrics, createLogger({}, stream));
  const execute = (next: () => Promise<unknown>) => o.execute({ args, headers: {} }, next);
  return { lines, metrics, execute };
}

test('one log line per attempt with run, step, activity and attempt; updatePolicy sets the policy version', async () => {
  const { lines, metrics, execute } = observer('updatePolicy');
  await expect(execute(async () => ({ checkpoint: { version: 5 } }))).resolves.toEqual({ checkpoint: { version: 5 } });
  expect(lines).toEqual([expect.objectContaining({ msg: 'activity completed', run: 'r1', step: 4, activity: 'updatePolicy', attempt: 3, workflowId: 'train-r1', durationMs: expect.any(Number) })]);
  expect(sampleValue(parsePrometheusText(await metrics.registry.metrics()), 'ratchet_policy_version', labels)).toBe(5);
});

test('a failed attempt is logged and rethrown as is', async () => {
  const { lines, execute } = observer('rolloutBatch');
  const failure = new Error('worker lost');
  await expect(execute(async () => Promise.reject(failure))).rejects.toBe(failure);
  expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'activity attempt failed', run: 'r1', step: 4, activity: 'rolloutBatch', error: 'worker lost' })]);
});

test('a metrics read that fails never fails the activity: a warning instead', async () => {
  const db = { select: () => { throw new Error('database restarting'); } } as unknown as Database;
  const { lines, execute } = observer('recordStep', db);
  await expect(execute(async () => undefined)).resolves.toBeUndefined();
  expect(lines.map((l) => l.msg)).toEqual(['activity completed', 'could not update the training metrics']);
});

import type { RunConfig } from '../../../config/run-config';
import { activitySummary } from '../../../workflows/activity-summary';

const config = { steps: 30, rolloutShards: 2 } as RunConfig;
const policy = { version: 11, key: 'k', sha256: 's' };

test('each step activity names its step (from 1), shard and policy version', () => {
  expect(activitySummary('rolloutBatch', { step: 11, shard: 0, policy, taskIds: [] }, config)).toBe('step 12/30 · rolloutBatch shard 1/2 · v11');
  expect(activitySummary('rolloutBatch', { step: 11, shard: 3, policy }, config)).toBe('step 12/30 · rolloutBatch shard 4 · v11');
  expect(activitySummary('checkRewards', { step: 11, round: 1 }, config)).toBe('step 12/30 · checkRewards round 2');
  expect(activitySummary('updatePolicy', { step: 11, policy }, config)).toBe('step 12/30 · updatePolicy · v11 → v12');
  expect(activitySummary('syncWeights', { step: 11, checkpoint: { version: 12 } }, config)).toBe('step 12/30 · syncWeights · publish v12');
  expect(activitySummary('recordStep', { step: 11, policyVersion: 11 }, config)).toBe('step 12/30 · recordStep · v11');
});

test('run and evaluation activities say what they record', () => {
  expect(activitySummary('recordRun', { status: 'running', stepsCompleted: 0 }, config)).toBe('recordRun running · 0/30 steps');
  expect(activitySummary('evaluatePolicy', { step: 12, split: 'dev', mode: 'pass@k', k: 4, policy: { version: 12 } }, config)).toBe(
    'after step 12/30 · evaluatePolicy dev pass@4 · v12',
  );
  expect(activitySummary('initPolicy', { runId: 'r' }, config)).toBe('initPolicy');
});

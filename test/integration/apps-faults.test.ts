/**
 * The durability test of faults.test.ts on the apps environment with the transformer policy: the gpu worker
 * SIGKILLed during updatePolicy, the cpu worker during a rollout. Exact trajectory rows, and a final
 * checkpoint byte-identical to an uninterrupted run with the same seed (training is deterministic given the
 * inputs, whichever process or attempt computes it).
 */
import { appsTestConfig } from './support/apps';
import { runUninterrupted, runWithFaults } from './support/faults';
import { openHarness, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('apps: SIGKILL mid-update and mid-rollout, exact rows, same final checkpoint sha256', async () => {
  const settings = {
    steps: 3,
    seed: 11,
    tasksPerStep: 4,
    groupSize: 4,
    // A lost attempt is noticed within the heartbeat timeout and retried.
    timeouts: { activityStartToClose: '5m', activityHeartbeat: '8s', retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
  };
  const baseline = await runUninterrupted(h, appsTestConfig(settings));
  const faulted = await runWithFaults(h, appsTestConfig(settings), [
    { pool: 'gpu', phase: 'updatePolicy', atStep: 1, delayMs: 500 },
    { pool: 'cpu', phase: 'rolloutBatch', atStep: 2, delayMs: 200 },
  ]);

  expect(faulted.result).toMatchObject({ status: 'completed', steps: 3, policyVersion: 3 });
  expect(faulted.fired.map((f) => [f.pool, f.step])).toEqual([
    ['gpu', 1],
    ['cpu', 2],
  ]);
  expect(faulted.retries.some((r) => r.startsWith('updatePolicy@'))).toBe(true);
  expect(faulted.retries.some((r) => r.startsWith('rolloutBatch@'))).toBe(true);
  expect(faulted.steps).toEqual([0, 1, 2]);
  expect(faulted.trajectories).toEqual({ total: 3 * 4 * 4, distinct: 3 * 4 * 4 });
  expect(faulted.finalCheckpoint).toEqual(baseline.finalCheckpoint);
  expect(baseline.finalCheckpoint.version).toBe(3);
}, 900_000);

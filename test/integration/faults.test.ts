/**
 * Durability under real process kills: the gpu worker SIGKILLed during updatePolicy and the cpu worker during a
 * rollout, each restarted. The run completes with exactly steps x tasks x group trajectory rows, no duplicates,
 * and a final checkpoint byte-identical (sha256) to an uninterrupted run with the same seed.
 * The helpers in support/faults.ts take any config: swap in an apps config to run the same test on apps.
 */
import { runUninterrupted, runWithFaults } from './support/faults';
import { openHarness, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('SIGKILL of the gpu worker mid-update and the cpu worker mid-rollout: exact rows, same final checkpoint', async () => {
  const settings = {
    steps: 4,
    seed: 21,
    tasksPerStep: 4,
    groupSize: 4,
    // Slow phases so each kill lands inside one; a short heartbeat timeout so the lost attempt is retried soon.
    bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 1500, updateLatencyMs: 1500 },
    timeouts: { activityStartToClose: '30s', activityHeartbeat: '1s', retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
  };
  const baseline = await runUninterrupted(h, testConfig(settings));
  const faulted = await runWithFaults(h, testConfig(settings), [
    { pool: 'gpu', phase: 'updatePolicy', atStep: 1 },
    { pool: 'cpu', phase: 'rolloutBatch', atStep: 2 },
  ]);

  expect(faulted.result).toMatchObject({ status: 'completed', steps: 4, policyVersion: 4 });
  expect(faulted.fired.map((f) => [f.pool, f.step])).toEqual([['gpu', 1], ['cpu', 2]]);
  // Both kills cost an attempt of the activity they hit.
  expect(faulted.retries.some((r) => r.startsWith('updatePolicy@'))).toBe(true);
  expect(faulted.retries.some((r) => r.startsWith('rolloutBatch@'))).toBe(true);

  expect(faulted.steps).toEqual([0, 1, 2, 3]);
  expect(faulted.trajectories).toEqual({ total: 4 * 4 * 4, distinct: 4 * 4 * 4 });
  expect(faulted.finalCheckpoint).toEqual(baseline.finalCheckpoint);
  expect(baseline.finalCheckpoint.version).toBe(4);
});

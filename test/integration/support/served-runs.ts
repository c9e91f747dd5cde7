/**
 * What the durability tests of runs rolled out elsewhere (llm-served-run: through `ratchet serve`; gateway-run: by an
 * external agent through the gateway) check of a run whose cpu worker was SIGKILLed mid-rollout at step 0, against
 * its uninterrupted baseline: both complete, the rollout was retried, and the rows and final adapter are the same.
 */
import { sql } from 'drizzle-orm';
import { listSteps } from '../../../db/queries';
import type { FaultedRunRecord, RunRecord } from './faults';
import type { Harness } from './harness';

export async function trajectoryRows(h: Harness, runId: string) {
  const { rows } = await h.database.db.execute(
    sql`select step, "group", sample, task_id, policy_version, reward, success, turns, tokens from trajectories where run_id = ${runId} order by step, "group", sample`,
  );
  return rows;
}

/** `steps` steps of 2 tasks x 2 samples each. */
export async function expectExactAfterRolloutKill(h: Harness, baseline: RunRecord, faulted: FaultedRunRecord, steps: number): Promise<void> {
  expect(baseline.result).toMatchObject({ status: 'completed', steps, policyVersion: steps });
  expect(faulted.result).toMatchObject({ status: 'completed', steps, policyVersion: steps });
  expect(faulted.fired.map((f) => [f.pool, f.step])).toEqual([['cpu', 0]]);
  expect(faulted.retries.some((r) => r.startsWith('rolloutBatch@'))).toBe(true);
  const rollouts = steps * 2 * 2;
  expect(faulted.trajectories).toEqual({ total: rollouts, distinct: rollouts });
  expect(await trajectoryRows(h, faulted.result.runId)).toEqual(await trajectoryRows(h, baseline.result.runId));
  expect(faulted.finalCheckpoint).toEqual(baseline.finalCheckpoint);
}

/** Every step's rollouts (v0, then each synced version) score the same log-probs in the trainer, to fp32 noise. */
export async function expectTrainerLogProbsMatch(h: Harness, runId: string): Promise<void> {
  for (const row of await listSteps(h.database.db, runId)) {
    const m = row.metrics as Record<string, number>;
    expect(m.logProbMismatchTokens).toBeGreaterThan(0);
    expect(m.logProbMismatch).toBeLessThan(1e-3);
  }
}

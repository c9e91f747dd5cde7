/**
 * Database headroom for bench/pipeline.ts: synthetic trajectory rows written the way recordStep writes them
 * (db/queries.ts upsertTrajectories, one step's batch per call, one call at a time) for a fixed time; the rows
 * are under a run id of their own and deleted afterwards.
 */
import type { Database } from '../db/client';
import { deleteRun, upsertRun, upsertTrajectories, type TrajectoryRow } from '../db/queries';

export async function trajectoryRowsPerSecond(db: Database, runId: string, rowsPerStep: number, seconds: number): Promise<{ rows: number; rowsPerSecond: number }> {
  await upsertRun(db, { runId, workflowId: runId, env: 'apps', algorithm: 'ppo', status: 'running', config: {} });
  let rows = 0;
  const started = performance.now();
  try {
    for (let step = 0; performance.now() - started < seconds * 1000; step++) {
      const batch: TrajectoryRow[] = Array.from({ length: rowsPerStep }, (_, i) => ({
        runId,
        step,
        group: Math.floor(i / 4),
        sample: i % 4,
        taskId: `task-${i}`,
        policyVersion: step,
        reward: (i % 3) / 2,
        success: i % 3 === 2,
        turns: 3,
        tokens: 120,
        finishReason: 'completed',
        envErrors: 0,
        artifactKey: `runs/${runId}/steps/${step}/rollouts/shard-000.json`,
        artifactSha256: 'f'.repeat(64),
      }));
      await upsertTrajectories(db, batch);
      rows += batch.length;
    }
    return { rows, rowsPerSecond: rows / ((performance.now() - started) / 1000) };
  } finally {
    await deleteRun(db, runId);
  }
}

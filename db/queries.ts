/** The small set of reads and idempotent writes the activities and the CLI need. */
import { and, asc, count, desc, eq, isNotNull, lt, sql } from 'drizzle-orm';
import type { Database } from './client';
import { checkpoints, evaluations, runs, steps, tasks, trajectories } from './schema';

export type RunRow = typeof runs.$inferInsert;
export type StepRow = typeof steps.$inferInsert;
export type TaskRow = typeof tasks.$inferInsert;
export type TrajectoryRow = typeof trajectories.$inferInsert;
export type CheckpointRow = typeof checkpoints.$inferInsert;
export type EvaluationRow = typeof evaluations.$inferInsert;

/** Postgres caps a statement at 65535 bind parameters; trajectories have 18 columns. */
const CHUNK = 2000;

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

/** Set every non-key column from the proposed row (Postgres' EXCLUDED). */
function excludedAll(columns: string[]) {
  return Object.fromEntries(columns.map((c) => [c, sql.raw(`excluded."${c}"`)]));
}

/**
 * Insert the run row for a fresh start of `row.executionId`; false (nothing written) when the run id already
 * belongs to another workflow chain. A retry by the same chain rewrites its own row.
 */
export async function claimRun(db: Database, row: RunRow & { executionId: string }): Promise<boolean> {
  const claimed = await db
    .insert(runs)
    .values(row)
    .onConflictDoUpdate({
      target: runs.runId,
      set: { workflowId: row.workflowId, status: row.status, stepsCompleted: row.stepsCompleted, config: row.config, error: null, updatedAt: sql`now()` },
      setWhere: sql`${runs.executionId} = ${row.executionId}`,
    })
    .returning({ runId: runs.runId });
  return claimed.length === 1;
}

export async function upsertRun(db: Database, row: RunRow): Promise<void> {
  await db
    .insert(runs)
    .values(row)
    .onConflictDoUpdate({
      target: runs.runId,
      set: {
        workflowId: row.workflowId,
        status: row.status,
        stepsCompleted: row.stepsCompleted,
        config: row.config,
        error: row.error ?? null,
        ...(row.executionId ? { executionId: row.executionId } : {}),
        updatedAt: sql`now()`,
      },
    });
}

export async function upsertTasks(db: Database, rows: TaskRow[]): Promise<void> {
  for (const part of chunks(rows)) await db.insert(tasks).values(part).onConflictDoNothing();
}

export async function upsertTrajectories(db: Database, rows: TrajectoryRow[]): Promise<void> {
  const set = excludedAll([
    'task_id', 'policy_version', 'reward', 'success', 'turns', 'tokens', 'finish_reason', 'env_errors', 'artifact_key', 'artifact_sha256',
    'chain_id', 'chain_position', 'skills_written', 'skills_used',
  ]);
  for (const part of chunks(rows)) {
    await db
      .insert(trajectories)
      .values(part)
      .onConflictDoUpdate({ target: [trajectories.runId, trajectories.step, trajectories.group, trajectories.sample], set });
  }
}

/** Every task outcome the run recorded before `step`, in step, group, sample order (what a curriculum replays). */
export async function trajectoryOutcomes(db: Database, runId: string, step: number): Promise<{ step: number; taskId: string; success: boolean }[]> {
  return db
    .select({ step: trajectories.step, taskId: trajectories.taskId, success: trajectories.success })
    .from(trajectories)
    .where(and(eq(trajectories.runId, runId), lt(trajectories.step, step)))
    .orderBy(asc(trajectories.step), asc(trajectories.group), asc(trajectories.sample));
}

export async function upsertStep(db: Database, row: StepRow): Promise<void> {
  const { runId: _r, step: _s, createdAt: _c, ...set } = row;
  await db.insert(steps).values(row).onConflictDoUpdate({ target: [steps.runId, steps.step], set });
}

export async function upsertCheckpoint(db: Database, row: CheckpointRow): Promise<void> {
  await db
    .insert(checkpoints)
    .values(row)
    .onConflictDoUpdate({ target: [checkpoints.runId, checkpoints.version], set: { step: row.step, artifactKey: row.artifactKey, sha256: row.sha256 } });
}

export async function getRun(db: Database, runId: string) {
  const [row] = await db.select().from(runs).where(eq(runs.runId, runId));
  return row;
}

export async function listRuns(db: Database, limit = 20) {
  return db.select().from(runs).orderBy(sql`${runs.updatedAt} desc`).limit(limit);
}

export async function listSteps(db: Database, runId: string) {
  return db.select().from(steps).where(eq(steps.runId, runId)).orderBy(asc(steps.step));
}

export async function countTrajectories(db: Database, runId: string, step?: number): Promise<number> {
  const where = step === undefined ? eq(trajectories.runId, runId) : and(eq(trajectories.runId, runId), eq(trajectories.step, step));
  const [row] = await db.select({ n: count() }).from(trajectories).where(where);
  return row.n;
}

export async function latestCheckpoint(db: Database, runId: string) {
  const [row] = await db.select().from(checkpoints).where(eq(checkpoints.runId, runId)).orderBy(sql`${checkpoints.version} desc`).limit(1);
  return row;
}

/** Save the loop state after `step` beside its step row (which the env's recordStep has just written). */
export async function saveStepState(db: Database, runId: string, step: number, state: unknown): Promise<void> {
  const updated = await db.update(steps).set({ state }).where(and(eq(steps.runId, runId), eq(steps.step, step))).returning({ step: steps.step });
  if (updated.length !== 1) throw new Error(`saveStepState: no steps row for run ${runId} step ${step}`);
}

/** The saved state of the run's latest step that has one (what `ratchet resume` continues from). */
export async function latestStepState(db: Database, runId: string): Promise<{ step: number; state: unknown } | undefined> {
  const [row] = await db
    .select({ step: steps.step, state: steps.state })
    .from(steps)
    .where(and(eq(steps.runId, runId), isNotNull(steps.state)))
    .orderBy(desc(steps.step))
    .limit(1);
  return row;
}

export async function upsertEvaluation(db: Database, row: EvaluationRow): Promise<void> {
  const { runId: _r, step: _s, split: _p, mode: _m, createdAt: _c, ...set } = row;
  await db.insert(evaluations).values(row).onConflictDoUpdate({ target: [evaluations.runId, evaluations.step, evaluations.split, evaluations.mode], set });
}

export async function listEvaluations(db: Database, runId: string) {
  return db.select().from(evaluations).where(eq(evaluations.runId, runId)).orderBy(asc(evaluations.step), asc(evaluations.mode));
}

/** Every row a run wrote, counted per table (so `ratchet start` can refuse to overwrite a used run id). */
export async function runFootprint(db: Database, runId: string): Promise<Record<'runs' | 'steps' | 'trajectories' | 'checkpoints' | 'evaluations', number>> {
  const counts = await Promise.all(
    ([runs, steps, trajectories, checkpoints, evaluations] as const).map(async (table) => {
      const [row] = await db.select({ n: count() }).from(table).where(eq(table.runId, runId));
      return row.n;
    }),
  );
  const [r, s, t, c, e] = counts;
  return { runs: r, steps: s, trajectories: t, checkpoints: c, evaluations: e };
}

/** Delete every row of a run (`ratchet start --force`); artifacts are overwritten by their deterministic keys. */
export async function deleteRun(db: Database, runId: string): Promise<void> {
  await db.transaction(async (tx) => {
    for (const table of [trajectories, steps, checkpoints, evaluations, runs] as const) await tx.delete(table).where(eq(table.runId, runId));
  });
}

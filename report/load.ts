/**
 * Gathers a run's report rows from Postgres and, for the few sampled trajectories, their turns from the rollout
 * shards and their advantages from the step's advantages.json in the artifact store.
 */
import { asc, eq } from 'drizzle-orm';
import type { ArtifactStore } from '../common/artifacts';
import { stepKey } from '../common/artifact-keys';
import type { Database } from '../db/client';
import { getRun, listEvaluations, listSteps } from '../db/queries';
import { checkpoints, tasks, trajectories } from '../db/schema';
import type { Trajectory } from '../trainer/trajectory';
import { chooseSamples, type ReportRows, type SampledTrajectory, turnAdvantages } from './build';

/** A text agent's advantages.json (trainer/advantages.ts): one row of per-token advantages per trajectory, in (group, sample) order. */
interface AgentAdvantages {
  advantages: number[][];
}
/** The bandit's advantages.json and rollout shards (activities/bandit). */
interface BanditAdvantage {
  group: number;
  sample: number;
  advantage: number;
}
interface BanditRollout {
  group: number;
  sample: number;
  actions: string[];
  finishReason: string;
}

type TrajectoryRow = typeof trajectories.$inferSelect;

export async function loadReportRows(db: Database, store: ArtifactStore, runId: string): Promise<ReportRows> {
  const run = await getRun(db, runId);
  if (!run) throw new Error(`no run ${JSON.stringify(runId)} in Postgres`);
  const [steps, evaluations, versions, rows, taskRows] = await Promise.all([
    listSteps(db, runId),
    listEvaluations(db, runId),
    db.select().from(checkpoints).where(eq(checkpoints.runId, runId)).orderBy(asc(checkpoints.version)),
    db.select().from(trajectories).where(eq(trajectories.runId, runId)).orderBy(asc(trajectories.step), asc(trajectories.group), asc(trajectories.sample)),
    db.select({ taskId: tasks.taskId, template: tasks.template, level: tasks.level }).from(tasks).where(eq(tasks.env, run.env)),
  ]);
  const samples: SampledTrajectory[] = [];
  for (const chosen of chooseSamples(rows)) {
    const row = rows.find((r) => r.step === chosen.step && r.group === chosen.group && r.sample === chosen.sample)!;
    samples.push(await loadSample(store, runId, row, rows.filter((r) => r.step === row.step)));
  }
  return { run, steps, evaluations, checkpoints: versions, outcomes: rows, tasks: taskRows, samples };
}

async function readJson<T>(store: ArtifactStore, key: string, sha256?: string): Promise<T | undefined> {
  if (!(await store.has(key))) return undefined;
  return JSON.parse(new TextDecoder().decode(await store.get(key, sha256))) as T;
}

/** One trajectory turn by turn, with the advantage each turn's tokens got (null where the step kept none). */
async function loadSample(store: ArtifactStore, runId: string, row: TrajectoryRow, stepRows: TrajectoryRow[]): Promise<SampledTrajectory> {
  const shard = (await readJson<(Trajectory | BanditRollout)[]>(store, row.artifactKey, row.artifactSha256)) ?? [];
  const record = shard.find((t) => t.group === row.group && t.sample === row.sample);
  const advantages = await readJson<AgentAdvantages | BanditAdvantage[]>(store, stepKey(runId, row.step, 'advantages.json'));
  const base = { step: row.step, group: row.group, sample: row.sample, taskId: row.taskId, reward: row.reward, success: row.success, finishReason: row.finishReason };
  const rewardAt = (i: number, n: number) => (i === n - 1 ? row.reward : 0);
  if (record && 'turns' in record) {
    // Rows are in (group, sample) order over the step's trajectories; a matrix of another size is not this batch.
    const index = stepRows.findIndex((r) => r.group === row.group && r.sample === row.sample);
    const matrix = advantages && !Array.isArray(advantages) && advantages.advantages.length === stepRows.length ? advantages.advantages : undefined;
    const perTurn = turnAdvantages(matrix?.[index], record.turns.map((t) => t.actionTokens.length));
    const n = record.turns.length;
    return { ...base, turns: record.turns.map((t, i) => ({ action: t.action, observation: t.observation, reward: rewardAt(i, n), advantage: perTurn[i] })) };
  }
  if (record && 'actions' in record) {
    const advantage = Array.isArray(advantages) ? (advantages.find((a) => a.group === row.group && a.sample === row.sample)?.advantage ?? null) : null;
    const n = record.actions.length;
    return { ...base, turns: record.actions.map((action, i) => ({ action, observation: '', reward: rewardAt(i, n), advantage })) };
  }
  return { ...base, turns: [] };
}

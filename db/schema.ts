/**
 * The Postgres tables (DESIGN section 4). Every table has a natural unique key, so every write is an upsert and
 * a retried activity rewrites the same rows instead of adding new ones.
 */
import { sql } from 'drizzle-orm';
import { boolean, doublePrecision, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`);
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`);

export const runs = pgTable('runs', {
  runId: text('run_id').primaryKey(),
  workflowId: text('workflow_id').notNull(),
  env: text('env').notNull(),
  algorithm: text('algorithm').notNull(),
  status: text('status').notNull(),
  stepsCompleted: integer('steps_completed').notNull().default(0),
  config: jsonb('config').notNull(),
  /** The workflow chain (first execution's run id) that owns this run id; a fresh start by another is refused. */
  executionId: text('execution_id'),
  /** Why a failed run failed: the activity, its error type and message (null unless status is failed). */
  error: text('error'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const steps = pgTable(
  'steps',
  {
    runId: text('run_id').notNull(),
    step: integer('step').notNull(),
    policyVersion: integer('policy_version').notNull(),
    meanReward: doublePrecision('mean_reward').notNull(),
    successRate: doublePrecision('success_rate').notNull(),
    entropy: doublePrecision('entropy').notNull(),
    kl: doublePrecision('kl').notNull(),
    learningRate: doublePrecision('learning_rate').notNull(),
    trajectories: integer('trajectories').notNull(),
    tokens: integer('tokens').notNull(),
    wallMs: integer('wall_ms').notNull(),
    /** Anything else a given algorithm or environment reports (clip fraction, phase timings, backend ...). */
    metrics: jsonb('metrics').notNull(),
    /** The loop state after this step (activities/contract.ts `ResumePoint`): what `ratchet resume` continues from. */
    state: jsonb('state'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.step] })],
);

export const tasks = pgTable(
  'tasks',
  {
    env: text('env').notNull(),
    taskId: text('task_id').notNull(),
    split: text('split').notNull(),
    template: text('template').notNull(),
    level: integer('level').notNull(),
    scenario: text('scenario').notNull(),
  },
  (t) => [primaryKey({ columns: [t.env, t.taskId] })],
);

export const trajectories = pgTable(
  'trajectories',
  {
    runId: text('run_id').notNull(),
    step: integer('step').notNull(),
    /** Index of the task within the step's batch; `sample` indexes the rollouts of that task. */
    group: integer('group').notNull(),
    sample: integer('sample').notNull(),
    taskId: text('task_id').notNull(),
    policyVersion: integer('policy_version').notNull(),
    reward: doublePrecision('reward').notNull(),
    success: boolean('success').notNull(),
    turns: integer('turns').notNull(),
    tokens: integer('tokens').notNull(),
    finishReason: text('finish_reason').notNull(),
    envErrors: integer('env_errors').notNull(),
    artifactKey: text('artifact_key').notNull(),
    artifactSha256: text('artifact_sha256').notNull(),
    /** SAGE steps (config `sage`; null otherwise): the chain within the step, the position in it, and the skills written and used. */
    chainId: text('chain_id'),
    chainPosition: integer('chain_position'),
    skillsWritten: text('skills_written').array(),
    skillsUsed: text('skills_used').array(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.step, t.group, t.sample] })],
);

export const checkpoints = pgTable(
  'checkpoints',
  {
    runId: text('run_id').notNull(),
    version: integer('version').notNull(),
    step: integer('step').notNull(),
    artifactKey: text('artifact_key').notNull(),
    sha256: text('sha256').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.version] })],
);

export const evaluations = pgTable(
  'evaluations',
  {
    runId: text('run_id').notNull(),
    step: integer('step').notNull(),
    split: text('split').notNull(),
    /** `greedy`, `pass@4`, ... */
    mode: text('mode').notNull(),
    policyVersion: integer('policy_version').notNull(),
    tasks: integer('tasks').notNull(),
    successRate: doublePrecision('success_rate').notNull(),
    meanReward: doublePrecision('mean_reward').notNull(),
    metrics: jsonb('metrics').notNull(),
    /** Episodes played (tasks x samples per task) and the per-task results in the artifact store. */
    episodes: integer('episodes').notNull().default(0),
    artifactKey: text('artifact_key').notNull().default(''),
    artifactSha256: text('artifact_sha256').notNull().default(''),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.step, t.split, t.mode] })],
);

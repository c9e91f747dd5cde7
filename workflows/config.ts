/**
 * The run config: one JSON document accepted by the Temporal CLI (`--input-file`) and by `ratchet start`.
 *
 * Pure (zod only) so the workflow can validate its own input before the first activity. Environment-specific
 * settings live in their own section (`bandit`, `apps`, `deepsearch`); add a section here when an environment
 * needs one.
 */
import { z } from 'zod';

export const ENV_NAMES = ['bandit', 'apps', 'deepsearch'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

export const DEFAULT_TASK_QUEUES = { control: 'ratchet-control', cpu: 'ratchet-cpu', gpu: 'ratchet-gpu' } as const;

/** A Temporal duration string such as `500ms`, `30s`, `2m`, `1h`. */
const duration = z.string().regex(/^\d+(ms|s|m|h)$/, 'expected a duration like "500ms", "30s", "2m" or "1h"');

export const BanditConfigSchema = z.strictObject({
  arms: z.int().min(2).max(64).default(8),
  /** Tasks per split; each task is one bandit instance (a context) with its own best arm. */
  tasks: z.int().min(1).max(10_000).default(16),
  /** Seed of the world (arm payoffs), independent of the run's sampling seed. */
  worldSeed: z.int().min(0).default(7),
  /** Simulated environment latency per rollout shard, so tests can interrupt a rollout mid-flight. */
  rolloutLatencyMs: z.int().min(0).max(60_000).default(0),
});

export const RunConfigSchema = z
  .strictObject({
    runId: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-", at most 63 characters'),
    env: z.enum(ENV_NAMES),
    split: z.string().min(1).default('train'),
    algorithm: z.enum(['grpo', 'rloo', 'reinforce']).default('grpo'),
    steps: z.int().min(1).max(1_000_000),
    seed: z.int().min(0).default(0),
    tasksPerStep: z.int().min(1).max(4096).default(8),
    groupSize: z.int().min(1).max(256).default(4),
    rolloutShards: z.int().min(1).max(64).default(2),
    learningRate: z.number().positive().max(100).default(1),
    /** Continue-as-new after this many steps in one execution (also whenever Temporal suggests it). */
    continueAsNewEvery: z.int().min(1).default(100),
    taskQueues: z
      .strictObject({
        control: z.string().min(1).default(DEFAULT_TASK_QUEUES.control),
        cpu: z.string().min(1).default(DEFAULT_TASK_QUEUES.cpu),
        gpu: z.string().min(1).default(DEFAULT_TASK_QUEUES.gpu),
      })
      .prefault({}),
    /** Activity timeouts and retry pacing; tests shorten them. */
    timeouts: z
      .strictObject({
        activityStartToClose: duration.default('5m'),
        activityHeartbeat: duration.default('30s'),
        retryInitialInterval: duration.default('1s'),
        retryMaximumInterval: duration.default('30s'),
      })
      .prefault({}),
    bandit: BanditConfigSchema.prefault({}),
    /** Sections owned by the apps and deepsearch environments (validated by their own schemas). */
    apps: z.record(z.string(), z.unknown()).optional(),
    deepsearch: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((config, ctx) => {
    if (config.env === 'bandit' && config.tasksPerStep > config.bandit.tasks) {
      ctx.addIssue({
        code: 'custom',
        path: ['tasksPerStep'],
        message: `must be at most bandit.tasks (${config.bandit.tasks})`,
      });
    }
    if (config.rolloutShards > config.tasksPerStep) {
      ctx.addIssue({ code: 'custom', path: ['rolloutShards'], message: `must be at most tasksPerStep (${config.tasksPerStep})` });
    }
  });

export type RunConfig = z.output<typeof RunConfigSchema>;
export type RunConfigInput = z.input<typeof RunConfigSchema>;

export class InvalidRunConfigError extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid run config: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = 'InvalidRunConfigError';
  }
}

/** Parse and fill defaults; throws InvalidRunConfigError whose message names each bad field. */
export function parseRunConfig(input: unknown): RunConfig {
  const result = RunConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw new InvalidRunConfigError(
    result.error.issues.map((issue) => ({ field: issue.path.length ? issue.path.join('.') : '(root)', message: issue.message })),
  );
}

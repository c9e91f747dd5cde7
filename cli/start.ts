/** `ratchet start <config.json>`: validate the config here (clear error, nothing started), then start the run. */
import { existsSync, readFileSync } from 'node:fs';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { SingleBar } from 'cli-progress';
import type { Database } from '../db/client';
import { deleteRun, runFootprint } from '../db/queries';
import { parseRunConfig, type RunConfig } from '../config/run-config';
import { resolveModelRef } from '../policy/llm/models';
import * as sa from '../workflows/search-attributes';
import type { Progress, TrainingRunResult } from '../workflows/training-run';
import { describeFailure } from '../workflows/failure';

export function workflowIdFor(runId: string): string {
  return `train-${runId}`;
}

/** Read and validate a config file; throws a message naming the file and each bad field. */
export function loadRunConfig(file: string, overrides: Record<string, unknown> = {}): { raw: Record<string, unknown>; config: RunConfig } {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read run config ${file}: ${(err as Error).message}`);
  }
  // Only an object takes the overrides: spreading a list, a string or null would hide what the file holds.
  if (Object.keys(overrides).length && raw && typeof raw === 'object' && !Array.isArray(raw)) raw = { ...raw, ...overrides };
  let config: RunConfig;
  try {
    config = parseRunConfig(raw);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  requireLlmModel(config, file);
  return { raw, config };
}

/** An llm run's model must be on this machine before anything starts (the workers read it from the same disk). */
function requireLlmModel(config: RunConfig, file: string): void {
  if (config.agent.policy.kind !== 'llm') return;
  const { model } = config.agent.policy;
  let resolved;
  try {
    resolved = resolveModelRef(model);
  } catch (err) {
    throw new Error(`${file}: agent.policy.model: ${(err as Error).message}`);
  }
  if (resolved.kind === 'registered' && !existsSync(resolved.path)) {
    throw new Error(`${file}: agent.policy.model ${model} is not pulled: run \`npm run ratchet -- models pull ${model}\``);
  }
}

/** Where and as what a run's workflow starts (shared by start and resume). */
export function startOptions(config: RunConfig) {
  return {
    taskQueue: config.taskQueues.control,
    workflowId: workflowIdFor(config.runId),
    typedSearchAttributes: [
      { key: sa.RatchetRunId, value: config.runId },
      { key: sa.RatchetEnv, value: config.env },
      { key: sa.RatchetAlgorithm, value: config.algorithm },
    ],
    staticSummary: `${config.env} · ${config.algorithm} · ${config.steps} steps`,
  };
}

/**
 * A run id names one run's rows: starting a config again under a used id would overwrite them. Refuse unless
 * `force`, which deletes the old rows first (artifacts are overwritten by their deterministic keys).
 */
export async function claimRunId(db: Database, runId: string, force = false): Promise<void> {
  const footprint = await runFootprint(db, runId);
  const used = Object.entries(footprint).filter(([, n]) => n > 0);
  if (used.length === 0) return;
  if (!force) {
    throw new Error(
      `run id ${JSON.stringify(runId)} already has rows (${used.map(([t, n]) => `${t}: ${n}`).join(', ')}); ` +
        `choose another --run-id, continue it with \`ratchet resume ${runId}\`, or replace it with --force`,
    );
  }
  await deleteRun(db, runId);
}

export async function startRun(client: Client, raw: Record<string, unknown>, config: RunConfig): Promise<WorkflowHandle> {
  return client.workflow.start('trainingRun', { ...startOptions(config), args: [raw] });
}

/** Poll the progress query and draw a bar until the run ends; returns its result. */
export async function watchRun(handle: WorkflowHandle, pollMs = 500): Promise<TrainingRunResult> {
  const bar = new SingleBar({
    format: ' {bar} {value}/{total} steps | reward {reward} | success {success}% | policy v{version} | {phase}',
    hideCursor: true,
    // In a log (CI, pipes) print a line every second instead of redrawing.
    noTTYOutput: !process.stdout.isTTY,
    notTTYSchedule: 1000,
  });
  let started = false;
  const result = handle.result() as Promise<TrainingRunResult>;
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    const progress = await handle.query<Progress>('progress').catch(() => undefined);
    if (progress) {
      const payload = {
        reward: progress.last ? progress.last.meanReward.toFixed(3) : '-',
        success: progress.last ? (100 * progress.last.successRate).toFixed(1) : '-',
        version: progress.policyVersion,
        phase: progress.paused ? 'paused' : `${progress.phase}${await retrying(handle)}`,
      };
      if (!started) bar.start(progress.totalSteps, progress.step, payload);
      else bar.update(progress.step, payload);
      started = true;
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, pollMs))]);
  }
  const final = await result.catch((err) => {
    if (started) bar.stop();
    // The cause, not just "workflow execution failed": which activity, how its retries ended, the root error.
    throw new Error(`run ${handle.workflowId} failed: ${describeFailure(err instanceof Error && err.cause ? err.cause : err)}`);
  });
  if (started) {
    bar.update(final.steps, {
      reward: final.last?.meanReward.toFixed(3) ?? '-',
      success: final.last ? (100 * final.last.successRate).toFixed(1) : '-',
      version: final.policyVersion,
      phase: final.status,
    });
    bar.stop();
  }
  return final;
}

/** " (retrying rolloutBatch: attempt 3, last error ...)" while an activity is being retried, else "". */
async function retrying(handle: WorkflowHandle): Promise<string> {
  const description = await handle.describe().catch(() => undefined);
  const pending = description?.raw.pendingActivities?.find((a) => (a.attempt ?? 1) > 1);
  if (!pending) return '';
  const last = pending.lastFailure?.cause?.message ?? pending.lastFailure?.message ?? '';
  return ` (retrying ${pending.activityType?.name}: attempt ${pending.attempt}${last ? `, last error: ${last.slice(0, 80)}` : ''})`;
}

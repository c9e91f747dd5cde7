/** `ratchet start <config.json>`: validate the config here (clear error, nothing started), then start the run. */
import { existsSync, readFileSync } from 'node:fs';
import { isGrpcServiceError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
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
    staticSummary: `${config.runId} · ${config.env} · ${config.algorithm} · ${config.steps} steps of ${config.tasksPerStep}×${config.groupSize} episodes`,
    staticDetails: runDetails(config),
  };
}

/** The run's fixed facts for the UI's summary panel (markdown): what it trains, from what, where its rows are. */
function runDetails(config: RunConfig): string {
  const { policy, base, model } = config.agent;
  const start =
    config.env === 'bandit'
      ? 'a uniform softmax policy'
      : policy.kind === 'llm'
        ? `${policy.model}${policy.sft ? ` after a ${policy.sft.steps}-step format SFT` : `, ${policy.shots}-shot`}`
        : base.checkpoint
          ? `base checkpoint \`${base.checkpoint.key}\``
          : `a ${model.layers}-layer, width-${model.width} transformer after ${base.sftSteps} SFT steps on the expert's demonstrations`;
  return [
    `**run** \`${config.runId}\` · seed ${config.seed} · split \`${config.split ?? 'train'}\` · learning rate ${config.learningRate}`,
    `**policy** ${start}`,
    `**evaluation** \`${config.evaluation.split}\` every ${config.evaluation.every || 'end only'}${config.evaluation.every ? ' steps and at the end' : ''}`,
    `**rows** Postgres \`runs\`, \`steps\`, \`trajectories\` where run_id = '${config.runId}'; \`ratchet status\` / \`ratchet watch ${config.runId}\``,
  ].join('\n\n');
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

/**
 * Poll the workflow and its progress query and draw a bar until the run ends; returns its result. A Temporal
 * server that is away (restarting, a network blip) is waited for up to `outageMs`, since the run goes on without
 * the watcher; the learning warnings (workflows/learning-warnings.ts) are printed once each as they appear.
 */
export async function watchRun(handle: WorkflowHandle, pollMs = 500, outageMs = 10 * 60_000): Promise<TrainingRunResult> {
  const bar = new SingleBar({
    format: ' {bar} {value}/{total} steps | reward {reward} | success {success}% | policy v{version} | {phase}',
    hideCursor: true,
    // In a log (CI, pipes) print a line every second instead of redrawing.
    noTTYOutput: !process.stdout.isTTY,
    notTTYSchedule: 1000,
  });
  let started = false;
  const warned = new Set<string>();
  const warn = (warnings: string[] | undefined) => {
    for (const warning of warnings ?? []) {
      if (!warned.has(warning)) process.stderr.write(`\nwarning: ${warning}\n`);
      warned.add(warning);
    }
  };
  const outage = new OutageClock(outageMs);
  // The latest execution of the chain (a handle bound to one run id would stop at its continue-as-new).
  const latest = handle.client.getHandle(handle.workflowId);
  for (;;) {
    let closed = false;
    try {
      // The client retries an unreachable server by itself for a while: say so instead of a frozen bar.
      const description = await whileWaiting(latest.describe(), (ms) => {
        const line = `temporal not answering for ${(ms / 1000).toFixed(0)} s, retrying`;
        if (started) bar.update({ phase: line });
        else process.stderr.write(`${line}\n`);
      });
      closed = !['RUNNING', 'CONTINUED_AS_NEW'].includes(description.status.name);
      outage.reachable();
      if (!closed) {
        const progress = await latest.query<Progress>('progress').catch((err: Error) => err);
        if (progress instanceof Error) {
          if (started) bar.update({ phase: `progress query failed: ${progress.message.slice(0, 80)}` });
        } else {
          const payload = {
            reward: progress.last ? progress.last.meanReward.toFixed(3) : '-',
            success: progress.last ? (100 * progress.last.successRate).toFixed(1) : '-',
            version: progress.policyVersion,
            phase: progress.paused ? 'paused' : `${progress.phase}${retrying(description)}`,
          };
          if (!started) bar.start(progress.totalSteps, progress.step, payload);
          else bar.update(progress.step, payload);
          started = true;
          warn(progress.warnings);
        }
      }
    } catch (err) {
      const waiting = outage.unreachable(err);
      if (started) bar.update({ phase: waiting });
      else process.stderr.write(`${waiting}\n`);
    }
    if (closed) break;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  const final = await resultThroughOutages(handle, outage, pollMs).catch((err) => {
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
  warn(final.warnings);
  return final;
}

/** `promise`, calling `onStall` every few seconds while it is pending. */
async function whileWaiting<T>(promise: Promise<T>, onStall: (pendingMs: number) => void, everyMs = 3000): Promise<T> {
  const since = Date.now();
  const timer = setInterval(() => onStall(Date.now() - since), everyMs);
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

async function resultThroughOutages(handle: WorkflowHandle, outage: OutageClock, pollMs: number): Promise<TrainingRunResult> {
  for (;;) {
    try {
      return (await handle.result()) as TrainingRunResult;
    } catch (err) {
      process.stderr.write(`${outage.unreachable(err)}\n`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

/** How long Temporal has been unreachable; rethrows anything else, and an outage longer than the limit. */
class OutageClock {
  private since?: number;
  constructor(private readonly limitMs: number) {}

  reachable(): void {
    if (this.since !== undefined) process.stderr.write(`\ntemporal reachable again after ${((Date.now() - this.since) / 1000).toFixed(0)} s\n`);
    this.since = undefined;
  }

  /** The line to show while waiting. */
  unreachable(err: unknown): string {
    if (!isUnreachable(err)) throw err;
    this.since ??= Date.now();
    const seconds = (Date.now() - this.since) / 1000;
    const cause = (isGrpcServiceError(err) ? err : (err as Error).cause) as Error;
    if (seconds * 1000 > this.limitMs) throw new Error(`temporal unreachable for ${seconds.toFixed(0)} s, giving up watching (the run goes on): ${cause.message}`);
    return `temporal unreachable for ${seconds.toFixed(0)} s, retrying (${cause.message.slice(0, 60)})`;
  }
}

/** gRPC UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN (a connection dropped mid-call), CANCELLED. */
const UNREACHABLE_CODES = [14, 4, 2, 1];

/** A gRPC failure that says the server is away, not that the request is wrong. */
function isUnreachable(err: unknown): boolean {
  const grpc = isGrpcServiceError(err) ? err : isGrpcServiceError((err as Error | undefined)?.cause) ? ((err as Error).cause as { code: number }) : undefined;
  return grpc !== undefined && UNREACHABLE_CODES.includes(grpc.code);
}

/** " (retrying rolloutBatch: attempt 3, last error ...)" while an activity is being retried, else "". */
function retrying(description: WorkflowExecutionDescription): string {
  const pending = description.raw.pendingActivities?.find((a) => (a.attempt ?? 1) > 1);
  if (!pending) return '';
  const last = pending.lastFailure?.cause?.message ?? pending.lastFailure?.message ?? '';
  return ` (retrying ${pending.activityType?.name}: attempt ${pending.attempt}${last ? `, last error: ${last.slice(0, 80)}` : ''})`;
}

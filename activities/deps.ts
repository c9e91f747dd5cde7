/** What activities need from their worker: the database and the artifact store. */
import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../common/artifacts';
import type { Database } from '../db/client';
import type { StepRow } from '../db/queries';
import type { RecordStepInput } from './contract';

export interface ActivityDeps {
  db: Database;
  store: ArtifactStore;
}


/** Heartbeat when running as a Temporal activity; a no-op when the code is called in-process. */
export function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not inside an activity
  }
}

/** Sleep in small slices, heartbeating, so a long activity stays visibly alive and cancellable. */
export async function sleepWithHeartbeats(ms: number, details?: unknown): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    heartbeat(details);
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, end - Date.now())));
  }
}

/** The steps row of a recordStep: the workflow's metrics plus what the environment counted. */
export function stepRow(input: RecordStepInput, counts: { trajectories: number; tokens: number }, metrics: Record<string, unknown>): StepRow {
  const m = input.metrics;
  return {
    runId: input.runId,
    step: input.step,
    policyVersion: input.policyVersion,
    meanReward: m.meanReward,
    successRate: m.successRate,
    entropy: m.entropy,
    kl: m.kl,
    learningRate: m.learningRate,
    trajectories: counts.trajectories,
    tokens: counts.tokens,
    wallMs: Math.round(m.wallMs),
    metrics,
  };
}

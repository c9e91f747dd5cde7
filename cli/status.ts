/**
 * `ratchet status`'s run lines. Postgres says what each run recorded last; Temporal says what its workflow is
 * doing now: a running run's steps come from its progress query (the run row is written only at its start and
 * end), and a workflow that was terminated, cancelled or timed out (which no activity could record) is shown as
 * such. Errors from Temporal are printed, never dropped.
 */
import type { Client } from '@temporalio/client';
import type { Database } from '../db/client';
import { latestStepState, type listRuns } from '../db/queries';
import type { Progress } from '../workflows/training-run';

type RunRow = Awaited<ReturnType<typeof listRuns>>[number];

/** The lines for one run; `client` is undefined when Temporal is down. */
export async function runStatusLines(db: Database, run: RunRow, client: Client | undefined): Promise<string[]> {
  const total = (run.config as { steps?: number }).steps;
  const of = (n: number) => `steps ${n}${total !== undefined ? `/${total}` : ''}`;
  const head = `run ${run.runId}  ${run.env}/${run.algorithm}`;
  const notes: string[] = [];
  let status = run.status;
  let steps = of(run.stepsCompleted);

  if (run.status === 'running') {
    let progress: Progress | undefined;
    if (!client) notes.push('temporal is down: the workflow state is unknown');
    else {
      try {
        const description = await client.workflow.getHandle(run.workflowId).describe();
        const workflowStatus = description.status.name;
        if (workflowStatus !== 'RUNNING') status = `${workflowStatus.toLowerCase().replace(/_/g, '-')} (workflow ${run.workflowId}; ratchet resume ${run.runId} continues it)`;
        else {
          try {
            progress = await client.workflow.getHandle(run.workflowId).query<Progress>('progress');
          } catch (err) {
            notes.push(`progress query failed: ${(err as Error).message}`);
          }
        }
      } catch (err) {
        notes.push(`cannot describe workflow ${run.workflowId}: ${(err as Error).message}`);
      }
    }
    if (progress) {
      steps = `${of(progress.step)}  policy v${progress.policyVersion}  ${progress.paused ? 'paused' : progress.phase}`;
      notes.push(...(progress.warnings ?? []).map((w) => `warning: ${w}`));
    } else {
      // No live answer: the latest step row says how far it got.
      const latest = await latestStepState(db, run.runId);
      steps = `${of(latest ? latest.step + 1 : 0)} (from Postgres)`;
    }
  }
  const lines = [`${head}  ${status}  ${steps}`];
  if (run.error) lines.push(`    failed: ${run.error}`);
  lines.push(...notes.map((note) => `    ${note}`));
  return lines;
}

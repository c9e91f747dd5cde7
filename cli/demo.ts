/**
 * `ratchet demo` (= `npm start`): bring up Temporal, Postgres and the workers, train a small text agent
 * (examples/deepsearch-demo.json: a base built by SFT, then GRPO on deepsearch single-hop) with a progress bar,
 * and print its success before and after, the UI and the report command. `--bandit` runs the bandit fixture.
 */
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import { artifactKeys } from '../common/artifact-keys';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { sha256 } from '../common/artifacts';
import { openDatabase } from '../db/client';
import { listEvaluations, listSteps } from '../db/queries';
import { checkpoints } from '../db/schema';
import { dataDir } from '../infra/paths';
import { down, up } from '../infra/services';
import type { RunConfig } from '../config/run-config';
import type { PolicyRef } from '../activities/contract';
import { withClient } from './client';
import { RatchetRunId } from '../workflows/search-attributes';
import { loadRunConfig, startRun, watchRun, workflowIdFor } from './start';
import { deadWorkers, startWorkers } from './workers';

export const DEMO_CONFIGS = { agent: 'examples/deepsearch-demo.json', bandit: 'examples/bandit.json' } as const;

export interface DemoOptions {
  config?: string;
  bandit?: boolean;
  down?: boolean;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const file = options.config ?? (options.bandit ? DEMO_CONFIGS.bandit : DEMO_CONFIGS.agent);
  const prefix = (loadRunConfig(file).config.env as string) === 'bandit' ? 'bandit' : 'agent';
  const runId = `${prefix}-${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`;
  const { raw, config } = loadRunConfig(file, { runId });
  const stack = await up();
  startWorkers({ ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl });
  const started = Date.now();
  const result = await withClient(async (client) => {
    const handle = await startRun(client, raw, config);
    console.log(`run ${runId}: workflow ${handle.workflowId}; watch it at ${stack.uiUrl}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}`);
    if (config.env !== 'bandit') console.log(`building the base policy first (SFT, ${config.agent.base.sftSteps} steps), then ${config.steps} RL steps`);
    const watchdog = setInterval(() => {
      const dead = deadWorkers();
      if (dead.length) console.error(`\nworker(s) ${dead.join(', ')} exited; see .data/logs/worker-<pool>.log`);
    }, 5000);
    try {
      const finished = await watchRun(handle);
      // The base's own held-out score, so "before" is the same greedy evaluation as "after".
      if (config.env !== 'bandit' && finished.status === 'completed') await evaluateBase(client, stack.databaseUrl, raw, config);
      return finished;
    } finally {
      clearInterval(watchdog);
    }
  });
  const database = openDatabase(stack.databaseUrl, 1);
  const [rows, evaluations] = await Promise.all([listSteps(database.db, runId), listEvaluations(database.db, runId)]).finally(() => database.close());
  const window = Math.max(1, Math.min(5, Math.floor(rows.length / 3)));
  const mean = (xs: typeof rows, pick: (r: (typeof rows)[number]) => number) => xs.reduce((s, r) => s + pick(r), 0) / Math.max(1, xs.length);
  const [first, last] = [rows.slice(0, window), rows.slice(-window)];
  console.log(
    `run ${runId} ${result.status} in ${((Date.now() - started) / 60_000).toFixed(1)} min: ${result.steps} steps, policy v${result.policyVersion}; ` +
      `training reward ${mean(first, (r) => r.meanReward).toFixed(3)} -> ${mean(last, (r) => r.meanReward).toFixed(3)}, ` +
      `success ${pct(mean(first, (r) => r.successRate))} -> ${pct(mean(last, (r) => r.successRate))} (first ${window} steps -> last ${window})`,
  );
  const greedy = evaluations.filter((e) => e.mode === 'greedy');
  if (greedy.length >= 2) {
    const [before, after] = [greedy[0], greedy.at(-1)!];
    console.log(
      `held-out ${after.split} (${after.tasks} tasks, greedy): success ${pct(before.successRate)} (v${before.policyVersion}, step ${before.step}) -> ` +
        `${pct(after.successRate)} (v${after.policyVersion}, step ${after.step})`,
    );
  }
  console.log(`UI: ${stack.uiUrl} (filter: RatchetRunId="${runId}")`);
  console.log(`report: npm run ratchet -- report ${runId}   (writes ${join(dataDir(), 'reports', `${runId}.html`)})`);
  if (options.down) await down();
  else console.log('services and workers are still up: `npm run ratchet -- down` stops them');
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/**
 * Evaluates policy v0 (the SFT base) as the run's step-0 evaluation: the same evaluationRun workflow the run
 * starts for its later versions, so the row lands in Postgres beside them and the report charts it.
 */
async function evaluateBase(client: Client, url: string, raw: Record<string, unknown>, config: RunConfig): Promise<void> {
  const database = openDatabase(url, 1);
  const [base] = await database.db
    .select()
    .from(checkpoints)
    .where(and(eq(checkpoints.runId, config.runId), eq(checkpoints.version, 0)))
    .finally(() => database.close());
  if (!base) return;
  const key = artifactKeys.policy(config.runId, 0);
  const policy: PolicyRef = { version: 0, key, sha256: sha256(await artifactStoreFromEnv().get(key)), checkpoint: { key: base.artifactKey, sha256: base.sha256 } };
  console.log('evaluating the base policy (v0) on the same held-out tasks');
  const handle = await client.workflow.start('evaluationRun', {
    taskQueue: config.taskQueues.control,
    workflowId: `${workflowIdFor(config.runId)}/eval/step-0`,
    args: [{ config: raw, step: 0, policy }],
    typedSearchAttributes: [{ key: RatchetRunId, value: config.runId }],
  });
  await handle.result();
}

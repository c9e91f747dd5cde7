/**
 * What a user watching a run sees: `--watch` outlives a Temporal server that is away for 20 s (the run goes on
 * without the watcher), `ratchet status` shows a running run's live steps and a terminated run as terminated,
 * a run that cannot learn says so (progress query, current details, result), and each activity event carries
 * a summary naming its step. The outage test restarts a dev server of its own (SQLite file, its own port), so
 * the shared test server is never touched.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { getRun } from '../../db/queries';
import { sleep, stopByPidFile } from '../../infra/processes';
import { ensureDevServer, ensureTemporalCli } from '../../infra/temporal';
import { watchRun } from '../../cli/start';
import { runStatusLines } from '../../cli/status';
import type { Progress } from '../../workflows/training-run';
import { TEST_DIR } from './support/global-setup';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

const OWN_PORT = Number(process.env.RATCHET_TEST_TEMPORAL_PORT || 7244) + 17;

/** Capture what the CLI writes to stderr while `fn` runs (the bar's own output goes to stdout). */
async function withStderr<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const chunks: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { value: await fn(), stderr: chunks.join('') };
  } finally {
    process.stderr.write = original;
  }
}

describe('on the shared test server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  test('status shows a running run live, and a terminated run as terminated', async () => {
    const config = testConfig({ steps: 40, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 300 } });
    const workers = await runWorkers(h, config.taskQueues);
    try {
      const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
      await eventually('two steps', async () => ((await handle.query<Progress>('progress')).step >= 2 ? true : undefined), 60_000);
      const run = await getRun(h.database.db, config.runId);
      expect(run.stepsCompleted).toBe(0); // the row alone would say "steps 0"

      const live = (await runStatusLines(h.database.db, run, h.client)).join('\n');
      expect(live).toMatch(new RegExp(`^run ${config.runId}  bandit/grpo  running  steps ([2-9]|[1-3][0-9])/40  policy v\\d+`));
      const offline = (await runStatusLines(h.database.db, run, undefined)).join('\n');
      expect(offline).toMatch(/running  steps [1-9]\d*\/40 \(from Postgres\)\n    temporal is down: the workflow state is unknown/);

      await handle.terminate('status test');
      const terminated = (await runStatusLines(h.database.db, await getRun(h.database.db, config.runId), h.client)).join('\n');
      expect(terminated).toMatch(/  terminated \(workflow train-t-\w+; ratchet resume t-\w+ continues it\)  steps [1-9]\d*\/40 \(from Postgres\)/);
    } finally {
      await workers.stop();
    }
  });

  test('a run whose groups are all flat warns, and every activity names its step', async () => {
    // One sample per task: no group can have differing rewards.
    const config = testConfig({ steps: 3, groupSize: 1 });
    const workers = await runWorkers(h, config.taskQueues);
    try {
      const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
      const { value: result, stderr } = await withStderr(() => watchRun(handle, 100));
      expect(result.warnings).toEqual([expect.stringMatching(/^all groups flat for 3 steps: /)]);
      expect(stderr).toContain('warning: all groups flat for 3 steps');
      expect((await handle.query<Progress>('progress')).warnings).toEqual(result.warnings);
      const metadata = await handle.query(workflowMetadataQuery);
      expect(metadata.currentDetails).toContain(`**warning:** ${result.warnings![0]}`);

      const summaries = (await handle.fetchHistory()).events!
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => JSON.parse(Buffer.from(e.userMetadata!.summary!.data!).toString()) as string);
      expect(summaries).toContain('step 1/3 · rolloutBatch shard 1/2 · v0');
      expect(summaries).toContain('step 3/3 · updatePolicy · v2 → v3');
      expect(summaries).toContain('recordRun completed · 3/3 steps');
    } finally {
      await workers.stop();
    }
  });
});

describe('on a dev server of its own', () => {
  const dir = join(TEST_DIR, 'watch-outage');
  const files = { dbFile: join(dir, 'temporal.sqlite'), logFile: join(dir, 'temporal.log'), pidFile: join(dir, 'temporal.pid') };
  const startServer = async () => {
    const { reused } = await ensureDevServer({ cli: await ensureTemporalCli(), port: OWN_PORT, uiPort: OWN_PORT + 1000, headless: true, ...files });
    if (reused) throw new Error(`port ${OWN_PORT} already answers: not a server this test may restart`);
  };
  const saved = process.env.RATCHET_TEST_TEMPORAL_ADDRESS;
  let h: Harness;
  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await startServer();
    process.env.RATCHET_TEST_TEMPORAL_ADDRESS = `127.0.0.1:${OWN_PORT}`;
    h = await openHarness();
  });
  afterAll(async () => {
    process.env.RATCHET_TEST_TEMPORAL_ADDRESS = saved;
    await h?.close();
    await stopByPidFile(files.pidFile);
  });

  test('--watch waits out a 20 s Temporal outage and ends with the run', async () => {
    const config = testConfig({ steps: 8, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 500 } });
    const workers = await runWorkers(h, config.taskQueues);
    try {
      const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
      const { value: result, stderr } = await withStderr(async () => {
        const watching = watchRun(handle, 200);
        await eventually('the first step', async () => ((await handle.query<Progress>('progress')).step >= 1 ? true : undefined), 60_000);
        await stopByPidFile(files.pidFile);
        await sleep(20_000);
        await startServer();
        return watching;
      });
      expect(result).toMatchObject({ status: 'completed', steps: 8 });
      // The bar (on stderr) said why it stood still.
      expect(stderr).toMatch(/temporal (not answering|unreachable) for \d+ s/);
    } finally {
      await workers.stop();
    }
  }, 240_000);
});

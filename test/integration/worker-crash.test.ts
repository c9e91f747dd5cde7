/**
 * Durability: the cpu worker is a real child process, killed with SIGKILL in the middle of a rollout and
 * restarted. The run still completes, with exactly one step row per step and no duplicate trajectory rows.
 */
import { sql } from 'drizzle-orm';
import { listSteps } from '../../db/queries';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { startWorkerProcess, stopProcess } from './support/faults';
import { eventually, openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

const startCpuWorkerProcess = (queue: string) => startWorkerProcess(h, 'cpu', queue);
const kill = stopProcess;

test('SIGKILL of the cpu worker mid-rollout: the run completes with exact, duplicate-free rows', async () => {
  const steps = 5;
  const config = testConfig({
    steps,
    // Slow rollouts so the kill lands inside one; a short heartbeat timeout so the lost attempt is retried soon.
    bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 1500 },
    timeouts: { activityStartToClose: '30s', activityHeartbeat: '1s', retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
  });
  const workers = await runWorkers(h, config.taskQueues, ['control', 'gpu']);
  let cpu = await startCpuWorkerProcess(config.taskQueues.cpu);
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    await eventually(
      'a rollout in flight after step 1',
      async () => {
        const p = (await handle.query('progress')) as Progress;
        return p.step >= 1 && p.phase === 'rolloutBatch' ? true : undefined;
      },
      60_000,
      50,
    );
    await new Promise((r) => setTimeout(r, 300));
    await kill(cpu, 'SIGKILL');
    cpu = await startCpuWorkerProcess(config.taskQueues.cpu);

    const result = (await handle.result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps, policyVersion: steps });

    const rows = await listSteps(h.database.db, config.runId);
    expect(rows.map((r) => r.step)).toEqual([...Array(steps).keys()]);
    const [counts] = (
      await h.database.db.execute(
        sql`select count(*)::int as total, count(distinct (step, "group", sample))::int as distinct_rows from trajectories where run_id = ${config.runId}`,
      )
    ).rows as { total: number; distinct_rows: number }[];
    expect(counts).toEqual({ total: steps * config.tasksPerStep! * config.groupSize!, distinct_rows: steps * config.tasksPerStep! * config.groupSize! });

    // The kill really cost an attempt: some rollout ran more than once.
    const history = await handle.fetchHistory();
    const retried = history.events!.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    expect(retried.length).toBeGreaterThan(0);
  } finally {
    await kill(cpu, 'SIGTERM');
    await workers.stop();
  }
});

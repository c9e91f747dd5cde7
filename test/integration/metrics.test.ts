/**
 * Metrics and logs of real worker processes: the control, cpu and gpu pools run as their own processes with
 * RATCHET_METRICS_PORT set; /metrics is scraped over HTTP during and after a bandit run. The training gauges and
 * counters move with the steps, the Temporal SDK's metrics come through the same endpoint, and the activity log
 * lines are JSON with run, step, activity and attempt.
 */
import type { ChildProcess } from 'node:child_process';
import { SDK_ACTIVITY_METRICS, SDK_WORKFLOW_METRICS } from '../../workers/observability/sdk-metrics';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { startWorkerProcess, stopProcess } from './support/faults';
import { eventually, openHarness, testConfig, type Harness } from './support/harness';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

async function scrape(port: number) {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return parsePrometheusText(await response.text());
}

test('a run moves the training gauges and counters on /metrics, beside the SDK metrics; logs are JSON with run, step, activity, attempt', async () => {
  const steps = 6;
  const config = testConfig({ steps, bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 400 } });
  // A base port of our own: cpu serves base+1, gpu base+2, Core's exporters 1000 above those.
  const base = 30_000 + Math.floor(Math.random() * 20_000);
  const env = { RATCHET_METRICS_PORT: String(base), LOG_LEVEL: 'info' };
  const labels = { run: config.runId, env: 'bandit', algorithm: 'grpo' };
  const children: ChildProcess[] = [];
  try {
    children.push(await startWorkerProcess(h, 'control', config.taskQueues.control, env));
    const cpu = await startWorkerProcess(h, 'cpu', config.taskQueues.cpu, env);
    children.push(cpu);
    children.push(await startWorkerProcess(h, 'gpu', config.taskQueues.gpu, env));
    let cpuLog = '';
    cpu.stdout!.on('data', (chunk) => (cpuLog += chunk));

    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    // During the run: a step recorded, the run not finished yet.
    const during = await eventually(
      'a recorded step on /metrics while the run goes on',
      async () => {
        const samples = await scrape(base + 1);
        const step = sampleValue(samples, 'ratchet_step', labels);
        return step !== undefined && step >= 1 ? { step, samples } : undefined;
      },
      60_000,
      200,
    );
    expect(((await handle.query('progress')) as Progress).step).toBeLessThan(steps);
    expect(during.step).toBeLessThan(steps - 1);

    const result = (await handle.result()) as TrainingRunResult;
    expect(result).toMatchObject({ status: 'completed', steps, policyVersion: steps });

    const after = await scrape(base + 1);
    expect(sampleValue(after, 'ratchet_step', labels)).toBe(steps - 1);
    expect(sampleValue(after, 'ratchet_steps_recorded_total', labels)).toBe(steps);
    expect(sampleValue(after, 'ratchet_steps_recorded_total', labels)).toBeGreaterThan(sampleValue(during.samples, 'ratchet_steps_recorded_total', labels)!);
    expect(sampleValue(after, 'ratchet_trajectories_total', labels)).toBe(steps * config.tasksPerStep! * config.groupSize!);
    expect(sampleValue(after, 'ratchet_tokens_total', labels)).toBeGreaterThan(sampleValue(during.samples, 'ratchet_tokens_total', labels)!);
    expect(sampleValue(after, 'ratchet_tokens_per_second', labels)).toBeGreaterThan(0);
    expect(sampleValue(after, 'ratchet_policy_version', labels)).toBe(steps - 1);
    expect(sampleValue(after, 'ratchet_mean_reward', labels)).toBeGreaterThanOrEqual(0);
    expect(sampleValue(after, 'ratchet_success_rate', labels)).toBeGreaterThanOrEqual(0);
    // The rollouts sleep 400 ms each, in 2 shards at once: the phase gauge saw at least that.
    expect(sampleValue(after, 'ratchet_phase_seconds', { ...labels, phase: 'rolloutBatch' })).toBeGreaterThanOrEqual(0.4);
    expect(sampleValue(after, 'ratchet_phase_seconds_total', { ...labels, phase: 'rolloutBatch' })).toBeGreaterThanOrEqual(0.4 * steps);

    // The gpu worker's gauge follows updatePolicy: the last published version.
    const gpu = await scrape(base + 2);
    expect(sampleValue(gpu, 'ratchet_policy_version', labels)).toBe(steps);

    // The Temporal SDK's own metrics, through the same endpoint, tagged with the pool.
    const names = new Set(after.map((s) => s.name));
    for (const name of SDK_ACTIVITY_METRICS) expect({ name, present: names.has(name) || names.has(`${name}_bucket`) }).toEqual({ name, present: true });
    const control = await scrape(base);
    const controlNames = new Set(control.map((s) => s.name));
    for (const name of SDK_WORKFLOW_METRICS) expect({ name, present: controlNames.has(name) || controlNames.has(`${name}_bucket`) }).toEqual({ name, present: true });
    expect(after.some((s) => s.name === 'temporal_activity_execution_latency_count' && s.labels.activity_type === 'recordStep' && s.labels.pool === 'cpu')).toBe(true);

    // Structured logs: one JSON object a line, the activity lines carrying run, step, activity and attempt.
    const lines = cpuLog.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const recorded = lines.filter((l) => l.msg === 'activity completed' && l.activity === 'recordStep' && l.run === config.runId);
    expect(recorded.map((l) => l.step)).toEqual([...Array(steps).keys()]);
    expect(recorded[0]).toMatchObject({ pool: 'cpu', attempt: 1, level: 30, workflowId: `train-${config.runId}` });
    expect(typeof recorded[0].durationMs).toBe('number');
  } finally {
    for (const child of children) await stopProcess(child, 'SIGTERM');
  }
});

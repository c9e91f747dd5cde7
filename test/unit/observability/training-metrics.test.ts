import { TrainingMetrics, type StepObservation } from '../../../workers/observability/training-metrics';
import { parsePrometheusText, sampleValue } from '../../support/prometheus-text';

const labels = { run: 'r1', env: 'bandit', algorithm: 'grpo' };
const step = (n: number, extra: Partial<StepObservation> = {}): StepObservation => ({
  step: n,
  policyVersion: n,
  meanReward: 0.5,
  successRate: 0.25,
  tokens: 100,
  trajectories: 16,
  wallMs: 2000,
  phaseMs: { rolloutBatch: 1500, updatePolicy: 500 },
  ...extra,
});
const read = async (m: TrainingMetrics) => parsePrometheusText(await m.registry.metrics());

test('a recorded step sets the gauges and adds to the counters', async () => {
  const m = new TrainingMetrics(16, false);
  m.recordStep(labels, step(0));
  m.recordStep(labels, step(1, { meanReward: 0.75, tokens: 300, wallMs: 1000 }));
  const s = await read(m);
  expect(sampleValue(s, 'ratchet_step', labels)).toBe(1);
  expect(sampleValue(s, 'ratchet_mean_reward', labels)).toBe(0.75);
  expect(sampleValue(s, 'ratchet_success_rate', labels)).toBe(0.25);
  expect(sampleValue(s, 'ratchet_policy_version', labels)).toBe(1);
  expect(sampleValue(s, 'ratchet_steps_recorded_total', labels)).toBe(2);
  expect(sampleValue(s, 'ratchet_tokens_total', labels)).toBe(400);
  expect(sampleValue(s, 'ratchet_trajectories_total', labels)).toBe(32);
  expect(sampleValue(s, 'ratchet_tokens_per_second', labels)).toBe(300);
  expect(sampleValue(s, 'ratchet_step_wall_seconds', labels)).toBe(1);
  expect(sampleValue(s, 'ratchet_phase_seconds', { ...labels, phase: 'rolloutBatch' })).toBe(1.5);
  expect(sampleValue(s, 'ratchet_phase_seconds_total', { ...labels, phase: 'updatePolicy' })).toBe(1);
});

test('a step written again (a retried recordStep) updates the gauges but is not counted twice', async () => {
  const m = new TrainingMetrics(16, false);
  m.recordStep(labels, step(0));
  m.recordStep(labels, step(0, { meanReward: 0.9 }));
  const s = await read(m);
  expect(sampleValue(s, 'ratchet_steps_recorded_total', labels)).toBe(1);
  expect(sampleValue(s, 'ratchet_tokens_total', labels)).toBe(100);
  expect(sampleValue(s, 'ratchet_mean_reward', labels)).toBe(0.9);
});

test('updatePolicy moves the policy version gauge; a zero wall time gives 0 tokens/s, not Infinity', async () => {
  const m = new TrainingMetrics(16, false);
  m.recordStep(labels, step(0, { wallMs: 0 }));
  m.recordPolicyVersion(labels, 7);
  const s = await read(m);
  expect(sampleValue(s, 'ratchet_policy_version', labels)).toBe(7);
  expect(sampleValue(s, 'ratchet_tokens_per_second', labels)).toBe(0);
});

test('only the most recently active runs keep series: the oldest run is dropped when another starts', async () => {
  const m = new TrainingMetrics(2, false);
  const run = (id: string) => ({ ...labels, run: id });
  m.recordStep(run('a'), step(0));
  m.recordStep(run('b'), step(0));
  m.recordStep(run('a'), step(1)); // a is now the most recent
  m.recordStep(run('c'), step(0)); // drops b
  const runs = new Set((await read(m)).map((x) => x.labels.run));
  expect([...runs].sort()).toEqual(['a', 'c']);
  const s = await read(m);
  expect(sampleValue(s, 'ratchet_steps_recorded_total', run('a'))).toBe(2);
  expect(s.some((x) => x.name === 'ratchet_phase_seconds' && x.labels.run === 'b')).toBe(false);
});

test('names() lists every registered metric, the default process metrics included when asked for', async () => {
  expect(await new TrainingMetrics(16, false).names()).toEqual(expect.arrayContaining(['ratchet_step', 'ratchet_phase_seconds_total']));
  expect(await new TrainingMetrics(16, true).names()).toContain('process_cpu_seconds_total');
});

/**
 * Chaos, one injection per fault kind (bench/chaos.ts runs many seeded points per kind and prints the table).
 * The runs use services of their own (support/chaos-stack.ts: a persisted Temporal dev server, a Debian Postgres,
 * a PGlite server, an artifact tmpfs) because the faults restart and fill them. Each faulted run must complete
 * with the fault-free run's step and trajectory rows (none lost, none duplicated, same content) and the same final
 * checkpoint sha256; a corrupted checkpoint must instead fail the run non-retryably, by sha256, unloaded.
 * The points are fixed inside the slow phases (1.2 s rollouts and updates) so each fault really costs an attempt.
 */
import { join } from 'node:path';
import { ChaosStack } from './support/chaos-stack';
import { DEFAULT_CHAOS_SETTINGS, runBaseline, runChaosPoint, type Baseline, type ChaosKind, type ChaosOutcome, type ChaosPoint } from './support/chaos';
import { TEST_DIR } from './support/global-setup';

const settings = DEFAULT_CHAOS_SETTINGS;
let stack: ChaosStack;
let baseline: Baseline;

beforeAll(async () => {
  // Ports beside the suite's own services (RATCHET_TEST_*_PORT), so parallel suites with their own ports do not meet.
  const temporalPort = Number(process.env.RATCHET_CHAOS_TEMPORAL_PORT || Number(process.env.RATCHET_TEST_TEMPORAL_PORT || 7244) + 2);
  const postgresPort = Number(process.env.RATCHET_CHAOS_POSTGRES_PORT || Number(process.env.RATCHET_TEST_POSTGRES_PORT || 25432) + 1);
  const pglitePort = Number(process.env.RATCHET_CHAOS_PGLITE_PORT || 55321);
  stack = await ChaosStack.open({ dir: join(TEST_DIR, 'chaos'), temporalPort, postgresPort, pglitePort });
  baseline = await runBaseline(stack, settings);
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

/** The run completed with the baseline's rows and final checkpoint. */
function expectExact(outcome: ChaosOutcome): void {
  expect(outcome).toMatchObject({ fired: true, status: 'completed', lost: 0, duplicated: 0, differing: 0, extra: 0, checkpointEqual: true });
  expect(outcome.finalCheckpoint).toEqual(baseline.rows.finalCheckpoint);
}

const cases: { point: ChaosPoint; retried?: RegExp }[] = [
  { point: { kind: 'sigkill-cpu', step: 1, phase: 'rolloutBatch', delayMs: 300 }, retried: /^rolloutBatch@/ },
  { point: { kind: 'sigkill-gpu', step: 1, phase: 'updatePolicy', delayMs: 300 }, retried: /^updatePolicy@/ },
  // The workflow task after the rollouts waits on the dead worker's sticky queue until it times out.
  { point: { kind: 'sigkill-control', step: 1, phase: 'rolloutBatch', delayMs: 300 }, retried: /^workflowTask@timedOut/ },
  { point: { kind: 'sigstop-cpu', step: 1, phase: 'rolloutBatch', delayMs: 300 }, retried: /^rolloutBatch@/ },
  { point: { kind: 'restart-temporal', step: 1, phase: 'rolloutBatch', delayMs: 300 } },
  // Restarted while recordStep, its trajectory rows written, waits to write the step row (held by a lock).
  { point: { kind: 'restart-postgres', step: 1, phase: 'recordStep', delayMs: 0 }, retried: /^recordStep@/ },
  { point: { kind: 'restart-pglite', step: 1, phase: 'syncWeights', delayMs: 0 } },
  { point: { kind: 'disk-full', step: 1, phase: 'updatePolicy', delayMs: 300 }, retried: /^updatePolicy@/ },
];

test.each(cases)('$point.kind at step $point.step $point.phase: the run completes with exact rows and the same checkpoint', async ({ point, retried }) => {
  const outcome = await runChaosPoint(stack, baseline, point);
  expectExact(outcome);
  if (retried) expect(outcome.retries).toEqual(expect.arrayContaining([expect.stringMatching(retried)]));
  expect(outcome.recoveryMs).toBeGreaterThan(0);
}, 180_000);

test('corrupt-artifact: a corrupted policy checkpoint fails the run non-retryably by sha256 and is never loaded', async () => {
  const kind: ChaosKind = 'corrupt-artifact';
  const outcome = await runChaosPoint(stack, baseline, { kind, step: 2, phase: 'syncWeights', delayMs: 0 });
  expect(outcome).toMatchObject({ fired: true, status: 'failed', refusedCorruption: true, lost: 0, duplicated: 0, differing: 0, extra: 0 });
  expect(outcome.failure).toMatch(/ArtifactIntegrityError|CheckpointIntegrityError/);
  expect(outcome.failure).toMatch(/sha256 [0-9a-f]{64} does not match the expected [0-9a-f]{64}/);
  // The steps before the corrupted one stand, and nothing was trained from the corrupted bytes.
  expect(outcome.finalCheckpoint?.version).toBe(2);
}, 180_000);

/**
 * A durable LLM run whose rollouts go through an inference server (issue 31): SmolLM2 + LoRA on deepsearch with
 * `agent.policy.rollout: { engine: "openai", protocol: "ratchet" }`, the server a real `ratchet serve --await-run`
 * process over the test artifact store, which serves each version `<runId>@v<N>` as the torch worker publishes it.
 * The cpu worker is SIGKILLed mid-rollout: the run completes with the same trajectory rows and final adapter as an
 * uninterrupted run, every step's rollouts score the same log-probs in the trainer (the server samples with the same
 * engine on the same graph), and the server's log shows the completions calls the rollouts made. A server that does
 * not serve the run fails it at its first rollout attempt (InvalidRunConfig, not retried).
 */
import type { ChildProcess } from 'node:child_process';
import { listEvaluations } from '../../db/queries';
import { modelsDir } from '../../policy/llm/models';
import { pullModel } from '../../policy/llm/pull';
import { runUninterrupted, runWithFaults } from './support/faults';
import { openHarness, type Harness } from './support/harness';
import { startScript } from './support/cli';
import { removeSmolGraphs, smolDeepsearchConfig } from './support/llm';
import { expectExactAfterRolloutKill, expectTrainerLogProbsMatch } from './support/served-runs';

const PORT = Number(process.env.RATCHET_TEST_SERVED_RUN_PORT ?? 27321);
/** One step, then the final evaluation: version 0's rollouts and version 1's evaluation both go through the server. */
const STEPS = 1;

let h: Harness;
let server: ChildProcess | undefined;
let serverLog = '';

/** Run `fn` with `ratchet serve` up for `runId` (one run's versions at a time, as a user would serve them). */
async function withServe<T>(runId: string, fn: () => Promise<T>): Promise<T> {
  serverLog = '';
  server = await startServe(runId);
  try {
    return await fn();
  } finally {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
    server = undefined;
  }
}

/** `ratchet serve` before the run exists (--await-run); resolves once it listens. */
function startServe(runId: string): Promise<ChildProcess> {
  return startScript('cli/main.ts', ['serve', '--run', runId, '--await-run', '--port', String(PORT)], {
    ready: 'ratchet serve:',
    env: { RATCHET_ARTIFACTS_DIR: h.env.artifactsDir, RATCHET_MODELS_DIR: modelsDir() },
    onStderr: (text) => (serverLog += text),
  });
}

const servedConfig = () =>
  smolDeepsearchConfig({ rollout: { engine: 'openai', protocol: 'ratchet', servers: [{ baseUrl: `http://127.0.0.1:${PORT}/v1` }], concurrency: 4, timeoutMs: 600_000, maxRetries: 2 } }, STEPS);

beforeAll(async () => {
  await pullModel('smollm2-135m-instruct');
  h = await openHarness();
}, 180_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  if (h) removeSmolGraphs(h.env.artifactsDir);
  await h?.close();
});

test('rollouts through ratchet serve: SIGKILL of the cpu worker mid-rollout, exact rows, identical final adapter', async () => {
  const [baselineConfig, faultedConfig] = [servedConfig(), servedConfig()];
  const baseline = await withServe(baselineConfig.runId, () => runUninterrupted(h, baselineConfig, { gpu: 'torch' }));
  const faulted = await withServe(faultedConfig.runId, () =>
    runWithFaults(h, faultedConfig, [{ pool: 'cpu', phase: 'rolloutBatch', atStep: 0, delayMs: 2000, withinMs: 15 * 60_000 }], {}, { gpu: 'torch' }),
  );

  await expectExactAfterRolloutKill(h, baseline, faulted, STEPS);
  // The server sampled every step's rollouts with the trainer's weights.
  await expectTrainerLogProbsMatch(h, faulted.result.runId);
  const rollouts = STEPS * 2 * 2;
  expect(serverLog.match(/POST \/v1\/completions 200/g)?.length ?? 0).toBeGreaterThanOrEqual(2 * rollouts);
  // The final evaluation played version 1, synced after the update, through the server too.
  expect((await listEvaluations(h.database.db, faulted.result.runId)).map((e) => e.policyVersion)).toContain(STEPS);
}, 40 * 60_000);

test('a server that does not serve the run fails it at the first rollout attempt, saying why', async () => {
  const config = servedConfig();
  const failure = await withServe('some-other-run', () => runUninterrupted(h, config, { gpu: 'torch' }).catch((err: Error) => err));
  expect(failure).toBeInstanceOf(Error);
  const history = await h.client.workflow.getHandle(`train-${config.runId}`).fetchHistory();
  const rolloutAttempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
  expect(rolloutAttempts).toEqual([]);
  const failed = (history.events ?? []).find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes?.failure;
  expect(failed?.applicationFailureInfo?.type).toBe('InvalidRunConfig');
  expect(failed?.message).toMatch(/inference server http:\/\/127\.0\.0\.1:\d+\/v1 lists no model/);
}, 10 * 60_000);

/**
 * A durable run whose episodes come from an external agent through the gateway (issue 31): SmolLM2 + LoRA on
 * deepsearch with `agent.policy.rollout: { engine: "gateway" }`. Every part is its own process: `ratchet serve
 * --await-run` (the run's versions), `ratchet gateway` in front of it, the example agent
 * (examples/external-agent/agent.ts --work, the `openai` client) claiming and playing the run's episodes, and the
 * run's workers. In the faulted run the agent is SIGKILLed mid-episode (restarted; the gateway hands the episode out
 * again after its claim timeout) and the cpu worker is SIGKILLed while its rollout waits for the agent: the run
 * completes with the same trajectory rows and final adapter as an uninterrupted run, every rollout's recorded
 * log-probs match the trainer's, and the verifier's rewards equal the agent's own.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listEvaluations } from '../../db/queries';
import { modelsDir } from '../../policy/llm/models';
import { pullModel } from '../../policy/llm/pull';
import type { EpisodeSummary } from '../../serve/gateway-episodes';
import { runUninterrupted, runWithFaults, stopProcess } from './support/faults';
import { eventually, openHarness, type Harness } from './support/harness';
import { removeSmolGraphs, smolDeepsearchConfig } from './support/llm';
import { startScript } from './support/cli';
import { expectExactAfterRolloutKill, expectTrainerLogProbsMatch, trajectoryRows } from './support/served-runs';

const SERVE_PORT = Number(process.env.RATCHET_TEST_GATEWAY_RUN_PORT ?? 27331);
const GATEWAY_PORT = SERVE_PORT + 1;
const GATEWAY = `http://127.0.0.1:${GATEWAY_PORT}/v1`;
const STEPS = 1;

let h: Harness;
let gateway: ChildProcess | undefined;
const logs: Record<string, string> = { serve: '', gateway: '', agent: '' };

/** Start a script of the repo with the test store and models (resolving at its `ready` line, when given). */
const start = (name: keyof typeof logs, script: string, args: string[], ready?: string) =>
  startScript(script, args, { ready, env: { RATCHET_ARTIFACTS_DIR: h.env.artifactsDir, RATCHET_MODELS_DIR: modelsDir() }, onStderr: (text) => (logs[name] += text) });

const startAgent = () => start('agent', 'examples/external-agent/agent.ts', ['--gateway', GATEWAY, '--work']);

/** The run with `ratchet serve` for it and one agent up; `during` runs beside it (the agent is handed over). */
async function withServeAndAgent<T>(runId: string, run: () => Promise<T>, during?: (agent: { current: ChildProcess }) => Promise<void>): Promise<T> {
  const serve = await start('serve', 'cli/main.ts', ['serve', '--run', runId, '--await-run', '--port', String(SERVE_PORT)], 'ratchet serve:');
  const agent = { current: await startAgent() };
  try {
    const [result] = await Promise.all([run(), during?.(agent)]);
    return result;
  } finally {
    await stopProcess(agent.current, 'SIGKILL');
    await stopProcess(serve);
  }
}

const gatewayConfig = () => smolDeepsearchConfig({ rollout: { engine: 'gateway', url: GATEWAY, idleTimeoutMs: 600_000 } }, STEPS);

beforeAll(async () => {
  await pullModel('smollm2-135m-instruct');
  h = await openHarness();
  const out = join(mkdtempSync(join(tmpdir(), 'gateway-run-')), 'episodes.jsonl');
  // Upstream: the serve port; each run's `ratchet serve` comes and goes there, the gateway stays.
  gateway = await start('gateway', 'cli/main.ts', ['gateway', '--upstream', `http://127.0.0.1:${SERVE_PORT}/v1`, '--port', String(GATEWAY_PORT), '--out', out, '--claim-timeout', '10'], 'ratchet gateway:');
}, 180_000);

afterAll(async () => {
  if (gateway) await stopProcess(gateway);
  if (h) removeSmolGraphs(h.env.artifactsDir);
  await h?.close();
});

/** The gateway's episodes of a run's step-0 rollouts. */
async function stepEpisodes(runId: string): Promise<EpisodeSummary[]> {
  const { data } = (await fetch(`${GATEWAY}/episodes`).then((r) => r.json())) as { data: EpisodeSummary[] };
  return data.filter((e) => e.id.startsWith(`${runId}.s0.`));
}

test('episodes from an external agent: SIGKILL of the agent mid-episode and of the cpu worker mid-rollout, exact rows, identical final adapter', async () => {
  const [baselineConfig, faultedConfig] = [gatewayConfig(), gatewayConfig()];
  const baseline = await withServeAndAgent(baselineConfig.runId, () => runUninterrupted(h, baselineConfig, { gpu: 'torch' }));

  let agentKilledIn = '';
  const faulted = await withServeAndAgent(
    faultedConfig.runId,
    () => runWithFaults(h, faultedConfig, [{ pool: 'cpu', phase: 'rolloutBatch', atStep: 0, delayMs: 2000, withinMs: 15 * 60_000 }], {}, { gpu: 'torch' }),
    async (agent) => {
      // Kill the agent once an episode of step 0 has a call recorded and no reward yet; a new agent takes over.
      const halfPlayed = await eventually('an episode half played', async () => (await stepEpisodes(faultedConfig.runId)).find((e) => e.status === 'open' && e.turns >= 1), 15 * 60_000, 50);
      await stopProcess(agent.current, 'SIGKILL');
      agentKilledIn = halfPlayed.id;
      agent.current = await startAgent();
    },
  );

  await expectExactAfterRolloutKill(h, baseline, faulted, STEPS);

  // The killed attempt stayed unfinished; the same episode was played again under a new claim and finished.
  const episodes = await stepEpisodes(faultedConfig.runId);
  const base = agentKilledIn.split(':')[0];
  expect(episodes.filter((e) => e.id === agentKilledIn).map((e) => e.status)).toEqual(['open']);
  expect(episodes.filter((e) => e.id.startsWith(`${base}:`) && e.status === 'done')).toHaveLength(1);

  // The gateway recorded what the policy sampled: the trainer scores the same log-probs; the verifier agrees with the agent.
  await expectTrainerLogProbsMatch(h, faulted.result.runId);
  const agentRewards = new Map(episodes.filter((e) => e.status === 'done').map((e) => [e.id.split(':')[0], e.trajectory!.reward]));
  for (const row of await trajectoryRows(h, faulted.result.runId)) {
    expect(agentRewards.get(`${faultedConfig.runId}.s0.g${row.group}.n${row.sample}`)).toBe(row.reward);
  }
  // The final evaluation's episodes went through the gateway too, on version 1.
  expect((await listEvaluations(h.database.db, faulted.result.runId)).map((e) => e.policyVersion)).toContain(STEPS);
}, 40 * 60_000);

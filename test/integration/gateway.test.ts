/**
 * The gateway end to end, every part its own process: `ratchet serve` over an LLM version (SmolLM2-135M, the graph a
 * run's syncWeights publishes), `ratchet gateway` in front of it, and the example external agent
 * (examples/external-agent/agent.ts, the `openai` client) playing deepsearch episodes through the gateway. Each
 * recorded turn must hold the exact prompt IDs of the chat the agent sent (the model's template) and the token IDs
 * and log-probs the in-process engine samples for that prompt and the agent's seed (so what the upstream returned),
 * and each episode the reward the agent's verifier gave. Needs the Python venv (`npm run setup:python`) and the model:
 * skipped, saying so, without the venv. Ports 27311/27312 (RATCHET_TEST_GATEWAY_PORT overrides the first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConfig } from '../../activities/config-ref';
import { artifactKeys } from '../../common/artifact-keys';
import { LocalArtifactStore } from '../../common/artifacts';
import { parseRunConfig } from '../../config/run-config';
import { deepSearchChatPrompt } from '../../envs/deepsearch/chat-prompt';
import { dataDir, REPO_ROOT } from '../../infra/paths';
import { tsxCommand } from '../../infra/processes';
import { venvStatus } from '../../infra/python';
import { loadLlmPolicy, type LoadedLlmPolicy } from '../../policy/llm/llm-policy';
import { resolveModelRef } from '../../policy/llm/models';
import { loadLlmTokenizer } from '../../policy/llm/tokenizer';
import type { Trajectory } from '../../trainer/trajectory';
import { startScript } from './support/cli';

const NAME = 'smollm2-135m-instruct';
const RUN = 'gw-llm';
const SERVE_PORT = Number(process.env.RATCHET_TEST_GATEWAY_PORT ?? 27311);
const GATEWAY_PORT = SERVE_PORT + 1;
const EPISODES = 2;
const MAX_TOKENS = 32;

/** The fp32 graph test/unit/serve/llm-server.test.ts exports (the newest in the cache). */
function cachedGraph(): string | undefined {
  const dir = join(dataDir(), 'cache', 'llm-test');
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).filter((f) => f.startsWith(`${NAME}-fp32-`) && f.endsWith('.onnx') && !f.includes('.partial'));
  files.sort((a, b) => statSync(join(dir, b)).mtimeMs - statSync(join(dir, a)).mtimeMs);
  return files[0] && join(dir, files[0]);
}

/** Start a `ratchet` command and wait for the line starting with `ready`. */
const start = (args: string[], ready: string, env: NodeJS.ProcessEnv) => startScript('cli/main.ts', args, { ready, env });

function runAgent(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: full } = tsxCommand(join(REPO_ROOT, 'examples', 'external-agent', 'agent.ts'), args);
  const child = spawn(command, full, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const venv = venvStatus();
const graph = cachedGraph();
const ready = venv.ready && graph !== undefined;
if (!ready) console.warn(`skipping the gateway test: ${venv.ready ? 'no exported SmolLM2 graph (run test/unit/serve/llm-server.test.ts once)' : `no Python venv (${venv.reason})`}`);

(ready ? describe : describe.skip)('the gateway: an external agent plays deepsearch through it', () => {
  let dir: string;
  let serve: ChildProcess | undefined;
  let gateway: ChildProcess | undefined;
  let reference: LoadedLlmPolicy;
  const gatewayUrl = `http://127.0.0.1:${GATEWAY_PORT}/v1`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-'));
    const store = new LocalArtifactStore(dir);
    await storeConfig(store, parseRunConfig({ runId: RUN, env: 'deepsearch', steps: 1, agent: { policy: { kind: 'llm', model: NAME } } }));
    await store.put(artifactKeys.policy(RUN, 0), readFileSync(graph!));
    const model = resolveModelRef(NAME);
    reference = await loadLlmPolicy(graph!, model, loadLlmTokenizer(model));
    serve = await start(['serve', '--run', RUN, '--port', String(SERVE_PORT), '--threads', '1'], 'ratchet serve:', { RATCHET_ARTIFACTS_DIR: dir });
    gateway = await start(
      ['gateway', '--upstream', `http://127.0.0.1:${SERVE_PORT}/v1`, '--model', `${RUN}@v0`, '--port', String(GATEWAY_PORT), '--out', join(dir, 'episodes.jsonl')],
      'ratchet gateway:',
      {},
    );
  }, 600_000);

  afterAll(async () => {
    gateway?.kill('SIGTERM');
    serve?.kill('SIGTERM');
    await reference?.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('episodes become trajectories: exact prompt IDs, the sampled IDs and log-probs of the upstream, the posted reward', async () => {
    const agent = await runAgent(['--gateway', gatewayUrl, '--episodes', String(EPISODES), '--max-turns', '2', '--max-tokens', String(MAX_TOKENS), '--seed', '5', '--prefix', 'ep']);
    expect({ code: agent.code, stderr: agent.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
    const played = agent.stdout.trim().split('\n').map((l) => JSON.parse(l) as { episode: string; taskId: string; turns: number; reward: number });
    expect(played).toHaveLength(EPISODES);

    const lines = readFileSync(join(dir, 'episodes.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Trajectory & { episodeId: string });
    expect(lines.map((l) => l.episodeId)).toEqual(played.map((p) => p.episode));
    for (const [e, trajectory] of lines.entries()) {
      const listed = await fetch(`${gatewayUrl}/episodes/${trajectory.episodeId}`).then((r) => r.json() as Promise<{ status: string; trajectory: Trajectory }>);
      expect(listed.status).toBe('done');
      const { episodeId: _, ...row } = trajectory;
      expect(listed.trajectory).toEqual(row);
      expect(trajectory).toMatchObject({ taskId: played[e].taskId, policyVersion: 0, reward: played[e].reward, seed: 5 + e });
      expect(trajectory.turns).toHaveLength(played[e].turns);
      for (const [t, turn] of trajectory.turns.entries()) {
        // The prompt the agent's chat renders to, and what the engine samples for it with the agent's seed.
        const messages = JSON.parse(turn.context) as { role: string; content: string }[];
        expect(turn.promptTokens).toEqual(reference.tokenizer.encodeChat(messages, { addGenerationPrompt: true }));
        const [expected] = await reference.generate([turn.promptTokens], {
          temperature: 1,
          topP: 1,
          maxTokens: MAX_TOKENS,
          seed: 5 + e + t,
          stopStrings: [...deepSearchChatPrompt.actionStops],
        });
        expect(turn.actionTokens).toEqual(expected.tokens);
        expect(turn.sampleLogProbs).toEqual(expected.logProbs);
        expect(turn.action).toBe(expected.text);
      }
    }
  }, 600_000);

  test('the gateway refuses calls it cannot record, and a second reward', async () => {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${gatewayUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const chat = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
    expect((await post('/chat/completions', chat)).status).toBe(400); // no episode header
    expect((await post('/chat/completions', { ...chat, n: 2 }, { 'x-ratchet-episode': 'x1' })).status).toBe(400);
    expect((await post('/chat/completions', { ...chat, stream: true }, { 'x-ratchet-episode': 'x1' })).status).toBe(400);
    expect((await post('/episodes/never-called/reward', { reward: 1 })).status).toBe(404);
    expect((await post('/episodes/ep-0/reward', { reward: 1 })).status).toBe(409);
    expect((await post('/chat/completions', chat, { 'x-ratchet-episode': 'ep-0' })).status).toBe(409);
    expect((await post('/chat/completions', chat, { 'x-ratchet-episode': 'x1' })).status).toBe(200);
    expect((await post('/episodes/x1/reward', { reward: 'high' })).status).toBe(400);
    expect((await post('/episodes/x1/reward', { reward: 0.5 })).status).toBe(200);
  }, 300_000);
});

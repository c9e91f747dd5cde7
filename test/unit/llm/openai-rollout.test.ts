/**
 * An LLM rollout through the openai engine (policy/llm/served-policy.ts + trainer/llm-rollout.ts) against a real
 * local vLLM-protocol server (openai-test-server.ts) with SmolLM2's tokenizer: the version is loaded as a LoRA
 * adapter under its versioned name before the first request (and again after the server restarts), every request
 * names it, and each turn records the prompt IDs sent and the IDs and log-probs the server returned, cut at the
 * chat's end-of-turn token. Needs the model's exported tokenizer (`ratchet models pull`, which exports it with the
 * Python venv): skipped, saying so, without it.
 */
import { createDeepSearchEnvironment } from '../../../envs/deepsearch';
import type { OpenAiRollout } from '../../../policy/llm/openai-engine';
import { resolveModelRef } from '../../../policy/llm/models';
import { ServedPolicies } from '../../../policy/llm/served-policy';
import { loadLlmTokenizer, tokenizerIsCurrent } from '../../../policy/llm/tokenizer';
import { rolloutLlm } from '../../../trainer/llm-rollout';
import { TestOpenAiServer } from './openai-test-server';

const PORT = 27316;
const NAME = 'smollm2-135m-instruct';

function tokenizerReady(): boolean {
  try {
    return tokenizerIsCurrent(resolveModelRef(NAME));
  } catch {
    return false;
  }
}
const ready = tokenizerReady();
if (!ready) console.warn(`skipping the openai engine rollout test: no exported ${NAME} tokenizer (run \`npm run ratchet -- models pull ${NAME}\`)`);

(ready ? describe : describe.skip)('an LLM rollout through an inference server', () => {
  let server: TestOpenAiServer;
  afterAll(() => server?.stop());

  test('syncs the version, requests it by name, and records the exact IDs and log-probs', async () => {
    const tokenizer = loadLlmTokenizer(resolveModelRef(NAME));
    const endOfTurn = tokenizer.stopIds[0];
    const action = tokenizer.encode('search[moon]');
    // The reply runs past the end of turn (a server that ignores stop_token_ids): the rollout cuts it there.
    const reply = [...action, endOfTurn, ...tokenizer.encode(' junk')];
    server = new TestOpenAiServer(PORT, { models: ['smol-base'], loraRoutes: true, reply: () => ({ tokens: reply, logProbs: reply.map((_, i) => -0.05 * (i + 1)) }) });
    await server.start();
    const settings: OpenAiRollout = {
      engine: 'openai',
      protocol: 'vllm',
      servers: [{ baseUrl: server.baseUrl }],
      concurrency: 2,
      timeoutMs: 10_000,
      maxRetries: 1,
      keepVersions: 2,
      adapterPath: '/adapters/{run}/v{version}',
    };
    const served = new ServedPolicies();
    const policy = await served.get(settings, NAME, 'run-x', 1, { atRunStart: true });
    expect([...server.adapters.entries()]).toEqual([['run-x@v1', '/adapters/run-x/v1']]);

    const env = createDeepSearchEnvironment({ seed: 3, passages: 400, cacheDir: null, questions: { sizes: { single: { train: 3, dev: 1, test: 1 }, multi: { train: 1, dev: 1, test: 1 } } } });
    const tasks = env.tasks('single/train').slice(0, 3);
    const specs = tasks.map((t, i) => ({ taskId: t.id, group: i, sample: 0, seed: 100 + i }));
    const probes = server.completions().length;
    const trajectories = await rolloutLlm(env, policy, specs, { temperature: 1, topP: 1, maxActionTokens: 24, maxTurns: 2, policyVersion: 1 });
    const requests = server.completions().slice(probes);
    expect(requests.map((r) => r.model)).toEqual(requests.map(() => 'run-x@v1'));
    const turns = trajectories.flatMap((t) => t.turns);
    expect(turns.length).toBe(requests.length);
    expect(turns.length).toBeGreaterThanOrEqual(3);
    const sentPrompts = requests.map((r) => JSON.stringify(r.prompt));
    for (const turn of turns) {
      expect(turn.actionTokens).toEqual([...action, endOfTurn]);
      expect(turn.sampleLogProbs).toEqual(turn.actionTokens.map((_, i) => -0.05 * (i + 1)));
      expect(turn.action).toBe('search[moon]');
      expect(sentPrompts).toContain(JSON.stringify(turn.promptTokens));
    }
    expect(requests.every((r) => r.max_tokens === 24 && r.return_token_ids === true && JSON.stringify(r.stop_token_ids) === JSON.stringify(tokenizer.stopIds))).toBe(true);

    // A restarted server forgot its adapters: the next rollout's sync loads the version again.
    server.restart();
    await served.get(settings, NAME, 'run-x', 1, { atRunStart: false });
    expect([...server.adapters.keys()]).toEqual(['run-x@v1']);
  }, 60_000);
});

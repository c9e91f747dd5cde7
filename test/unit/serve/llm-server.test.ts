/**
 * `ratchet serve` over an LLM policy version (SmolLM2-135M fp32, the graph a run's syncWeights publishes), in process
 * on a real port: the kind and model come from the run's stored config; a chat is rendered with the model's template
 * and answered with the IDs and log-probs the in-process engine samples for the same prompt and seed; a completion of
 * token IDs likewise. Needs the Python venv (`npm run setup:python`) for the graph export and the tokenizer, and the
 * model (pulled when absent): skipped, saying so, without the venv. The graph is exported once into
 * .data/cache/llm-test/, under the name test/unit/llm/ort-engine.test.ts gives it (the same file is reused).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConfig } from '../../../activities/config-ref';
import { artifactKeys } from '../../../common/artifact-keys';
import { LocalArtifactStore } from '../../../common/artifacts';
import { parseRunConfig } from '../../../config/run-config';
import { dataDir, REPO_ROOT } from '../../../infra/paths';
import { runWorkerModule, venvStatus } from '../../../infra/python';
import { loadLlmPolicy, type LoadedLlmPolicy } from '../../../policy/llm/llm-policy';
import { registeredModel, resolveModelRef } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { loadLlmTokenizer } from '../../../policy/llm/tokenizer';
import { ServedModels } from '../../../serve/models';
import { PolicyStore } from '../../../serve/policy-store';
import { startServer, type RunningServer } from '../../../serve/server';

const NAME = 'smollm2-135m-instruct';
const RUN = 'llm-serve';
const EXPORTER = ['bench_engines.py', 'sync.py'].map((f) => join(REPO_ROOT, 'workers/torch/ratchet_torch', f));

/** The cached fp32 export of the model (ort-engine.test.ts's file name: the model's sha256 and the exporter's source). */
function exportedGraph(gguf: string): string {
  const hash = createHash('sha256').update(registeredModel(NAME)!.sha256);
  for (const file of EXPORTER.filter((f) => existsSync(f))) hash.update(readFileSync(file));
  const dir = join(dataDir(), 'cache', 'llm-test');
  const file = join(dir, `${NAME}-fp32-${hash.digest('hex').slice(0, 16)}.onnx`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.${process.pid}.partial.onnx`;
  runWorkerModule('ratchet_torch.bench_engines', ['export-onnx', '--gguf', gguf, '--out', partial], { purpose: 'the ratchet serve LLM test' });
  renameSync(partial, file);
  return file;
}

const venv = venvStatus();
if (!venv.ready) console.warn(`skipping the ratchet serve LLM tests: no Python venv (${venv.reason}); run \`npm run setup:python\` to enable them`);

(venv.ready ? describe : describe.skip)('ratchet serve over an LLM policy (SmolLM2-135M)', () => {
  let dir: string;
  let server: RunningServer;
  let reference: LoadedLlmPolicy;

  beforeAll(async () => {
    const graph = exportedGraph((await pullModel(NAME)).path);
    const model = resolveModelRef(NAME);
    reference = await loadLlmPolicy(graph, model, loadLlmTokenizer(model));
    dir = mkdtempSync(join(tmpdir(), 'serve-llm-'));
    const store = new LocalArtifactStore(dir);
    // What a durable llm run leaves in the store: its config (recordRun) and version 0's graph (syncWeights).
    await storeConfig(store, parseRunConfig({ runId: RUN, env: 'deepsearch', steps: 1, agent: { policy: { kind: 'llm', model: NAME } } }));
    await store.put(artifactKeys.policy(RUN, 0), readFileSync(graph));
    const policies = new PolicyStore(store);
    server = await startServer({ models: new ServedModels(policies, RUN), policies }, { port: 0 });
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await reference?.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

  test('a chat through the model template: the engine\'s IDs and log-probs, top_logprobs of the same distribution', async () => {
    const messages = [{ role: 'user', content: 'What is the capital of France?' }];
    const { status, json } = await post('/v1/chat/completions', { model: RUN, messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 3, return_token_ids: true });
    expect(status).toBe(200);
    const prompt = reference.tokenizer.encodeChat(messages, { addGenerationPrompt: true });
    const [expected] = await reference.generate([prompt], { temperature: 0, topP: 1, maxTokens: 16, seed: 0 });
    expect(json.prompt_token_ids).toEqual(prompt);
    const [choice] = json.choices;
    expect(choice.token_ids).toEqual(expected.tokens);
    expect(choice.message).toMatchObject({ role: 'assistant', content: expected.text });
    expect(choice.message.content).toContain('Paris');
    const content = choice.logprobs.content as { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }[];
    expect(content.map((c) => c.logprob)).toEqual(expected.logProbs);
    for (const [i, c] of content.entries()) {
      // Greedy: the most likely token is the sampled one, and the replay's log-prob of it agrees with the sampler's.
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.top_logprobs[0].token).toBe(reference.tokenizer.decode([expected.tokens[i]]));
      expect(Math.abs(c.top_logprobs[0].logprob - c.logprob)).toBeLessThan(1e-3);
    }
  }, 300_000);

  test('a sampled completion of token IDs equals the in-process sample for the seed', async () => {
    const prompt = reference.tokenizer.encodeChat([{ role: 'user', content: 'Name a colour.' }], { addGenerationPrompt: true });
    const { json } = await post('/v1/completions', { model: `${RUN}@v0`, prompt, max_tokens: 8, temperature: 0.7, seed: 3, logprobs: 0, return_token_ids: true });
    const [expected] = await reference.generate([prompt], { temperature: 0.7, topP: 1, maxTokens: 8, seed: 3 });
    const [choice] = json.choices;
    expect(choice.token_ids).toEqual(expected.tokens);
    expect(choice.prompt_token_ids).toEqual(prompt);
    expect(choice.logprobs.token_logprobs).toEqual(expected.logProbs);
  }, 300_000);
});

/**
 * The LLM policy's rollout side (issue 27) on the real SmolLM2-135M: policy/llm/ort-engine.ts sampling from the
 * fp32 ONNX graph, and trainer/llm-rollout.ts running deepsearch episodes through the chat template.
 *
 * - greedy decoding answers "What is the capital of France?" with Paris;
 * - per-token log-probs (a sampled reply's, as the KV-cache decode returns them, and a teacher-forced expert
 *   action's) agree with transformers fp32 (ratchet_torch.bench_engines reference: the trainer's numerics);
 * - left-padded batches: each row's seeded sample is the one it gets alone, also when the batch's shared prompt
 *   prefix is prefilled once;
 * - a rollout records the exact IDs it fed the model: promptTokens = the tokenizer's encoding of the rendered chat;
 * - evaluatePolicy plays an LLM policy; LlmPolicyCache loads versions from artifact bytes and evicts safely.
 * The stop rules of the shared sampler (policy/generate.ts generateBatch) are checked first on a scripted decoder,
 * which needs nothing.
 *
 * The graph is exported once into .data/cache/llm-test/ (~650 MB, ~15 s; named by the model's sha256 and the
 * exporter's source, so a changed exporter exports again) and reused. Needs the Python venv (`npm run
 * setup:python`) and the model (pulled here when absent): skipped, saying so, without the venv.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createDeepSearchEnvironment } from '../../../envs/deepsearch';
import { deepSearchChatPrompt } from '../../../envs/deepsearch/chat-prompt';
import { dataDir, REPO_ROOT } from '../../../infra/paths';
import { runWorkerModule, venvStatus } from '../../../infra/python';
import { generateBatch, type GenerateProgress, type KvDecoder } from '../../../policy/generate';
import { chatMessages } from '../../../policy/llm/chat-episode';
import { llmModelFacts, loadLlmPolicy, LlmPolicyCache, type LoadedLlmPolicy } from '../../../policy/llm/llm-policy';
import { registeredModel, resolveModelRef } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { loadLlmTokenizer } from '../../../policy/llm/tokenizer';
import type { ArtifactStore } from '../../../common/artifacts';
import { evaluatePolicy } from '../../../trainer/evaluate';
import { chatPromptFor, llmPromptTokens, llmRollout, rolloutLlm } from '../../../trainer/llm-rollout';

const NAME = 'smollm2-135m-instruct';
/** The exporter's source files (its CLI is bench_engines; the export itself may live in sync.py). */
const EXPORTER = ['bench_engines.py', 'sync.py'].map((f) => join(REPO_ROOT, 'workers/torch/ratchet_torch', f));

/**
 * A scripted KvDecoder: prompt [r] makes row r emit SCRIPTS[r] token by token (logits peaked on the next one). Its
 * cache [B,1,1,2] holds (row, step), so dropping and joining rows is exercised as with a real graph.
 */
const VOCAB = ['\n', 'a', 'b', '<end>', ' '];
const SCRIPTS = [
  [0, 1, 2, 0, 1, 1],
  [4, 1, 3, 1],
  [1, 1, 1, 1, 1, 1, 1, 1],
];
const scripted: KvDecoder = {
  vocabSize: VOCAB.length,
  contextLength: 64,
  prefillRows: () => 2,
  run: async (ids, _mask, _positions, B, T, cache) => {
    const state = cache ? Array.from(cache[0].data as Float32Array) : Array.from({ length: B }, (_, b) => [ids[b * T + T - 1], -1]).flat();
    const logits = new Float32Array(B * VOCAB.length);
    const next = new Float32Array(B * 2);
    for (let b = 0; b < B; b++) {
      const [row, step] = [state[2 * b], state[2 * b + 1] + 1];
      logits[b * VOCAB.length + SCRIPTS[row][step]] = 20;
      next.set([row, step], 2 * b);
    }
    return { logits, cache: [new ort.Tensor('float32', next, [B, 1, 1, 2])] };
  },
};
const detokenizer = { decode: (ids: readonly number[]) => ids.map((i) => VOCAB[i]).join('') };

describe('generateBatch (a scripted decoder)', () => {
  const opts = { temperature: 0, topP: 1, maxTokens: 6, seed: 0, stopTokens: [3] };

  test('a stop token ends a row and stays out of the text; maxTokens ends one with "length"', async () => {
    const [, stopped, long] = await generateBatch(scripted, [[0], [1], [2]], opts, detokenizer);
    expect(stopped).toMatchObject({ tokens: [4, 1, 3], text: ' a', finishReason: 'stop' });
    expect(long).toMatchObject({ tokens: [1, 1, 1, 1, 1, 1], text: 'aaaaaa', finishReason: 'length' });
  });

  test("stop strings end the text after the first; with stopsAfterLeadingBlank, not in the reply's leading blank", async () => {
    const [plain] = await generateBatch(scripted, [[0], [1]], { ...opts, stopStrings: ['\n'] }, detokenizer);
    expect(plain).toMatchObject({ tokens: [0], text: '\n', finishReason: 'stop' });
    const [late] = await generateBatch(scripted, [[0], [1]], { ...opts, stopStrings: ['\n'], stopsAfterLeadingBlank: true }, detokenizer);
    expect(late).toMatchObject({ tokens: [0, 1, 2, 0], text: '\nab\n', finishReason: 'stop' });
  });

  test('maxRows bounds the rows that decode together: consecutive batches, the same replies, the slots it is asked about', async () => {
    const asked: number[] = [];
    const rows: number[] = [];
    const bounded: KvDecoder = {
      ...scripted,
      maxRows: (slots) => (asked.push(slots), 2),
      run: (ids, mask, positions, B, T, cache) => (rows.push(B), scripted.run(ids, mask, positions, B, T, cache)),
    };
    const sampled = { ...opts, temperature: 1 };
    const all = await generateBatch(scripted, [[0], [1], [2]], sampled, detokenizer);
    expect(await generateBatch(bounded, [[0], [1], [2]], sampled, detokenizer)).toEqual(all);
    expect(asked[0]).toBe(1 + opts.maxTokens); // the longest prompt plus the longest reply
    expect(Math.max(...rows)).toBe(2);
  });

  test('onProgress fires after every prefill run and every decode step; an exception it throws ends the generation', async () => {
    const events: GenerateProgress[] = [];
    const out = await generateBatch(scripted, [[0], [1], [2]], { ...opts, onProgress: (p) => events.push(p) }, detokenizer);
    expect(out.map((g) => g.tokens.length)).toEqual([6, 3, 6]);
    // Two prefill runs (prefillRows 2), then one decode step per token after the first: row 1 stops at its third.
    expect(events).toEqual([
      { stage: 'prefill', rows: 2, total: 3 },
      { stage: 'prefill', rows: 3, total: 3 },
      ...[3, 3, 2, 2, 2].map((running, i) => ({ stage: 'decode', step: i + 1, running })),
    ]);
    const cancelled = new Error('cancelled');
    let calls = 0;
    const onProgress = (p: GenerateProgress) => {
      if (p.stage === 'decode' && ++calls === 2) throw cancelled;
    };
    await expect(generateBatch(scripted, [[0], [1], [2]], { ...opts, onProgress }, detokenizer)).rejects.toBe(cancelled);
    expect(calls).toBe(2);
  });
});

const venv = venvStatus();
if (!venv.ready) console.warn(`skipping the LLM ORT engine tests: no Python venv (${venv.reason}); run \`npm run setup:python\` to enable them`);

/** The cached export of the model's fp32 graph, made when absent. */
function exportedGraph(gguf: string): string {
  const hash = createHash('sha256').update(registeredModel(NAME)!.sha256);
  for (const file of EXPORTER.filter((f) => existsSync(f))) hash.update(readFileSync(file));
  const source = hash.digest('hex').slice(0, 16);
  const dir = join(dataDir(), 'cache', 'llm-test');
  const file = join(dir, `${NAME}-fp32-${source}.onnx`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir).filter((f) => f.startsWith(`${NAME}-fp32-`))) rmSync(join(dir, old), { force: true });
  const partial = `${file}.${process.pid}.partial.onnx`;
  runWorkerModule('ratchet_torch.bench_engines', ['export-onnx', '--gguf', gguf, '--out', partial], { purpose: 'the LLM ORT engine test' });
  renameSync(partial, file);
  return file;
}

(venv.ready ? describe : describe.skip)('LLM rollouts on onnxruntime-node (SmolLM2-135M fp32)', () => {
  let gguf: string;
  let graph: string;
  let policy: LoadedLlmPolicy;

  beforeAll(async () => {
    gguf = (await pullModel(NAME)).path;
    const model = resolveModelRef(NAME);
    const tokenizer = loadLlmTokenizer(model);
    graph = exportedGraph(gguf);
    const started = Date.now();
    policy = await loadLlmPolicy(graph, model, tokenizer);
    console.log(`ONNX graph loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 300_000);
  afterAll(() => policy?.release());

  const ask = (question: string) => policy.tokenizer.encodeChat([{ role: 'user', content: question }], { addGenerationPrompt: true });

  test('the graph gives its shape; the model its window', () => {
    expect([policy.engine.layers, policy.engine.kvHeads, policy.engine.headDim, policy.engine.vocabSize]).toEqual([30, 3, 64, 49_152]);
    expect(llmModelFacts(resolveModelRef(NAME))).toEqual({ contextLength: 8192, attentionHeads: 9 });
    expect(policy.contextLength).toBe(8192);
  });

  test('greedy: the capital of France is Paris, and the end-of-turn token ends the reply', async () => {
    const [g] = await policy.generate([ask('What is the capital of France?')], { temperature: 0, topP: 1, maxTokens: 24, seed: 0 });
    expect(g.text).toContain('Paris');
    expect(g.finishReason).toBe('stop');
    expect(g.tokens.at(-1)).toBe(policy.tokenizer.tokenToId('<|im_end|>'));
    expect(g.text).not.toContain('<|im_end|>');
    expect(g.text).toBe(policy.tokenizer.decode(g.tokens.slice(0, -1)));
    expect(g.logProbs).toHaveLength(g.tokens.length);
  });

  test('a stop string ends the reply after it; the text is cut there, the tokens are what was sampled', async () => {
    const [g] = await policy.generate([ask('What is the capital of France?')], { temperature: 0, topP: 1, maxTokens: 24, seed: 0, stopStrings: [' France'] });
    expect(g.finishReason).toBe('stop');
    expect(g.text).toBe('The capital of France');
    expect(policy.tokenizer.decode(g.tokens).startsWith(g.text)).toBe(true);
  });

  test('a batch of prompts of different lengths samples each row as it samples it alone', async () => {
    const prompts = ['Name a color.', 'What is the capital of France?', 'Write one short sentence about the sea and the sky, please.'].map(ask);
    expect(new Set(prompts.map((p) => p.length)).size).toBe(3);
    const opts = { temperature: 1, topP: 0.95, maxTokens: 12, seed: 5 };
    const batch = await policy.generate(prompts, opts);
    for (const [i, prompt] of prompts.entries()) {
      const [alone] = await policy.generate([prompt], { ...opts, streams: [i] });
      expect(alone.tokens).toEqual(batch[i].tokens);
      alone.logProbs.forEach((lp, t) => expect(Math.abs(lp - batch[i].logProbs[t])).toBeLessThan(1e-4));
    }
  }, 120_000);

  test('prompts sharing a long prefix (system + examples) prefill it once as one row, and sample as they would alone', async () => {
    const env = createDeepSearchEnvironment({ seed: 3, passages: 400, cacheDir: null, questions: { sizes: { single: { train: 3, dev: 1, test: 1 }, multi: { train: 1, dev: 1, test: 1 } } } });
    const prompts = env.tasks('single/train').map((t) => llmPromptTokens(policy, deepSearchChatPrompt, env.createEpisode(t.id, 0), 2));
    const runs: { B: number; T: number; past: number }[] = [];
    const engine = policy.engine;
    const spy: KvDecoder = {
      vocabSize: engine.vocabSize,
      contextLength: engine.contextLength,
      minSharedPrefix: engine.minSharedPrefix,
      prefillRows: (width, past) => engine.prefillRows(width, past),
      run: (ids, mask, positions, B, T, cache) => {
        runs.push({ B, T, past: cache?.[0].dims[2] ?? 0 });
        return engine.run(ids, mask, positions, B, T, cache);
      },
    };
    const opts = { temperature: 1, topP: 1, maxTokens: 10, seed: 9, stopTokens: [...policy.tokenizer.stopIds] };
    const batch = await generateBatch(spy, prompts, opts, policy.tokenizer);
    let shared = 0;
    while (prompts.every((p) => p[shared] === prompts[0][shared])) shared++;
    expect(shared).toBeGreaterThan(500); // the system message and two examples
    const longest = Math.max(...prompts.map((p) => p.length));
    expect(runs.slice(0, 2)).toEqual([{ B: 1, T: shared, past: 0 }, { B: 3, T: longest - shared, past: shared }]);
    for (const [i, prompt] of prompts.entries()) {
      const [alone] = await policy.generate([prompt], { ...opts, streams: [i] });
      expect(alone.tokens).toEqual(batch[i].tokens);
      alone.logProbs.forEach((lp, t) => expect(Math.abs(lp - batch[i].logProbs[t])).toBeLessThan(1e-4));
    }
  }, 180_000);

  test('log-probs agree with transformers fp32: a sampled reply (KV-cache decode) and a teacher-forced expert action', async () => {
    const env = createDeepSearchEnvironment({ seed: 3, passages: 400, cacheDir: null, questions: { sizes: { single: { train: 4, dev: 1, test: 1 }, multi: { train: 1, dev: 1, test: 1 } } } });
    const task = env.tasks('single/train')[0];
    const episode = env.createEpisode(task.id, 0);
    const prompt = policy.tokenizer.encodeChat(chatMessages(deepSearchChatPrompt, episode), { addGenerationPrompt: true });
    const action = env.expert(task.id, { noise: 0, seed: 0 }).act(episode);
    const forced = [...policy.tokenizer.encode(action), policy.tokenizer.eosId!];
    const question = ask('Tell me about the moon.');
    const sampled = await policy.generate([prompt, question], { temperature: 1, topP: 1, maxTokens: 24, seed: 11, stopStrings: [...deepSearchChatPrompt.actionStops] });
    const sequences = [
      { prompt, continuation: sampled[0].tokens },
      { prompt: question, continuation: sampled[1].tokens },
      { prompt, continuation: forced },
    ];
    const ours = [sampled[0].logProbs, sampled[1].logProbs, await policy.engine.logProbs(prompt, forced)];
    const reference = JSON.parse(
      runWorkerModule('ratchet_torch.bench_engines', ['reference', '--gguf', gguf], { purpose: 'the LLM ORT engine test', input: JSON.stringify({ sequences }) }).trim().split('\n').pop()!,
    ) as { logprobs: number[][] };
    const diffs = ours.flatMap((row, i) => row.map((lp, t) => Math.abs(lp - reference.logprobs[i][t])));
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    console.log(`log-prob mismatch vs transformers fp32: mean |d| ${mean.toExponential(2)}, max ${Math.max(...diffs).toExponential(2)} over ${diffs.length} tokens`);
    expect(diffs.length).toBeGreaterThan(20);
    expect(mean).toBeLessThanOrEqual(1e-3);
  }, 180_000);

  test('a deepsearch rollout records the encoded chat as promptTokens, and the sampled IDs as actionTokens', async () => {
    const env = createDeepSearchEnvironment({ seed: 3, passages: 400, cacheDir: null, questions: { sizes: { single: { train: 4, dev: 1, test: 1 }, multi: { train: 1, dev: 1, test: 1 } } } });
    const tasks = env.tasks('single/train').slice(0, 2);
    const specs = tasks.map((t, i) => ({ taskId: t.id, group: i, sample: 0, seed: 100 + i }));
    const heartbeats: number[] = [];
    const progress: GenerateProgress[] = [];
    const prompt = chatPromptFor(env.name);
    const opts = {
      ...{ temperature: 1, topP: 1, maxActionTokens: 16, maxTurns: 2, policyVersion: 3, shots: 1 },
      onTurn: (turn: number) => heartbeats.push(turn),
      onProgress: (p: GenerateProgress) => progress.push(p),
    };
    const trajectories = await rolloutLlm(env, policy, specs, opts);
    expect(trajectories.map((t) => [t.taskId, t.policyVersion])).toEqual(tasks.map((t) => [t.id, 3]));
    expect(heartbeats[0]).toBe(0);
    // Progress inside each turn's generation: a prefill, then a decode step per token after the first.
    expect(progress.filter((p) => p.stage === 'prefill').length).toBeGreaterThanOrEqual(heartbeats.length);
    const longest = Math.max(...trajectories.flatMap((t) => t.turns.map((turn) => turn.actionTokens.length)));
    expect(progress.filter((p) => p.stage === 'decode').length).toBeGreaterThanOrEqual(longest - 1);
    for (const [i, trajectory] of trajectories.entries()) {
      expect(trajectory.turns.length).toBeGreaterThanOrEqual(1);
      expect(trajectory.turns.length).toBeLessThanOrEqual(2);
      // Replay the episode: each turn's prompt is the chat of the episode so far, encoded.
      const replay = env.createEpisode(specs[i].taskId, specs[i].seed, { maxTurns: 2 });
      for (const turn of trajectory.turns) {
        expect(turn.context).toBe(replay.context());
        expect(turn.promptTokens).toEqual(policy.tokenizer.encode(policy.tokenizer.renderChat(chatMessages(prompt, replay, { shots: 1 }), { addGenerationPrompt: true })));
        expect(turn.actionTokens.length).toBeGreaterThan(0);
        expect(turn.actionTokens.length).toBeLessThanOrEqual(16);
        expect(turn.sampleLogProbs).toHaveLength(turn.actionTokens.length);
        expect(turn.sampleLogProbs.every((lp) => lp <= 0 && Number.isFinite(lp))).toBe(true);
        const result = replay.step(turn.action);
        expect([turn.observation, turn.error]).toEqual([result.observation, result.error]);
        expect(turn.nextContext).toBe(replay.context());
      }
      expect(trajectory.reward).toBe(replay.score().reward);
    }
    // The same specs sample the same rollouts.
    const again = await rolloutLlm(env, policy, specs, opts);
    expect(again.map((t) => t.turns.map((turn) => turn.actionTokens))).toEqual(trajectories.map((t) => t.turns.map((turn) => turn.actionTokens)));
  }, 180_000);
  test('a first prompt the model cannot hold fails as InvalidRunConfig (non-retryable), naming the task', async () => {
    const env = createDeepSearchEnvironment({ seed: 3, passages: 400, cacheDir: null, questions: { sizes: { single: { train: 1, dev: 1, test: 1 }, multi: { train: 1, dev: 1, test: 1 } } } });
    const [task] = env.tasks('single/train');
    const opts = { temperature: 1, topP: 1, maxActionTokens: policy.contextLength, maxTurns: 1, policyVersion: 0 };
    const err = (await rolloutLlm(env, policy, [{ taskId: task.id, group: 0, sample: 0, seed: 1 }], opts).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('InvalidRunConfig');
    expect(err.message).toContain(`the first prompt of ${task.id}`);
  });
  test('evaluatePolicy plays an LLM policy through llmRollout', async () => {
    const env = createDeepSearchEnvironment({ seed: 3, passages: 400, cacheDir: null, questions: { sizes: { single: { train: 4, dev: 2, test: 1 }, multi: { train: 1, dev: 1, test: 1 } } } });
    const tasks = env.tasks('single/dev');
    const outcome = await evaluatePolicy(env, llmRollout(policy), tasks, {
      mode: 'greedy',
      k: 1,
      sampling: { temperature: 1, topP: 1, maxActionTokens: 12, maxTurns: 1 },
      seed: 0,
      policyVersion: 7,
    });
    expect(outcome.metrics.tasks).toBe(tasks.length);
    expect(outcome.metrics).toHaveProperty('em');
    expect(outcome.trajectories.map((t) => [t.taskId, t.turns.length, t.policyVersion])).toEqual(tasks.map((t) => [t.id, 1, 7]));
  }, 120_000);

  test('LlmPolicyCache: loads a version from the store bytes once, keeps one, releases an evicted one when its rollout ends', async () => {
    const bytes = readFileSync(graph);
    const gets: string[] = [];
    const store = { get: async (key: string) => (gets.push(key), bytes) } as unknown as ArtifactStore;
    const cache = new LlmPolicyCache(store, 1, { intraOpNumThreads: 1 });
    const v1 = { key: 'policies/v1.onnx', sha256: 'a'.repeat(64) };
    const first = await cache.get(v1, NAME);
    expect(await cache.get(v1, NAME)).toBe(first);
    const greedy = { temperature: 0, topP: 1, maxTokens: 8, seed: 0 };
    const question = ask('What is the capital of France?');
    await first.using(async () => {
      const second = await cache.get({ key: 'policies/v2.onnx', sha256: 'b'.repeat(64) }, NAME); // evicts v1
      expect(second).not.toBe(first);
      expect(second.tokenizer).toBe(first.tokenizer);
      // v1 is still usable while held, and gives what the file-loaded session gives.
      const [a] = await first.generate([question], greedy);
      const [b] = await policy.generate([question], greedy);
      expect(a.tokens).toEqual(b.tokens);
    });
    await new Promise((resolve) => setImmediate(resolve));
    await expect(first.generate([question], greedy)).rejects.toThrow(/released/);
    expect(gets).toEqual(['policies/v1.onnx', 'policies/v2.onnx']);
    await cache.clear();
  }, 120_000);
});

/**
 * A model the user brings, end to end, for each supported architecture: a tiny random Qwen2ForCausalLM (q/k/v
 * biases, tied embeddings, RoPE base 1e6) and a tiny random LlamaForCausalLM (untied), Hugging Face directories built
 * by `python -m ratchet_torch.tiny_model` with SmolLM2's tokenizer (vocab 49,152), bf16 safetensors and a config.json
 * as the Hub's checkpoints have it; and the same qwen2 as an F32 GGUF (the `qwen2.*` header, a `tokenizer.ggml.pre`
 * qwen2 vocabulary the tokenizer export converts, transformers' GGUF loader).
 *
 * - `ratchet models check` accepts it (architecture, context length and heads from config.json); an architecture the
 *   policy does not implement is refused, naming the supported ones;
 * - the torch worker's initPolicy (base + LoRA on the 7 default projections) and syncWeights (a trained-like v1: v0's
 *   checkpoint with random LoRA B, merged) publish fp32 ONNX graphs that OrtLlmEngine loads, shape-checked;
 * - the engine generates (batched = alone); its log-probs agree with transformers fp32 on v0 (the base) and with the
 *   trainer's own scoreBatch on v1 (the engine mismatch a run reports), mean |Δ| <= 1e-3.
 *
 * Needs the Python venv (`npm run setup:python`) and SmolLM2's tokenizer (pulled and exported here when absent);
 * skipped, saying so, without the venv. The tiny models (and the GGUF's tokenizer export) are cached in
 * .data/cache/llm-test/ (named by the builder's source and the tokenizer); the graphs are published fresh into a
 * temporary store (~5 s per model).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkModelRef } from '../../../cli/models';
import { LocalArtifactStore } from '../../../common/artifacts';
import { dataDir, REPO_ROOT } from '../../../infra/paths';
import { runWorkerModule, venvStatus, workerPythonEnv } from '../../../infra/python';
import { loadLlmPolicy, type LoadedLlmPolicy } from '../../../policy/llm/llm-policy';
import { ModelRefError, resolveModelRef, SUPPORTED_ARCHITECTURES, type ResolvedModel } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { loadLlmTokenizer, type LlmTokenizer } from '../../../policy/llm/tokenizer';
import { writeTestGguf } from './gguf-writer';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'ratchet-own-model-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('architectures', () => {
  test('llama and qwen2 are supported', () => {
    expect(SUPPORTED_ARCHITECTURES).toEqual(['llama', 'qwen2']);
  });

  test('a Hugging Face directory or GGUF of another architecture is refused, naming the supported ones', async () => {
    const gpt2 = join(scratch, 'hf-gpt2');
    mkdirSync(gpt2);
    writeFileSync(join(gpt2, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_positions: 1024 }));
    await expect(checkModelRef(gpt2)).rejects.toThrow(ModelRefError);
    await expect(checkModelRef(gpt2)).rejects.toThrow(`model "${gpt2}" is a "gpt2" model (config.json model_type); the LLM policy supports "llama", "qwen2"`);
    const gguf = join(scratch, 'gemma.gguf');
    writeTestGguf(gguf, { 'general.architecture': { type: 'string', value: 'gemma2' } });
    expect(() => resolveModelRef(gguf)).toThrow(/is a "gemma2" model \(GGUF general.architecture\); the LLM policy supports "llama", "qwen2"$/);
  });

  test('a qwen2 GGUF resolves, and check reads its context length and heads from the header', async () => {
    const gguf = join(scratch, 'qwen.gguf');
    writeTestGguf(gguf, {
      'general.architecture': { type: 'string', value: 'qwen2' },
      'general.name': { type: 'string', value: 'Qwen2.5 0.5B Instruct' },
      'qwen2.context_length': { type: 'u32', value: 32768 },
      'qwen2.attention.head_count': { type: 'u32', value: 14 },
    });
    expect(resolveModelRef(gguf)).toMatchObject({ kind: 'gguf', architecture: 'qwen2', name: 'Qwen2.5 0.5B Instruct' });
    expect(await checkModelRef(gguf)).toEqual({ kind: 'gguf', path: gguf, architecture: 'qwen2', contextLength: 32768, attentionHeads: 14 });
  });
});

const venv = venvStatus();
if (!venv.ready) console.warn(`skipping the own-model tests (tiny qwen2 and llama through the worker and the ORT engine): no Python venv (${venv.reason}); run \`npm run setup:python\` to enable them`);

const BUILDER = join(REPO_ROOT, 'workers/torch/ratchet_torch/tiny_model.py');
const HELPER = join(REPO_ROOT, 'workers/torch/tests/own_model.py');

/** The cached tiny model: `<cache>/hf/` (the Hugging Face directory) and, with `--gguf`, `<cache>/gguf/tiny.gguf`. */
function tinyModel(architecture: string, flags: string[], tokenizerDir: string): string {
  const hash = createHash('sha256').update(readFileSync(BUILDER)).update(readFileSync(join(tokenizerDir, 'tokenizer.json'))).update(flags.join(' '));
  const dir = join(dataDir(), 'cache', 'llm-test');
  const prefix = `tiny-${[architecture, ...flags.map((f) => f.replace(/^--/, ''))].join('-')}-`;
  const out = join(dir, `${prefix}${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(join(out, 'hf', 'config.json'))) return out;
  mkdirSync(dir, { recursive: true });
  const stale = new RegExp(`^${prefix}[0-9a-f]{16}(\\.|$)`); // this variant's older builds (and partial ones)
  for (const old of readdirSync(dir).filter((f) => stale.test(f))) rmSync(join(dir, old), { recursive: true, force: true });
  const partial = `${out}.${process.pid}.partial`;
  const gguf = flags.includes('--gguf') ? [join(partial, 'gguf', 'tiny.gguf')] : [];
  runWorkerModule('ratchet_torch.tiny_model', [architecture, '--out', join(partial, 'hf'), '--tokenizer', tokenizerDir, ...flags, ...gguf], { purpose: 'the own-model test' });
  renameSync(partial, out);
  return out;
}

/** workers/torch/tests/own_model.py: the worker's activities on a local store. */
function helper<T>(command: 'publish' | 'check', model: string, artifacts: string, input?: unknown): T {
  const r = spawnSync(venv.python!, [HELPER, command, '--model', model, '--artifacts', artifacts], {
    cwd: REPO_ROOT,
    env: workerPythonEnv(),
    encoding: 'utf8',
    input: input === undefined ? undefined : JSON.stringify(input),
    timeout: 300_000,
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`own_model.py ${command} failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').split('\n').slice(-30).join('\n')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

interface PolicyRef {
  version: number;
  key: string;
  sha256: string;
  checkpoint: { key: string; sha256: string };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const VARIANTS = [
  { name: 'a tiny random qwen2 HF directory (q/k/v biases, tied embeddings)', architecture: 'qwen2', flags: ['--tied'], format: 'hf' },
  { name: 'a tiny random llama HF directory (untied embeddings)', architecture: 'llama', flags: ['--untied'], format: 'hf' },
  { name: 'the tiny qwen2 as a GGUF file (header facts, tokenizer export, GGUF loader)', architecture: 'qwen2', flags: ['--tied', '--gguf'], format: 'gguf' },
] as const;

(venv.ready ? describe.each(VARIANTS) : describe.skip.each(VARIANTS))('$name', ({ architecture, flags, format }) => {
  let cache: string;
  let ref: string;
  let model: ResolvedModel;
  let tokenizer: LlmTokenizer;
  let artifacts: string;
  let refs: { v0: PolicyRef; v1: PolicyRef };
  let v0: LoadedLlmPolicy;
  let v1: LoadedLlmPolicy;

  beforeAll(async () => {
    const started = Date.now();
    const smol = resolveModelRef('smollm2-135m-instruct');
    await pullModel('smollm2-135m-instruct');
    const smolTokenizer = loadLlmTokenizer(smol); // exports it when absent
    cache = tinyModel(architecture, [...flags], smolTokenizer.dir!);
    ref = format === 'gguf' ? join(cache, 'gguf', 'tiny.gguf') : join(cache, 'hf');
    model = resolveModelRef(ref);
    // A GGUF's tokenizer is exported (by ratchet_torch.tokenizer) into the cache; a HF directory's is used as it is.
    tokenizer = loadLlmTokenizer(model, format === 'gguf' ? { dir: join(cache, 'gguf-tokenizer') } : {});
    artifacts = mkdtempSync(join(tmpdir(), `ratchet-own-model-${architecture}-`));
    refs = helper('publish', ref, artifacts);
    const store = new LocalArtifactStore(artifacts);
    v0 = await loadLlmPolicy(await store.get(refs.v0.key, refs.v0.sha256), model, tokenizer, { intraOpNumThreads: 2 });
    v1 = await loadLlmPolicy(await store.get(refs.v1.key, refs.v1.sha256), model, tokenizer, { intraOpNumThreads: 2 });
    console.log(`${architecture} ${format}: built, published v0 and v1, loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 300_000);
  afterAll(async () => {
    await v0?.release();
    await v1?.release();
    if (artifacts) rmSync(artifacts, { recursive: true, force: true });
  });

  const ask = (question: string) => tokenizer.encodeChat([{ role: 'user', content: question }], { addGenerationPrompt: true });

  test('models check accepts it, with the facts the engine needs (config.json or the GGUF header); its tokenizer loads', async () => {
    expect(await checkModelRef(ref)).toEqual({ kind: format, path: ref, architecture, contextLength: 4096, attentionHeads: 4 });
    expect(tokenizer.vocabSize).toBe(49_152);
    expect(tokenizer.stopIds).toContain(tokenizer.tokenToId('<|im_end|>'));
    if (format === 'hf') {
      expect(tokenizer.dir).toBe(ref);
    } else {
      // transformers' GGUF converter applies Qwen2's split rule for `tokenizer.ggml.pre` qwen2 (no fix of ours needed).
      const manifest = JSON.parse(readFileSync(join(tokenizer.dir!, 'ratchet-tokenizer.json'), 'utf8')) as Record<string, unknown>;
      expect(manifest).toMatchObject({ format: 'gguf', architecture: 'qwen2', ggml_model: 'gpt2', ggml_pre: 'qwen2', pre_tokenizer_fix: null });
      const pre = JSON.parse(readFileSync(join(tokenizer.dir!, 'tokenizer.json'), 'utf8')).pre_tokenizer as { pretokenizers: { pattern?: { Regex?: string } }[] };
      expect(pre.pretokenizers[0].pattern?.Regex).toContain('[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|');
    }
  });

  test('initPolicy and syncWeights publish graphs of its shape, and v1 (a random adapter, merged) is not v0', async () => {
    for (const p of [v0, v1]) expect([p.engine.layers, p.engine.kvHeads, p.engine.headDim, p.engine.vocabSize, p.contextLength]).toEqual([2, 2, 16, 49_152, 4096]);
    expect(refs.v1.sha256).not.toBe(refs.v0.sha256);
    const prompt = ask('Name a color.');
    const continuation = tokenizer.encode(' Blue, like the sea.');
    const [a, b] = [await v0.engine.logProbs(prompt, continuation), await v1.engine.logProbs(prompt, continuation)];
    expect(mean(a.map((x, i) => Math.abs(x - b[i])))).toBeGreaterThan(0.05);
  });

  test('greedy and sampled batches give each row what it gets alone', async () => {
    const prompts = ['Name a color.', 'What is the capital of France?', 'Write one short sentence about the sea and the sky, please.'].map(ask);
    for (const opts of [
      { temperature: 0, topP: 1, maxTokens: 8, seed: 0 },
      { temperature: 1, topP: 0.95, maxTokens: 8, seed: 4 },
    ]) {
      const batch = await v0.generate(prompts, opts);
      for (const [i, prompt] of prompts.entries()) {
        const [alone] = await v0.generate([prompt], { ...opts, streams: [i] });
        expect(alone.tokens).toEqual(batch[i].tokens);
        alone.logProbs.forEach((lp, t) => expect(Math.abs(lp - batch[i].logProbs[t])).toBeLessThan(1e-4));
      }
    }
  });

  test('log-probs agree with transformers fp32 (v0) and with the trainer scoreBatch (v1)', async () => {
    const prompts = ['Tell me about the moon.', 'What is 2 + 2?', 'List three fruits.'].map(ask);
    // v0 = the base: a sampled reply (the KV-cache decode's log-probs) per prompt, and one teacher-forced text.
    const sampled = await v0.generate(prompts, { temperature: 1, topP: 1, maxTokens: 16, seed: 11 });
    const forced = tokenizer.encode(' The moon orbits the Earth every 27 days.');
    const sequences = [...prompts.map((prompt, i) => ({ prompt, continuation: sampled[i].tokens })), { prompt: prompts[0], continuation: forced }];
    const ours = [...sampled.map((g) => g.logProbs), await v0.engine.logProbs(prompts[0], forced)];
    // v1 sampled at temperature 0.7: what a rollout records, scored by the trainer at the same temperature.
    const rollouts = await v1.generate(prompts, { temperature: 0.7, topP: 1, maxTokens: 16, seed: 12 });
    const trajectories = rollouts.map((g, i) => ({
      taskId: `t${i}`, group: i, sample: 0, seed: i, policyVersion: 1, reward: 0, success: false, finishReason: 'done', envErrors: 0, metrics: {},
      turns: [{ context: '', promptTokens: prompts[i], actionTokens: g.tokens, sampleLogProbs: g.logProbs, action: g.text, observation: '', error: false, nextContext: '' }],
    }));
    const started = Date.now();
    const out = helper<{ reference: number[][]; mismatch: { mean: number; max: number; tokens: number }; oldLogProbs: number[][] }>('check', ref, artifacts, {
      sequences,
      trajectories,
      policy: refs.v1,
    });
    const seconds = (Date.now() - started) / 1000;
    const diffs = ours.flatMap((row, i) => row.map((lp, t) => Math.abs(lp - out.reference[i][t])));
    const tokens = rollouts.reduce((n, g) => n + g.tokens.length, 0);
    console.log(
      `${architecture} ${format}: v0 vs transformers fp32 mean |d| ${mean(diffs).toExponential(2)}, max ${Math.max(...diffs).toExponential(2)} over ${diffs.length} tokens; ` +
        `v1 vs scoreBatch mean ${out.mismatch.mean.toExponential(2)}, max ${out.mismatch.max.toExponential(2)} over ${out.mismatch.tokens} tokens (${seconds.toFixed(1)} s); ` +
        `mean sampled log-prob ${mean(ours.flat()).toFixed(2)}`,
    );
    expect(diffs.length).toBeGreaterThan(40);
    expect(mean(diffs)).toBeLessThanOrEqual(1e-3);
    expect(out.mismatch.tokens).toBe(tokens);
    expect(out.mismatch.mean).toBeLessThanOrEqual(1e-3);
    // The check is not vacuous: the model is far from uniform (ln 49,152 = 10.8 nats).
    expect(mean(ours.flat())).toBeGreaterThan(-9);
  }, 120_000);
});

/**
 * `npm run bench:llm-engines`: the two candidate rollout engines for the LLM policy (issue 27), on SmolLM2-135M:
 *
 * - llama.cpp through node-llama-cpp 3.21.1 on the Q4_1 GGUF (not a project dependency: install it for the run
 *   with `npm i --no-save -E node-llama-cpp@3.21.1`; skipped with a note when absent);
 * - onnxruntime-node through the pipeline's own engine, OrtLlmEngine (policy/llm/ort-engine.ts: generateBatch's
 *   prefill a few rows per run, then one decode step per token), on the fp32 ONNX export of the dequantized model
 *   made by torch (ratchet_torch.bench_engines, cached by bench/llm-graph.ts).
 *
 * Prefill and decode tokens/s at batch 1 and 8 on THREADS threads, and the per-token log-prob mismatch of each
 * against transformers fp32 (the trainer's numerics) on chat prompts from both environments, teacher-forcing the
 * expert's action. Needs the model (`ratchet models pull smollm2-135m-instruct`) and the venv (`npm run
 * setup:python`). Writes bench/results/llm-engines.json; figures and the recommendation: bench/NOTES-llm.md.
 *
 *   npm run bench:llm-engines [-- --threads 2 --prefill 512 --decode 32 --skip-llama-cpp --skip-onnx]
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAppsEnvironment } from '../envs/apps';
import { createDeepSearchEnvironment } from '../envs/deepsearch';
import type { Environment } from '../envs/types';
import { dataDir, REPO_ROOT } from '../infra/paths';
import { runWorkerModule } from '../infra/python';
import type { GenerateProgress } from '../policy/generate';
import { llmModelFacts } from '../policy/llm/llm-policy';
import { resolveModelRef } from '../policy/llm/models';
import { OrtLlmEngine } from '../policy/llm/ort-engine';
import { pullModel } from '../policy/llm/pull';
import { loadLlmTokenizer, type LlmTokenizer } from '../policy/llm/tokenizer';
import { cachedLlmGraph } from './llm-graph';

const NAME = 'smollm2-135m-instruct';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const THREADS = arg('threads', 2);
const PREFILL = arg('prefill', 512);
const DECODE = arg('decode', 32);
const BATCHES = [1, 8];
/** Each speed figure is the best of REPS runs (the machine is shared; the best run is the least disturbed). */
const REPS = arg('reps', 3);

interface Sequence {
  source: string;
  prompt: number[];
  continuation: number[];
}

interface SpeedRow {
  engine: string;
  batch: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

interface MismatchRow {
  engine: string;
  meanAbs: number;
  maxAbs: number;
  tokens: number;
}

/** Chat prompts from both environments (one expert turn each), with the expert's action as the continuation. */
function sequences(tok: LlmTokenizer, count: number): Sequence[] {
  const out: Sequence[] = [];
  const system = 'You are an agent. Answer with exactly one action per turn, in the protocol the user describes.';
  const take = (name: string, env: Environment, split: string) => {
    for (const [k, task] of env.tasks(split).slice(0, count).entries()) {
      const episode = env.createEpisode(task.id, k);
      const expert = env.expert(task.id, { noise: 0, seed: k });
      // The second turn when there is one: a context with an observation in it.
      let context = episode.context();
      let action = expert.act(episode);
      if (!episode.step(action).done) {
        context = episode.context();
        action = expert.act(episode);
      }
      const prompt = tok.encodeChat([{ role: 'system', content: system }, { role: 'user', content: context }], { addGenerationPrompt: true });
      out.push({ source: `${name}/${task.id}`, prompt, continuation: [...tok.encode(action), tok.eosId!] });
    }
  };
  take('apps', createAppsEnvironment({ seed: 1 }), 'train');
  take('deepsearch', createDeepSearchEnvironment({ seed: 3, passages: 2000, cacheDir: join(dataDir(), 'cache', 'deepsearch') }), 'single/train');
  return out;
}

function mismatch(engine: string, got: number[][], reference: number[][]): MismatchRow {
  let sum = 0;
  let max = 0;
  let n = 0;
  got.forEach((row, i) =>
    row.forEach((lp, j) => {
      const d = Math.abs(lp - reference[i][j]);
      sum += d;
      max = Math.max(max, d);
      n++;
    }),
  );
  return { engine, meanAbs: sum / n, maxAbs: max, tokens: n };
}

async function repeat(run: () => Promise<SpeedRow>): Promise<SpeedRow[]> {
  const out: SpeedRow[] = [];
  for (let i = 0; i < REPS; i++) out.push(await run());
  return out;
}

function best(rows: SpeedRow[]): SpeedRow {
  return {
    ...rows[0],
    prefillTokensPerSecond: Math.max(...rows.map((r) => r.prefillTokensPerSecond)),
    decodeTokensPerSecond: Math.max(...rows.map((r) => r.decodeTokensPerSecond)),
  };
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** A prompt of exactly `length` tokens (real chat tokens, repeated as needed). */
function promptOf(base: readonly number[], length: number): number[] {
  const out: number[] = [];
  while (out.length < length) out.push(...base.slice(0, length - out.length));
  return out;
}

// ---------- onnxruntime-node: the pipeline's own engine ----------

/** Engine speed only: no text is needed, so decoding token IDs to text stays out of the decode timing. */
const NO_TEXT = { decode: () => '' };

/**
 * OrtLlmEngine.generate (policy/llm/ort-engine.ts, what rollouts run: prefill a few rows per run, then one decode
 * step per token), greedy with no stop, prefill and decode timed apart by its progress events.
 */
async function ortSpeed(engine: OrtLlmEngine, base: number[], batch: number): Promise<SpeedRow> {
  const prompt = promptOf(base, PREFILL);
  let prefillEnd = 0n;
  let decodeTokens = 0;
  const onProgress = (p: GenerateProgress) => {
    if (p.stage === 'prefill') prefillEnd = process.hrtime.bigint();
    else decodeTokens += p.running;
  };
  const start = process.hrtime.bigint();
  await engine.generate(
    Array.from({ length: batch }, () => prompt),
    { temperature: 0, topP: 1, maxTokens: DECODE + 1, seed: 0, stopTokens: [], onProgress },
    NO_TEXT,
  );
  const prefill = Number(prefillEnd - start) / 1e9;
  const decode = seconds(prefillEnd);
  return { engine: 'onnxruntime-node fp32', batch, prefillTokensPerSecond: (batch * PREFILL) / prefill, decodeTokensPerSecond: decodeTokens / decode };
}

// ---------- llama.cpp (node-llama-cpp) ----------

/* eslint-disable @typescript-eslint/no-explicit-any */
async function loadLlamaCpp(): Promise<any | undefined> {
  try {
    // An ES module: import() it at run time (tsx keeps a dynamic import as one).
    const specifier = 'node-llama-cpp';
    return await import(specifier);
  } catch (err) {
    console.log(`node-llama-cpp is not installed (${(err as Error).message.split('\n')[0]}): npm i --no-save -E node-llama-cpp@3.21.1`);
    return undefined;
  }
}

async function llamaCppBench(mod: any, modelPath: string, seqs: Sequence[], base: number[]): Promise<{ speed: SpeedRow[]; logprobs: number[][]; loadSeconds: number }> {
  let start = process.hrtime.bigint();
  // The prebuilt CPU binary only: never a source build (node-llama-cpp falls back to one when its binary test fails).
  const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const loadSeconds = seconds(start);
  const maxBatch = Math.max(...BATCHES);
  const context = await model.createContext({ sequences: maxBatch, contextSize: maxBatch * (PREFILL + DECODE + 64), threads: THREADS, batchSize: maxBatch * PREFILL, flashAttention: false });
  const speed: SpeedRow[] = [];
  const logprobs: number[][] = [];
  try {
    // The context's sequences, made once and reused (cleared) for every measurement.
    const all = Array.from({ length: maxBatch }, () => context.getSequence());
    // Log-probs: teacher-forced, the full next-token distribution at each continuation position.
    const one = all[0];
    for (const seq of seqs) {
      await one.clearHistory();
      const ids = [...seq.prompt, ...seq.continuation];
      const input = ids.map((token, i) =>
        i >= seq.prompt.length - 1 && i < ids.length - 1 ? [token, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : token,
      );
      const out = await one.controlledEvaluate(input);
      logprobs.push(seq.continuation.map((token, j) => Math.log(out[seq.prompt.length - 1 + j].next.probabilities.get(token) ?? 0)));
    }
    for (const batch of BATCHES) {
      const runs: SpeedRow[] = [];
      for (let rep = 0; rep < REPS; rep++) runs.push(await llamaCppSpeed(all.slice(0, batch), base));
      speed.push(best(runs));
      console.log(JSON.stringify(speed.at(-1)));
    }
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
  return { speed, logprobs, loadSeconds };
}

async function llamaCppSpeed(sequences: any[], base: number[]): Promise<SpeedRow> {
  const batch = sequences.length;
  await Promise.all(sequences.map((s: any) => s.clearHistory()));
  const prompt = promptOf(base, PREFILL);
  let start = process.hrtime.bigint();
  await Promise.all(sequences.map((s: any) => s.evaluateWithoutGeneratingNewTokens(prompt)));
  const prefill = seconds(start);
  start = process.hrtime.bigint();
  // Concurrent evaluations of the context's sequences are batched by node-llama-cpp into one llama.cpp batch.
  await Promise.all(
    sequences.map(async (s: any) => {
      let n = 0;
      for await (const token of s.evaluate([prompt[prompt.length - 1]], { temperature: 0 })) {
        void token;
        if (++n >= DECODE) break;
      }
    }),
  );
  const decode = seconds(start);
  return { engine: 'llama.cpp Q4_1', batch, prefillTokensPerSecond: (batch * PREFILL) / prefill, decodeTokensPerSecond: (batch * DECODE) / decode };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

async function main(): Promise<void> {
  const pulled = await pullModel(NAME, { log: console.log });
  const model = resolveModelRef(NAME);
  const tok = loadLlmTokenizer(model);
  const seqs = sequences(tok, 5);
  console.log(`${seqs.length} chat prompts (${seqs.map((s) => `${s.prompt.length}+${s.continuation.length}`).join(', ')} tokens); ${THREADS} threads, prefill ${PREFILL}, decode ${DECODE}`);
  const reference = JSON.parse(
    runWorkerModule('ratchet_torch.bench_engines', ['reference', '--gguf', pulled.path], { purpose: 'bench:llm-engines', input: JSON.stringify({ sequences: seqs, threads: THREADS }) }).trim().split('\n').pop()!,
  ) as { logprobs: number[][]; forwardTokensPerSecond: number };
  console.log(`transformers fp32 forward: ${reference.forwardTokensPerSecond.toFixed(0)} tokens/s (batch 1, ${THREADS} threads)`);
  const base = seqs[0].prompt;
  const speed: SpeedRow[] = [];
  const mismatches: MismatchRow[] = [];
  const extra: Record<string, unknown> = { transformersForwardTokensPerSecond: reference.forwardTokensPerSecond };

  if (!process.argv.includes('--skip-onnx')) {
    const graph = cachedLlmGraph(NAME, pulled.path, 'bench:llm-engines');
    const facts = llmModelFacts(model);
    const start = process.hrtime.bigint();
    const engine = await OrtLlmEngine.load(graph, { contextLength: facts.contextLength, attentionHeads: facts.attentionHeads, intraOpNumThreads: THREADS });
    extra.onnxLoadSeconds = seconds(start);
    extra.onnx = { path: graph, bytes: statSync(graph).size, layers: engine.layers, kvHeads: engine.kvHeads, headDim: engine.headDim, vocab: engine.vocabSize };
    try {
      const lps: number[][] = [];
      for (const seq of seqs) lps.push(await engine.logProbs(seq.prompt, seq.continuation));
      mismatches.push(mismatch('onnxruntime-node fp32', lps, reference.logprobs));
      console.log(JSON.stringify(mismatches.at(-1)));
      for (const batch of BATCHES) {
        speed.push(best(await repeat(() => ortSpeed(engine, base, batch))));
        console.log(JSON.stringify(speed.at(-1)));
      }
    } finally {
      await engine.release();
    }
  }
  if (!process.argv.includes('--skip-llama-cpp')) {
    const mod = await loadLlamaCpp();
    if (mod) {
      const r = await llamaCppBench(mod, pulled.path, seqs, base);
      extra.llamaCppLoadSeconds = r.loadSeconds;
      mismatches.push(mismatch('llama.cpp Q4_1', r.logprobs, reference.logprobs));
      console.log(JSON.stringify(mismatches.at(-1)));
      speed.push(...r.speed);
    }
  }

  console.log('\nengine                 batch  prefill tok/s  decode tok/s');
  for (const r of speed) console.log(`${r.engine.padEnd(22)} ${String(r.batch).padStart(5)}  ${r.prefillTokensPerSecond.toFixed(0).padStart(13)}  ${r.decodeTokensPerSecond.toFixed(1).padStart(12)}`);
  console.log('\nlog-prob mismatch vs transformers fp32 (nats per token)');
  for (const m of mismatches) console.log(`${m.engine.padEnd(22)} mean |d| ${m.meanAbs.toExponential(2)}  max |d| ${m.maxAbs.toExponential(2)}  over ${m.tokens} tokens`);
  const out = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const { loadavg } = await import('node:os');
  writeFileSync(join(out, 'llm-engines.json'), JSON.stringify({ threads: THREADS, prefill: PREFILL, decode: DECODE, reps: REPS, loadAverage: loadavg(), speed, mismatches, ...extra }, null, 2) + '\n');
}

main().catch((err: Error) => {
  console.error(`bench:llm-engines: ${err.stack ?? err.message}`);
  process.exit(1);
});

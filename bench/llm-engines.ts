/**
 * `npm run bench:llm-engines`: the two candidate rollout engines for the LLM policy (issue 27), on SmolLM2-135M:
 *
 * - llama.cpp through node-llama-cpp 3.21.1 on the Q4_1 GGUF (not a project dependency: install it for the run
 *   with `npm i --no-save -E node-llama-cpp@3.21.1`; skipped with a note when absent);
 * - onnxruntime-node on an fp32 ONNX export of the dequantized model made by torch (ratchet_torch.bench_engines).
 *
 * Prefill and decode tokens/s at batch 1 and 8 on THREADS threads, and the per-token log-prob mismatch of each
 * against transformers fp32 (the trainer's numerics) on chat prompts from both environments, teacher-forcing the
 * expert's action. Needs the model (`ratchet models pull smollm2-135m-instruct`) and the venv (`npm run
 * setup:python`). Writes bench/results/llm-engines.json; figures and the recommendation: bench/NOTES-llm.md.
 *
 *   npm run bench:llm-engines [-- --threads 2 --prefill 512 --decode 32 --skip-llama-cpp --skip-onnx]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createAppsEnvironment } from '../envs/apps';
import { createDeepSearchEnvironment } from '../envs/deepsearch';
import type { Environment } from '../envs/types';
import { dataDir, REPO_ROOT } from '../infra/paths';
import { runWorkerModule } from '../infra/python';
import { resolveModelRef } from '../policy/llm/models';
import { pullModel } from '../policy/llm/pull';
import { loadLlmTokenizer, type LlmTokenizer } from '../policy/llm/tokenizer';

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

function logSoftmaxAt(logits: Float32Array, offset: number, vocab: number, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i] - max);
  return logits[offset + token] - max - Math.log(sum);
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

// ---------- onnxruntime-node ----------

class OrtEngine {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly layers: number,
    private readonly kvHeads: number,
    private readonly headDim: number,
    readonly vocab: number,
  ) {}

  static async load(path: string, meta: { layers: number; kvHeads: number; headDim: number; vocab: number }): Promise<OrtEngine> {
    // No spinning: a spinning thread pool loses badly when the cores are shared (CI, other workers).
    const session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: THREADS,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    return new OrtEngine(session, meta.layers, meta.kvHeads, meta.headDim, meta.vocab);
  }

  /** One forward over `ids` ([batch][new]) after `past` (null = empty); returns logits and the new cache. */
  async forward(ids: number[][], past: ort.Tensor[] | null, pastLength: number): Promise<{ logits: Float32Array; present: ort.Tensor[] }> {
    const batch = ids.length;
    const n = ids[0].length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [batch, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * (pastLength + n)).fill(1n), [batch, pastLength + n]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: batch * n }, (_, i) => BigInt(pastLength + (i % n))), [batch, n]),
    };
    for (let l = 0; l < this.layers; l++) {
      for (const [j, kv] of ['key', 'value'].entries()) {
        feeds[`past.${l}.${kv}`] = past ? past[2 * l + j] : new ort.Tensor('float32', new Float32Array(0), [batch, this.kvHeads, 0, this.headDim]);
      }
    }
    const out = await this.session.run(feeds);
    const present: ort.Tensor[] = [];
    for (let l = 0; l < this.layers; l++) present.push(out[`present.${l}.key`], out[`present.${l}.value`]);
    return { logits: out.logits.data as Float32Array, present };
  }

  async logprobs(seq: Sequence): Promise<number[]> {
    const ids = [...seq.prompt, ...seq.continuation];
    const { logits } = await this.forward([ids], null, 0);
    return seq.continuation.map((token, j) => logSoftmaxAt(logits, (seq.prompt.length - 1 + j) * this.vocab, this.vocab, token));
  }

  async speed(base: number[], batch: number): Promise<SpeedRow> {
    const prompt = promptOf(base, PREFILL);
    let start = process.hrtime.bigint();
    let { logits, present } = await this.forward(Array.from({ length: batch }, () => prompt), null, 0);
    const prefill = seconds(start);
    let length = PREFILL;
    const argmaxLast = (lg: Float32Array, rows: number, perRow: number) =>
      Array.from({ length: rows }, (_, b) => {
        const off = (b * perRow + perRow - 1) * this.vocab;
        let best = 0;
        for (let i = 1; i < this.vocab; i++) if (lg[off + i] > lg[off + best]) best = i;
        return [best];
      });
    let next = argmaxLast(logits, batch, PREFILL);
    start = process.hrtime.bigint();
    for (let s = 0; s < DECODE; s++) {
      ({ logits, present } = await this.forward(next, present, length));
      length++;
      next = argmaxLast(logits, batch, 1);
    }
    const decode = seconds(start);
    return { engine: 'onnxruntime-node fp32', batch, prefillTokensPerSecond: (batch * PREFILL) / prefill, decodeTokensPerSecond: (batch * DECODE) / decode };
  }
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
    const dir = join(dataDir(), 'bench', 'llm-engines');
    const onnxPath = join(dir, 'smollm2-135m-fp32.onnx');
    const metaPath = `${onnxPath}.json`;
    if (!existsSync(onnxPath) || !existsSync(metaPath)) {
      mkdirSync(dir, { recursive: true });
      const meta = runWorkerModule('ratchet_torch.bench_engines', ['export-onnx', '--gguf', pulled.path, '--out', onnxPath], { purpose: 'bench:llm-engines ONNX export' });
      writeFileSync(metaPath, meta.trim().split('\n').pop()!);
    }
    const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    extra.onnx = meta;
    const start = process.hrtime.bigint();
    const engine = await OrtEngine.load(onnxPath, meta);
    extra.onnxLoadSeconds = seconds(start);
    const lps: number[][] = [];
    for (const seq of seqs) lps.push(await engine.logprobs(seq));
    mismatches.push(mismatch('onnxruntime-node fp32', lps, reference.logprobs));
    console.log(JSON.stringify(mismatches.at(-1)));
    for (const batch of BATCHES) {
      speed.push(best(await repeat(() => engine.speed(base, batch))));
      console.log(JSON.stringify(speed.at(-1)));
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

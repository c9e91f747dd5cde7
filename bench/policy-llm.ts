/**
 * The LLM section of `npm run bench:policy` (issue 27): SmolLM2-135M-Instruct as the pipeline runs it.
 *
 * - Rollout: OrtLlmEngine.generate (policy/llm/ort-engine.ts, what rollout activities sample with) on first-turn
 *   chat prompts of deepsearch and apps (examples/deepsearch-llm.json's sampling and shots), batch 1 and 8;
 *   prefill and decode timed apart through GenerateOptions.onProgress (prefill = until the last prefill run,
 *   decode = the rest: forwards, sampling, detokenizing), decode of DECODE steps with no stop.
 * - Trainer: ratchet_torch.bench_trainer (the worker's score and update code on synthetic segments) and a torch
 *   fp32 matmul peak measured in that same process, with the same threads.
 * - Achieved FLOP/s as a share of the peak of each side (the trainer's goal: >= 30% of the torch peak).
 *
 * Rollout FLOPs per token (matmuls only), N = the blocks' linear weights, L layers, D = heads x head size, S = the
 * positions attended: 2N + 4 L D S + 2 V C (the graph computes logits at every prefill position too). Trainer:
 * bench_trainer.py's docstring. Writes bench/results/policy-llm.json. Skipped, saying so, without the venv or the
 * pulled model.
 */
import { mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseRunConfig } from '../config/run-config';
import { createAppsEnvironment } from '../envs/apps';
import { createDeepSearchEnvironment } from '../envs/deepsearch';
import type { Environment } from '../envs/types';
import { dataDir, REPO_ROOT } from '../infra/paths';
import { runWorkerModule, venvStatus } from '../infra/python';
import { generateBatch, sharedPrefix, type GenerateProgress, type KvDecoder } from '../policy/generate';
import { readGgufHeader } from '../policy/llm/gguf';
import { llmModelFacts } from '../policy/llm/llm-policy';
import { resolveModelRef } from '../policy/llm/models';
import { OrtLlmEngine } from '../policy/llm/ort-engine';
import { loadLlmTokenizer, type LlmTokenizer } from '../policy/llm/tokenizer';
import { chatPromptFor, llmPromptTokens } from '../trainer/llm-rollout';
import { cachedLlmGraph } from './llm-graph';

const NAME = 'smollm2-135m-instruct';
const EXAMPLE = join(REPO_ROOT, 'examples', 'deepsearch-llm.json');
const giga = (x: number) => (x / 1e9).toFixed(1);

interface Shape {
  layers: number;
  width: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  vocab: number;
}

/** Matmul weights of the decoder blocks: q, o (C x C), k, v (C x kvHeads·headDim), gate, up, down (C x ffn). */
function blockWeights(s: Shape): number {
  const kv = (s.width / s.heads) * s.kvHeads;
  return s.layers * (2 * s.width * s.width + 2 * s.width * kv + 3 * s.width * s.ffn);
}

/** Forward FLOPs of one token attending `span` positions, LM head included. */
function forwardFlops(s: Shape, span: number): number {
  return 2 * blockWeights(s) + 4 * s.layers * s.width * span + 2 * s.vocab * s.width;
}

function ggufShape(path: string, arch: string, vocab: number): Shape {
  const keys = ['block_count', 'embedding_length', 'feed_forward_length', 'attention.head_count', 'attention.head_count_kv'].map((k) => `${arch}.${k}`);
  const meta = readGgufHeader(path, { keys }).metadata;
  const [layers, width, ffn, heads, kvHeads] = keys.map((k) => Number(meta.get(k)));
  return { layers, width, ffn, heads, kvHeads, vocab };
}

/** First-turn chat prompts of an environment's train tasks, as rolloutLlm encodes them. */
function prompts(tok: LlmTokenizer, env: Environment, split: string, count: number, shots: number): number[][] {
  const chat = chatPromptFor(env.name);
  return env
    .tasks(split)
    .slice(0, count)
    .map((task, k) => llmPromptTokens({ tokenizer: tok }, chat, env.createEpisode(task.id, k), shots));
}

interface RolloutRow {
  env: string;
  batch: number;
  /** Whether the batch's common prompt prefix was prefilled once (policy/generate.ts sharedPrefix). */
  sharedPrefix: boolean;
  /** Tokens every prompt starts with, prefilled once (0 without sharing). */
  sharedTokens: number;
  promptTokens: number;
  paddedWidth: number;
  prefillSeconds: number;
  prefillTokensPerSecond: number;
  prefillGflops: number;
  decodeSteps: number;
  decodeTokens: number;
  decodeSeconds: number;
  decodeTokensPerSecond: number;
  decodeGflops: number;
}

/** One generate call, its prefill and decode timed apart by the progress events; `share` false turns prefix sharing off. */
async function timeGenerate(engine: OrtLlmEngine, tok: LlmTokenizer, shape: Shape, env: string, batch: number, base: number[][], decode: number, sampling: { temperature: number; topP: number }, share = true): Promise<RolloutRow> {
  const rows = Array.from({ length: batch }, (_, i) => base[i % base.length]);
  let prefillEnd = 0;
  let decodeTokens = 0;
  let steps = 0;
  const onProgress = (p: GenerateProgress) => {
    if (p.stage === 'prefill') prefillEnd = performance.now();
    else {
      decodeTokens += p.running;
      steps = p.step;
    }
  };
  const start = performance.now();
  const decoder: KvDecoder = share ? engine : { vocabSize: engine.vocabSize, contextLength: engine.contextLength, prefillRows: (w, p) => engine.prefillRows(w, p), run: (...a) => engine.run(...a) };
  await generateBatch(decoder, rows, { ...sampling, maxTokens: decode + 1, seed: 1, stopTokens: [], onProgress }, tok);
  const end = performance.now();
  const promptTokens = rows.reduce((n, r) => n + r.length, 0);
  const width = Math.max(...rows.map((r) => r.length));
  const prefillSeconds = (prefillEnd - start) / 1000;
  const decodeSeconds = (end - prefillEnd) / 1000;
  // The graph runs every padded position (left padding is masked, not skipped), and a shared prefix once: count
  // what it computes.
  const shared = sharedPrefix(rows, decoder.minSharedPrefix);
  const rest = width - shared;
  const prefillFlops = shared * forwardFlops(shape, (shared + 1) / 2) + batch * rest * forwardFlops(shape, shared + (rest + 1) / 2);
  const decodeFlops = decodeTokens * forwardFlops(shape, width + decode / 2);
  return {
    env,
    batch,
    sharedPrefix: share,
    sharedTokens: shared,
    promptTokens,
    paddedWidth: width,
    prefillSeconds,
    prefillTokensPerSecond: promptTokens / prefillSeconds,
    prefillGflops: prefillFlops / prefillSeconds / 1e9,
    decodeSteps: steps,
    decodeTokens,
    decodeSeconds,
    decodeTokensPerSecond: decodeTokens / decodeSeconds,
    decodeGflops: decodeFlops / decodeSeconds / 1e9,
  };
}

export interface LlmBenchOptions {
  quick: boolean;
  /** A one-node ONNX MatMul's peak (FLOP/s) at n x n with `threads` threads (bench/policy.ts ortMatmulPeak). */
  ortMatmulPeak: (n: number, reps: number, threads: number) => Promise<number>;
}

export async function llmBench(opts: LlmBenchOptions): Promise<void> {
  const venv = venvStatus();
  const model = resolveModelRef(NAME);
  if (!venv.ready || !existsSync(model.path)) {
    console.log(`LLM section skipped: ${!venv.ready ? `no Python venv (${venv.reason}; npm run setup:python)` : `${NAME} is not pulled (npm run ratchet -- models pull ${NAME})`}`);
    return;
  }
  const threads = Number(process.env.BENCH_LLM_THREADS ?? availableParallelism());
  const decode = opts.quick ? 8 : 32;
  const batches = opts.quick ? [1, 2] : [1, 8];
  const config = parseRunConfig(JSON.parse(readFileSync(EXAMPLE, 'utf8')));
  const shots = opts.quick ? 0 : config.agent.policy.kind === 'llm' ? (config.agent.policy.shots ?? 0) : 0;
  const sampling = { temperature: config.agent.sampling.temperature, topP: config.agent.sampling.topP };
  const load = [loadavg()[0]];
  console.log(`\nLLM ${NAME} (${threads} threads; load average ${load[0].toFixed(2)} on ${availableParallelism()} cores: other jobs share them, read ratios more than absolutes)`);

  // --- rollout: OrtLlmEngine
  const graph = cachedLlmGraph(NAME, model.path, 'bench:policy LLM section');
  const tok = loadLlmTokenizer(model);
  const facts = llmModelFacts(model);
  const loadStart = performance.now();
  const engine = await OrtLlmEngine.load(graph, { contextLength: facts.contextLength, attentionHeads: facts.attentionHeads, intraOpNumThreads: threads });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const shape = ggufShape(model.path, model.architecture, engine.vocabSize);
  const ortPeak = await opts.ortMatmulPeak(1024, opts.quick ? 4 : 10, threads);
  console.log(`onnxruntime: graph loaded in ${loadSeconds.toFixed(1)} s; MatMul peak 1024x1024 (${threads} threads) ${giga(ortPeak)} GFLOP/s`);
  const sources = [
    { env: 'deepsearch', prompts: prompts(tok, createDeepSearchEnvironment({ seed: 3, passages: 2000, cacheDir: join(dataDir(), 'cache', 'deepsearch') }), 'single/train', 8, shots) },
    { env: 'apps', prompts: prompts(tok, createAppsEnvironment({ seed: 1 }), 'train', 8, shots) },
  ];
  console.log(`rollout: first-turn chat prompts with ${shots} examples, ${decode} decode steps (no stop), temperature ${sampling.temperature}, top-p ${sampling.topP}`);
  await engine.generate([sources[0].prompts[0]], { ...sampling, maxTokens: 2, seed: 0 }, tok); // warm-up
  const rollout: RolloutRow[] = [];
  for (const { env, prompts: base } of sources) {
    for (const [batch, share] of [...batches.map((b) => [b, true] as const), [batches[1], false] as const]) {
      const row = await timeGenerate(engine, tok, shape, env, batch, base, decode, sampling, share);
      rollout.push(row);
      console.log(
        `  ${env.padEnd(10)} batch ${String(batch).padStart(2)}${share ? '' : ' (no prefix sharing)'}: prefill ${row.prefillTokensPerSecond.toFixed(0).padStart(5)} tokens/s (${row.promptTokens} tokens, width ${row.paddedWidth}${row.sharedTokens ? `, ${row.sharedTokens} shared` : ''}; ` +
          `${row.prefillGflops.toFixed(1)} GFLOP/s = ${((100 * row.prefillGflops * 1e9) / ortPeak).toFixed(0)}% of peak), decode ${row.decodeTokensPerSecond.toFixed(1).padStart(5)} tokens/s ` +
          `(${row.decodeGflops.toFixed(1)} GFLOP/s = ${((100 * row.decodeGflops * 1e9) / ortPeak).toFixed(0)}%)`,
      );
    }
  }
  await engine.release();
  load.push(loadavg()[0]);

  // --- trainer: the torch worker's score and update, and a torch matmul peak, in one Python process
  const request = { config, segments: opts.quick ? 2 : 8, length: opts.quick ? 128 : 512, action: 32, reps: opts.quick ? 1 : 2, threads, matmul: opts.quick ? 1024 : 2048 };
  // OpenMP's wait policy decides torch's speed on shared cores (spinning barriers: ~8x slower forwards measured
  // here under load); it is read when torch starts, so it is the environment's: say which.
  const omp = process.env.OMP_WAIT_POLICY ?? '(unset: OpenMP spins)';
  console.log(
    `trainer: ${request.segments} segments x ${request.length} tokens (${request.action} action tokens each), ${config.algorithm}, ` +
      `ppo.microbatchSegments ${config.agent.ppo.microbatchSegments}, kl.mode ${config.agent.kl.mode}, OMP_WAIT_POLICY ${omp}`,
  );
  const trainer = JSON.parse(runWorkerModule('ratchet_torch.bench_trainer', [], { purpose: 'bench:policy LLM section', input: JSON.stringify(request), timeoutMs: 30 * 60_000 }).trim().split('\n').pop()!) as {
    matmulPeakGflops: { before: number; after: number };
    scoreTokensPerSecond: number;
    forwardTokensPerSecond: number;
    updateTokensPerSecond: number;
    referenceForward: boolean;
    scoreGflops: number;
    updateGflops: number;
    scoreShareOfPeak: number;
    updateShareOfPeak: number;
    loadSeconds: number;
    flops: { blockWeights: number; loraWeights: number; forwardPerToken: number; backwardPerToken: number };
  };
  load.push(loadavg()[0]);
  const peak = trainer.matmulPeakGflops;
  console.log(`  torch fp32 matmul peak ${request.matmul}x${request.matmul}: ${peak.before.toFixed(1)} GFLOP/s before, ${peak.after.toFixed(1)} after the trainer (share uses the higher)`);
  console.log(
    `  FLOPs/token: N = ${(trainer.flops.blockWeights / 1e6).toFixed(1)}M block weights, R = ${(trainer.flops.loraWeights / 1e6).toFixed(2)}M LoRA; ` +
      `forward 2(N+R) + 4LDS + 2VC·A/T = ${(trainer.flops.forwardPerToken / 1e6).toFixed(0)}M, backward 2(N+R) + 2R + 8LDS + 2VC·A/T = ${(trainer.flops.backwardPerToken / 1e6).toFixed(0)}M`,
  );
  console.log(
    `  score (forward, no grad${trainer.referenceForward ? ', + the reference forward' : ''}): ${trainer.scoreTokensPerSecond.toFixed(0)} tokens/s ` +
      `(${trainer.forwardTokensPerSecond.toFixed(0)} forward tokens/s; ${trainer.scoreGflops.toFixed(1)} GFLOP/s = ${(100 * trainer.scoreShareOfPeak).toFixed(1)}% of the torch peak)`,
  );
  console.log(
    `  update (LoRA forward + backward + AdamW): ${trainer.updateTokensPerSecond.toFixed(0)} tokens/s ` +
      `(${trainer.updateGflops.toFixed(1)} GFLOP/s = ${(100 * trainer.updateShareOfPeak).toFixed(1)}% of the torch peak; goal >= 30%)`,
  );
  const b1 = (env: string) => rollout.find((r) => r.env === env && r.batch === batches[0])!;
  const bN = (env: string, share = true) => rollout.find((r) => r.env === env && r.batch === batches[1] && r.sharedPrefix === share)!;
  const ratios = {
    prefillSharedPrefixSpeedup: Object.fromEntries(sources.map(({ env }) => [env, bN(env).prefillTokensPerSecond / bN(env, false).prefillTokensPerSecond])),
    decodeBatchSpeedup: Object.fromEntries(sources.map(({ env }) => [env, bN(env).decodeTokensPerSecond / b1(env).decodeTokensPerSecond])),
    trainerUpdateVsRolloutPrefill: trainer.updateTokensPerSecond / bN('deepsearch').prefillTokensPerSecond,
    trainerForwardVsRolloutPrefill: trainer.forwardTokensPerSecond / bN('deepsearch').prefillTokensPerSecond,
    torchPeakVsOrtPeak: (1e9 * Math.max(peak.before, peak.after)) / ortPeak,
  };
  console.log(
    `  ratios: prefill batch ${batches[1]} with / without prefix sharing: ${sources.map(({ env }) => `${env} ${ratios.prefillSharedPrefixSpeedup[env].toFixed(1)}x`).join(', ')}; ` +
      `decode batch ${batches[1]} / batch ${batches[0]}: ${sources.map(({ env }) => `${env} ${ratios.decodeBatchSpeedup[env].toFixed(1)}x`).join(', ')}; ` +
      `trainer update / rollout prefill (deepsearch, batch ${batches[1]}): ${ratios.trainerUpdateVsRolloutPrefill.toFixed(2)}; ` +
      `torch peak / onnxruntime peak: ${ratios.torchPeakVsOrtPeak.toFixed(2)}`,
  );
  const out = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'policy-llm.json'),
    JSON.stringify({ model: NAME, quick: opts.quick, threads, ompWaitPolicy: omp, loadAverage: load, cores: availableParallelism(), shots, decode, ortLoadSeconds: loadSeconds, ortMatmulPeakGflops: ortPeak / 1e9, rollout, trainer: { request: { ...request, config: undefined }, ...trainer }, ratios }, null, 2) + '\n',
  );
  console.log(`  written: bench/results/policy-llm.json`);
}

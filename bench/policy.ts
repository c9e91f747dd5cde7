/**
 * Policy benchmark (`npm run bench:policy`): the default model's size, onnxruntime generation tokens/s at batch
 * 1, 8 and 32, tfjs training tokens/s, and achieved FLOP/s as a share of a matmul peak measured in this run
 * (tfjs matMul for training, a one-node ONNX MatMul for generation), plus SFT on the synthetic copy-and-lookup
 * task to a held-out token accuracy. Then the LLM policy (bench/policy-llm.ts: SmolLM2-135M rollout prefill and
 * decode tokens/s, the torch trainer's tokens/s and its share of a torch matmul peak) when the Python venv and the
 * model are there. Set BENCH_QUICK=1 for a short smoke run.
 *
 *   npm run bench:policy [-- --llm (the LLM section only) | --no-llm]
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { Rng } from '../common/random';
import { backendInfo, initBackend } from '../policy/backend';
import { OrtPolicy } from '../policy/generate';
import { createPolicy, DEFAULT_MODEL_CONFIG, getWeights, ModelConfig, parameterCount, tokenLogProbs } from '../policy/model';
import { DataType, encodeOnnxModel, exportOnnx, GraphBuilder, valueInfo } from '../policy/onnx-export';
import { AdamW, optimizerStep } from '../policy/optim';
import { evaluateSft, sftTrain } from '../policy/sft';
import { copyLookupExamples, copyLookupVocabSize } from '../policy/synthetic';
import { llmBench } from './policy-llm';

const QUICK = process.env.BENCH_QUICK === '1';
const ORT_THREADS = Number(process.env.BENCH_ORT_THREADS ?? 1);
const giga = (x: number) => (x / 1e9).toFixed(2);

/** Matmul FLOPs of one forward token at attention span S: embedding one-hot (training only), blocks, LM head. */
function forwardFlopsPerToken(c: ModelConfig, span: number, oneHotEmbedding: boolean): number {
  const { vocabSize: V, width: C, layers: L } = c;
  return (oneHotEmbedding ? 2 * V * C : 0) + L * (24 * C * C + 4 * span * C) + 2 * V * C;
}

function seconds<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const out = fn();
  return [out, (performance.now() - start) / 1000];
}

function tfjsMatmulPeak(n: number, reps: number): number {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  // No tf.tidy returning dataSync() here: tidy walks a returned typed array element by element (20x slower).
  const once = () => {
    const c = tf.matMul(a, a);
    c.dataSync();
    c.dispose();
  };
  once(); // warm-up
  const [, s] = seconds(() => {
    for (let i = 0; i < reps; i++) once();
  });
  a.dispose();
  return (2 * n ** 3 * reps) / s;
}

async function ortMatmulPeak(n: number, reps: number, threads = ORT_THREADS): Promise<number> {
  const g = new GraphBuilder();
  const w = g.floats('w', [n, n], Float32Array.from({ length: n * n }, (_, i) => Math.sin(i)));
  g.op('MatMul', ['x', w], [], ['y']);
  const bytes = encodeOnnxModel(g, 'matmul', [valueInfo('x', DataType.FLOAT, [n, n])], [valueInfo('y', DataType.FLOAT, [n, n])]);
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const x = new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => Math.cos(i)), [n, n]);
  await session.run({ x });
  const start = performance.now();
  for (let i = 0; i < reps; i++) await session.run({ x });
  const s = (performance.now() - start) / 1000;
  await session.release();
  return (2 * n ** 3 * reps) / s;
}

async function main(): Promise<void> {
  if (!process.argv.includes('--llm')) await builtinBench();
  if (!process.argv.includes('--no-llm')) await llmBench({ quick: QUICK, ortMatmulPeak });
}

async function builtinBench(): Promise<void> {
  const backend = await initBackend();
  const config = DEFAULT_MODEL_CONFIG;
  console.log(`default model: ${JSON.stringify(config)}`);
  console.log(`parameters: policy ${parameterCount(config, 'policy').toLocaleString('en-US')}, critic ${parameterCount(config, 'critic').toLocaleString('en-US')}`);
  const [policy, initSeconds] = seconds(() => createPolicy(config, 1));
  console.log(`init: ${initSeconds.toFixed(1)} s`);

  // --- peaks
  const tfPeak = tfjsMatmulPeak(512, QUICK ? 4 : 20);
  const ortPeak = await ortMatmulPeak(512, QUICK ? 4 : 20);
  console.log(`matmul peak 512x512: tfjs ${backend} ${giga(tfPeak)} GFLOP/s, onnxruntime (${ORT_THREADS} thread) ${giga(ortPeak)} GFLOP/s`);

  // --- generation with onnxruntime
  const [onnx, exportSeconds] = seconds(() => exportOnnx(getWeights(policy), config, { logits: 'last' }));
  const loadStart = performance.now();
  const ortPolicy = await OrtPolicy.load(onnx, config, { intraOpNumThreads: ORT_THREADS });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  console.log(`weight sync: export ${(1000 * exportSeconds).toFixed(0)} ms (${(onnx.length / 2 ** 20).toFixed(1)} MiB), onnxruntime load ${(1000 * loadSeconds).toFixed(0)} ms`);
  const promptLength = 64;
  const newTokens = QUICK ? 16 : 64;
  const rng = new Rng(7);
  console.log(`generation: prompt ${promptLength} tokens, ${newTokens} new tokens per row, temperature 1, top-p 0.95`);
  for (const batch of [1, 8, 32]) {
    const prompts = Array.from({ length: batch }, () => Array.from({ length: promptLength }, () => rng.int(3, config.vocabSize - 1)));
    const opts = { temperature: 1, topP: 0.95, maxTokens: newTokens, seed: 1, stopTokens: [] };
    await ortPolicy.generate(prompts.slice(0, 1), { ...opts, maxTokens: 2 }); // warm-up
    const start = performance.now();
    const out = await ortPolicy.generate(prompts, opts);
    const s = (performance.now() - start) / 1000;
    const generated = out.reduce((n, g) => n + g.tokens.length, 0);
    const flops =
      batch * promptLength * forwardFlopsPerToken(config, promptLength / 2, false) +
      generated * forwardFlopsPerToken(config, promptLength + newTokens / 2, false);
    console.log(
      `  batch ${String(batch).padStart(2)}: ${(generated / s).toFixed(0).padStart(6)} tokens/s  ` +
        `(${giga(flops / s)} GFLOP/s = ${((100 * flops) / s / ortPeak).toFixed(1)}% of the onnxruntime matmul peak)`,
    );
  }
  await ortPolicy.release();

  // --- training with tfjs
  const [B, T] = [8, 128];
  const optimizer = new AdamW(policy.weights);
  const ids = Array.from({ length: B }, () => Array.from({ length: T + 1 }, () => rng.int(3, config.vocabSize - 1)));
  const inputs = ids.map((r) => r.slice(0, -1));
  const targets = ids.map((r) => r.slice(1));
  const step = () => optimizerStep(policy, optimizer, () => tokenLogProbs(policy, inputs, targets).mean().neg() as tf.Scalar, { learningRate: 1e-4, maxGradNorm: 1 });
  step(); // warm-up
  const steps = QUICK ? 2 : 5;
  const [, trainSeconds] = seconds(() => {
    for (let i = 0; i < steps; i++) step();
  });
  const trainTokensPerSecond = (steps * B * T) / trainSeconds;
  const trainFlops = 3 * forwardFlopsPerToken(config, T, true) * trainTokensPerSecond;
  console.log(
    `training (batch ${B} x ${T}, AdamW, ${backend}): ${trainTokensPerSecond.toFixed(0)} tokens/s  ` +
      `(${giga(trainFlops)} GFLOP/s = ${((100 * trainFlops) / tfPeak).toFixed(1)}% of the tfjs matmul peak)`,
  );

  // --- SFT on the synthetic copy-and-lookup task
  const sftConfig = { vocabSize: copyLookupVocabSize(), contextLength: 32, layers: 2, heads: 4, width: 64, dropout: 0 };
  const model = createPolicy(sftConfig, 1);
  const heldOut = copyLookupExamples(500, 2);
  const sftSteps = QUICK ? 50 : Number(process.env.BENCH_SFT_STEPS ?? 300);
  const metrics = await sftTrain(model, copyLookupExamples(20000, 1), { steps: sftSteps, batchSize: 32, seed: 1, peakLr: 1e-2, adamw: { weightDecay: 0.01 } });
  const heldOutEval = evaluateSft(model, heldOut);
  console.log(
    `SFT copy-and-lookup (${parameterCount(sftConfig).toLocaleString('en-US')} params, ${sftSteps} steps, ${metrics.tokensPerSecond.toFixed(0)} tokens/s): ` +
      `held-out token accuracy ${(100 * heldOutEval.tokenAccuracy).toFixed(1)}% over ${heldOutEval.tokens} answer tokens, loss ${heldOutEval.loss.toFixed(3)}`,
  );
  console.log(`backend: ${JSON.stringify(backendInfo())}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

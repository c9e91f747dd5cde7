/**
 * The LLM policy's rollout engine (issue 27): batched sampling on onnxruntime-node from the fp32 ONNX graph the
 * Python worker publishes for each policy version (the trainer's exact merged weights; bench/NOTES-llm.md measured
 * 3e-6 nats/token against transformers fp32).
 *
 * The graph (ratchet_torch.bench_engines export-onnx): inputs `input_ids` [B,T], `attention_mask` [B,past+T],
 * `position_ids` [B,T] and `past.<l>.key|value` [B,kvHeads,past,headDim]; outputs `logits` [B,T,V] and
 * `present.<l>.key|value` [B,kvHeads,past+T,headDim]. Layers, KV heads, head size and vocabulary are read from the
 * graph's declared shapes; the context length is not in the graph (RoPE is computed), so the caller gives it (the
 * model's `context_length`, policy/llm/llm-policy.ts reads it).
 *
 * Sampling is policy/generate.ts's `generateBatch`: left padding (mask 0, position ids counted per row from 0),
 * prefill a few rows per run, one decode step per token for the rows still running, each row its own random stream
 * `Rng(seed).fork(row)`. A token's log-prob is log softmax(logits / T)[token], T = lossTemperature(temperature),
 * before top-p: what the trainer recomputes and compares.
 *
 * Threads: `intraOpNumThreads` defaults to every core. The cpu pool runs one LLM rollout activity at a time (a
 * 650 MB session per process is the memory bound, and ORT's decode is bandwidth-bound), so that activity gets the
 * machine; pass fewer where several engines share it. The thread pool does not spin: on shared cores (CI, other
 * workers) a spinning pool loses badly.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { generateBatch, int64, logSoftmaxAt, type Detokenizer, type GenerateOptions, type Generation, type KvDecoder } from '../generate';

export interface LlmEngineOptions {
  /** Threads inside the ORT session (default: every core; see the file's comment). */
  intraOpNumThreads?: number;
  /** Longest sequence the model takes, prompt plus reply (the model's `context_length`). */
  contextLength: number;
  /** Query heads, for the prefill's memory estimate (default: the graph's KV heads, which undercounts GQA). */
  attentionHeads?: number;
  /**
   * Floats one prefill run may hold in its two big intermediates, the logits [rows,T,V] and the attention scores
   * [rows,heads,T,T]; more rows prefill in several runs (default 2^27: 512 MB, one 1,300-token SmolLM2 row a run,
   * or 13 rows of 200).
   */
  maxPrefillFloats?: number;
  /**
   * Bytes the KV cache of one generate batch may hold (default 1 GiB: SmolLM2 keeps 46 KB a token, so ~17 apps rows
   * of 1,400 positions); more prompts decode in consecutive batches. The graph's concat and the copy out to
   * JavaScript hold about three times this at the peak. Evaluating 168 apps tasks in one batch held ~10 GB and was
   * killed for memory on a 24 GiB machine.
   */
  maxKvBytes?: number;
}

/** The graph's shape, as its declared inputs and outputs give it. */
export interface LlmGraphShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
}

/** Read the shape from a session's metadata; throws on a graph that is not the KV-cache export. */
export function graphShape(session: ort.InferenceSession): LlmGraphShape {
  const tensors = new Map(session.inputMetadata.filter((m) => m.isTensor).map((m) => [m.name, m as ort.InferenceSession.TensorValueMetadata]));
  for (const name of ['input_ids', 'attention_mask', 'position_ids']) {
    if (!tensors.has(name)) throw new Error(`LLM ONNX graph: no input ${name} (inputs: ${session.inputNames.join(', ')})`);
  }
  let layers = 0;
  while (tensors.has(`past.${layers}.key`)) layers++;
  if (layers === 0) throw new Error(`LLM ONNX graph: no past.<layer>.key inputs (inputs: ${session.inputNames.slice(0, 8).join(', ')} ...)`);
  const [, kvHeads, , headDim] = tensors.get('past.0.key')!.shape;
  const logits = session.outputMetadata.find((m) => m.name === 'logits') as ort.InferenceSession.TensorValueMetadata | undefined;
  const vocabSize = logits?.shape[2];
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number' || typeof vocabSize !== 'number') {
    throw new Error(`LLM ONNX graph: past.0.key ${JSON.stringify(tensors.get('past.0.key')!.shape)} / logits ${JSON.stringify(logits?.shape)} lack static sizes`);
  }
  for (let l = 0; l < layers; l++) {
    if (!tensors.has(`past.${l}.value`) || !session.outputNames.includes(`present.${l}.key`) || !session.outputNames.includes(`present.${l}.value`)) {
      throw new Error(`LLM ONNX graph: layer ${l} lacks its past/present key and value`);
    }
  }
  return { layers, kvHeads, headDim, vocabSize };
}

export class OrtLlmEngine implements KvDecoder {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  private readonly attentionHeads: number;
  private readonly maxPrefillFloats: number;
  private readonly maxKvBytes: number;
  /** A batch's common prompt prefix (system message, few-shot examples) is prefilled once (policy/generate.ts). */
  readonly minSharedPrefix = 16;

  private constructor(
    private readonly session: ort.InferenceSession,
    opts: LlmEngineOptions,
  ) {
    ({ layers: this.layers, kvHeads: this.kvHeads, headDim: this.headDim, vocabSize: this.vocabSize } = graphShape(session));
    if (!(opts.contextLength > 1)) throw new Error(`OrtLlmEngine: contextLength must be > 1, got ${opts.contextLength}`);
    this.contextLength = opts.contextLength;
    this.attentionHeads = opts.attentionHeads ?? this.kvHeads;
    this.maxPrefillFloats = opts.maxPrefillFloats ?? 2 ** 27;
    this.maxKvBytes = opts.maxKvBytes ?? 2 ** 30;
  }

  /** A session from the graph's bytes (an artifact) or a file path. */
  static async load(source: Uint8Array | string, opts: LlmEngineOptions): Promise<OrtLlmEngine> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.intraOpNumThreads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    const session = typeof source === 'string' ? await ort.InferenceSession.create(source, sessionOptions) : await ort.InferenceSession.create(source, sessionOptions);
    try {
      return new OrtLlmEngine(session, opts);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  /**
   * Sample replies to `prompts` (token IDs, any lengths), batched. `stopTokens` (e.g. the tokenizer's `stopIds`)
   * end a reply and are kept in `tokens`, not in `text`; `stopStrings` end it at the first one, cut after it.
   */
  generate(prompts: number[][], opts: GenerateOptions, tokenizer: Detokenizer): Promise<Generation[]> {
    return generateBatch(this, prompts, opts, tokenizer);
  }

  /**
   * Teacher-forced log-probs of `continuation` after `prompt`, one forward: log softmax(logits / temperature) at
   * each continuation token (temperature 1 = the model's own).
   */
  async logProbs(prompt: readonly number[], continuation: readonly number[], temperature = 1): Promise<number[]> {
    const ids = [...prompt, ...continuation];
    if (ids.length > this.contextLength) throw new Error(`logProbs: ${ids.length} tokens; the model's context is ${this.contextLength}`);
    const { logits } = await this.run(ids, new Array(ids.length).fill(1), ids.map((_, t) => t), 1, ids.length);
    const V = this.vocabSize;
    return continuation.map((token, j) => logSoftmaxAt(logits.subarray((prompt.length - 1 + j) * V, (prompt.length + j) * V), token, temperature));
  }

  prefillRows(width: number, past = 0): number {
    return this.maxPrefillFloats / (width * (this.vocabSize + this.attentionHeads * (past + width)));
  }

  maxRows(slots: number): number {
    return this.maxKvBytes / (slots * this.layers * 2 * this.kvHeads * this.headDim * 4);
  }

  async run(ids: number[], mask: number[], positions: number[], B: number, T: number, cache?: ort.Tensor[]): Promise<{ logits: Float32Array; cache: ort.Tensor[] }> {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(ids, [B, T]),
      attention_mask: int64(mask, [B, mask.length / B]),
      position_ids: int64(positions, [B, T]),
    };
    for (let l = 0; l < this.layers; l++) {
      for (const [j, kind] of ['key', 'value'].entries()) {
        feeds[`past.${l}.${kind}`] = cache?.[2 * l + j] ?? new ort.Tensor('float32', new Float32Array(0), [B, this.kvHeads, 0, this.headDim]);
      }
    }
    const out = await this.session.run(feeds);
    const present: ort.Tensor[] = [];
    for (let l = 0; l < this.layers; l++) present.push(out[`present.${l}.key`] as ort.Tensor, out[`present.${l}.value`] as ort.Tensor);
    return { logits: out.logits.data as Float32Array, cache: present };
  }
}

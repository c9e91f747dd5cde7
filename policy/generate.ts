/**
 * Rollout inference: batched sampling from an exported policy on onnxruntime-node, with a KV cache.
 *
 * Prompts are left-padded into one batch (the graph masks padding and counts causality over cache slots) and
 * prefilled a few rows per run to bound the attention scores' memory, then every decode step runs the whole batch
 * for one token. Finished rows are dropped from the batch and the cache.
 * Each row samples from its own stream `Rng(seed).fork(row)`, so a row's tokens do not depend on its neighbours;
 * temperature 0 is greedy. Returned log-probs are those of the distribution sampled from, log softmax(logits / T)
 * before top-p (the model's own when greedy): the trainer's log π_T, recomputed in tfjs for the loss anyway.
 *
 * Event loop: ORT's Node `run` is a synchronous native call deferred by setImmediate, so one call blocks for one
 * decode step of the batch (milliseconds at these sizes); generation awaits between steps, so many episodes'
 * generate calls and other I/O interleave. For true parallelism run one OrtPolicy per worker thread or process.
 */
import * as ort from 'onnxruntime-node';
import { concatTyped } from '../common/arrays';
import { Rng } from '../common/random';
import type { ModelConfig } from './model';
import { lossTemperature } from './temperature';
import { readOnnxConfig } from './onnx-export';
import type { Tokenizer } from './tokenizer';

export interface GenerateOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Nucleus sampling mass in (0, 1]; 1 = off. */
  topP: number;
  maxTokens: number;
  /** Generation ends at the first of these strings, kept as part of the text (needs a tokenizer). */
  stopStrings?: string[];
  seed: number;
  /** Token ids that end generation (included in `tokens`, not in `text`). Default: the tokenizer's eos, else none. */
  stopTokens?: number[];
}

export interface Generation {
  tokens: number[];
  /** log π(token) under the model (temperature 1), one per token. */
  logProbs: number[];
  text: string;
  finishReason: 'stop' | 'length';
}

export interface OrtPolicyOptions {
  /** Threads inside one ORT session (default 1: rollout workers run side by side). */
  intraOpNumThreads?: number;
  /** Attention scores (rows · heads · T²) one prefill run may hold; more rows prefill in several runs (default 2^25). */
  maxPrefillScores?: number;
}

interface Row {
  index: number;
  rng: Rng;
  /** Attention mask over cache slots: 0 for left padding, 1 for real tokens. */
  mask: number[];
  /** Real tokens in the cache so far (= position of the next token). */
  length: number;
  tokens: number[];
  logProbs: number[];
  text: string;
}

const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

export class OrtPolicy {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly config: ModelConfig,
    private readonly maxPrefillScores: number,
  ) {}

  /** Load exported bytes (from exportOnnx). The model shape is read from the graph unless given. */
  static async load(bytes: Uint8Array, config?: ModelConfig, opts: OrtPolicyOptions = {}): Promise<OrtPolicy> {
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new OrtPolicy(session, config ?? readOnnxConfig(bytes), opts.maxPrefillScores ?? 2 ** 25);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  /**
   * One forward pass, the raw graph interface: ids [B,T] (all rows the same length), optional cache from an
   * earlier call. Returns logits as laid out by the graph ([B,T,V], or [B,1,V] for a 'last'-logits export).
   */
  async forward(
    ids: number[][],
    past?: { cache: ort.Tensor[]; length: number },
  ): Promise<{ logits: Float32Array; logitsDims: readonly number[]; cache: ort.Tensor[] }> {
    const B = ids.length;
    const T = ids[0].length;
    const P = past?.length ?? 0;
    const feeds = this.feeds(
      ids.flat(),
      Array.from({ length: B }, () => new Array(P + T).fill(1)).flat(),
      ids.flatMap(() => Array.from({ length: T }, (_, t) => P + t)),
      B,
      T,
      past?.cache,
    );
    const out = await this.session.run(feeds);
    return { logits: out.logits.data as Float32Array, logitsDims: out.logits.dims, cache: this.cacheFrom(out) };
  }

  async generate(prompts: number[][], opts: GenerateOptions, tokenizer?: Tokenizer): Promise<Generation[]> {
    const { contextLength, vocabSize: V } = this.config;
    if (opts.stopStrings?.length && !tokenizer) throw new Error('generate: stopStrings need a tokenizer');
    if (!(opts.topP > 0 && opts.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${opts.topP}`);
    const stopTokens = new Set(opts.stopTokens ?? (tokenizer ? [tokenizer.eos] : []));
    const results: Generation[] = new Array(prompts.length);
    if (prompts.length === 0) return results;
    for (const [i, prompt] of prompts.entries()) {
      if (prompt.length === 0) throw new Error(`generate: prompt ${i} is empty (start it with the bos token)`);
      if (prompt.length >= contextLength) {
        throw new Error(`generate: prompt ${i} has ${prompt.length} tokens; the model's context is ${contextLength} (shorten the context)`);
      }
    }

    // Prefill: left-pad every prompt to the longest.
    const width = Math.max(...prompts.map((p) => p.length));
    const rootRng = new Rng(opts.seed);
    let rows: Row[] = prompts.map((prompt, index) => {
      const pad = width - prompt.length;
      return {
        index,
        rng: rootRng.fork(index),
        mask: [...new Array(pad).fill(0), ...new Array(prompt.length).fill(1)],
        length: prompt.length,
        tokens: [],
        logProbs: [],
        text: '',
      };
    });
    let { logits, cache } = await this.prefill(prompts, rows, width);
    let slots = width;

    for (;;) {
      const perRow = logits.length / rows.length; // T·V: take the last position
      const keep: number[] = [];
      for (const [b, row] of rows.entries()) {
        const rowLogits = logits.subarray(b * perRow + perRow - V, (b + 1) * perRow);
        const token = sample(rowLogits, opts.temperature, opts.topP, row.rng);
        row.tokens.push(token);
        row.logProbs.push(logSoftmaxAt(rowLogits, token, lossTemperature(opts.temperature)));
        row.length++;
        const finish = this.finishReason(row, token, stopTokens, opts, tokenizer);
        if (finish) results[row.index] = { tokens: row.tokens, logProbs: row.logProbs, text: row.text, finishReason: finish };
        else keep.push(b);
      }
      if (keep.length === 0) break;
      if (keep.length < rows.length) cache = compactRows(cache, keep);
      rows = keep.map((b) => rows[b]);

      for (const row of rows) row.mask.push(1);
      slots++;
      const feeds = this.feeds(
        rows.map((r) => r.tokens[r.tokens.length - 1]),
        rows.flatMap((r) => r.mask),
        rows.map((r) => r.length - 1),
        rows.length,
        1,
        cache,
      );
      const out = await this.session.run(feeds);
      logits = out.logits.data as Float32Array;
      cache = this.cacheFrom(out);
      if (slots % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve)); // let other episodes in
    }
    return results;
  }

  /**
   * The left-padded prompts' first forward pass, a few rows per run: one run holds rows · heads · width² attention
   * scores, and ORT's arena keeps its peak (168 prompts of ~1000 tokens in one run grew a process by ~8 GiB). Each
   * row's numbers do not depend on its neighbours, so the runs' logits and caches are joined along the batch.
   */
  private async prefill(prompts: number[][], rows: Row[], width: number): Promise<{ logits: Float32Array; cache: ort.Tensor[] }> {
    const perRun = Math.max(1, Math.floor(this.maxPrefillScores / (this.config.heads * width * width)));
    const runs: { logits: Float32Array; cache: ort.Tensor[] }[] = [];
    for (let start = 0; start < prompts.length; start += perRun) {
      const part = prompts.slice(start, start + perRun);
      const ids = part.flatMap((p) => [...new Array(width - p.length).fill(0), ...p]);
      const positions = part.flatMap((p) => [...new Array(width - p.length).fill(0), ...p.map((_, t) => t)]);
      const mask = rows.slice(start, start + perRun).flatMap((r) => r.mask);
      const out = await this.session.run(this.feeds(ids, mask, positions, part.length, width));
      runs.push({ logits: out.logits.data as Float32Array, cache: this.cacheFrom(out) });
    }
    if (runs.length === 1) return runs[0];
    return { logits: concatFloats(runs.map((r) => r.logits)), cache: runs[0].cache.map((_, i) => joinRows(runs.map((r) => r.cache[i]))) };
  }

  private finishReason(
    row: Row,
    token: number,
    stopTokens: Set<number>,
    opts: GenerateOptions,
    tokenizer?: Tokenizer,
  ): Generation['finishReason'] | undefined {
    if (tokenizer) row.text = tokenizer.decode(row.tokens);
    if (stopTokens.has(token)) return 'stop';
    if (opts.stopStrings?.length) {
      let cut = -1;
      for (const stop of opts.stopStrings) {
        const at = row.text.indexOf(stop);
        if (at >= 0 && (cut < 0 || at + stop.length < cut)) cut = at + stop.length;
      }
      if (cut >= 0) {
        row.text = row.text.slice(0, cut);
        return 'stop';
      }
    }
    if (row.tokens.length >= opts.maxTokens || row.length >= this.config.contextLength) return 'length';
    return undefined;
  }

  private feeds(ids: number[], mask: number[], positions: number[], B: number, T: number, cache?: ort.Tensor[]) {
    const { layers, heads, width } = this.config;
    const hd = width / heads;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(ids, [B, T]),
      attention_mask: int64(mask, [B, mask.length / B]),
      position_ids: int64(positions, [B, T]),
    };
    for (let i = 0; i < layers; i++) {
      for (const [j, kind] of ['key', 'value'].entries()) {
        feeds[`past_key_values.${i}.${kind}`] = cache?.[2 * i + j] ?? new ort.Tensor('float32', new Float32Array(0), [B, heads, 0, hd]);
      }
    }
    if (this.config.copyHead) {
      // The copy head's keys [B,1,P,C] and the tokens they point at [B,1,P,1] follow the layers' cache.
      feeds['past_copy.key'] = cache?.[2 * layers] ?? new ort.Tensor('float32', new Float32Array(0), [B, 1, 0, width]);
      feeds['past_copy.ids'] = cache?.[2 * layers + 1] ?? new ort.Tensor('float32', new Float32Array(0), [B, 1, 0, 1]);
    }
    return feeds;
  }

  private cacheFrom(out: ort.InferenceSession.OnnxValueMapType): ort.Tensor[] {
    const cache: ort.Tensor[] = [];
    for (let i = 0; i < this.config.layers; i++) cache.push(out[`present.${i}.key`] as ort.Tensor, out[`present.${i}.value`] as ort.Tensor);
    if (this.config.copyHead) cache.push(out['present_copy.key'] as ort.Tensor, out['present_copy.ids'] as ort.Tensor);
    return cache;
  }
}

/** Keep only some batch rows of every cache tensor ([B,H,S,hd], or the copy head's [B,1,S,·]). */
function compactRows(cache: ort.Tensor[], keep: number[]): ort.Tensor[] {
  return cache.map((t) => {
    const [B, H, S, hd] = t.dims;
    const rowSize = (t.data as Float32Array).length / B;
    const data = new Float32Array(keep.length * rowSize);
    keep.forEach((b, i) => data.set((t.data as Float32Array).subarray(b * rowSize, (b + 1) * rowSize), i * rowSize));
    return new ort.Tensor('float32', data, [keep.length, H, S, hd]);
  });
}

const concatFloats = (parts: Float32Array[]) => concatTyped(parts, (n) => new Float32Array(n));

/** Cache tensors of consecutive batch rows ([b_k,H,S,hd] each) as one [Σb_k,H,S,hd]. */
function joinRows(parts: ort.Tensor[]): ort.Tensor {
  const [, H, S, hd] = parts[0].dims;
  const rows = parts.reduce((n, t) => n + t.dims[0], 0);
  return new ort.Tensor('float32', concatFloats(parts.map((t) => t.data as Float32Array)), [rows, H, S, hd]);
}

/** log softmax(logits / temperature)[index]. */
export function logSoftmaxAt(logits: Float32Array, index: number, temperature = 1): number {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  let sum = 0;
  for (const l of logits) sum += Math.exp((l - max) / temperature);
  return (logits[index] - max) / temperature - Math.log(sum);
}

/** One draw: argmax at temperature 0, else softmax(logits / temperature) restricted to the top-p nucleus. */
export function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  const probs = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += probs[i] = Math.exp((logits[i] - max) / temperature);
  let order: number[];
  let mass = total;
  if (topP < 1) {
    order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
    let cumulative = 0;
    let cut = 0;
    while (cut < order.length && cumulative < topP * total) cumulative += probs[order[cut++]];
    order = order.slice(0, cut);
    mass = cumulative;
  } else order = Array.from(probs.keys());
  let u = rng.next() * mass;
  for (const id of order) {
    u -= probs[id];
    if (u < 0) return id;
  }
  return order[order.length - 1];
}

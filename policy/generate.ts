/**
 * Rollout inference: batched sampling from an exported policy on onnxruntime-node, with a KV cache. The loop
 * (`generateBatch`) drives any KV-cache graph (`KvDecoder`): the built-in transformer's (`OrtPolicy`, here) and a
 * pretrained LLM's (policy/llm/ort-engine.ts).
 *
 * Prompts are left-padded into one batch (the graph masks padding and counts causality over cache slots) and
 * prefilled a few rows per run to bound the attention scores' memory, then every decode step runs the whole batch
 * for one token. Finished rows are dropped from the batch and the cache. Where the decoder allows it, a prefix all
 * prompts share (an LLM chat's system message and examples) is prefilled once, and a batch too big for the KV
 * cache's memory bound runs as consecutive batches.
 * Each row samples from its own stream `Rng(seed).fork(row)` (or a label the caller gives it), so a row's tokens
 * do not depend on its neighbours; temperature 0 is greedy. Returned log-probs are those of the distribution
 * sampled from, log softmax(logits / T) before top-p (the model's own when greedy): the trainer's log π_T,
 * recomputed by the trainer for the loss anyway.
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
  /**
   * Stop strings count only after the text's first non-blank character: a chat model may open its reply with a
   * newline, which must not end an action whose stop is '\n' (apps) before it starts.
   */
  stopsAfterLeadingBlank?: boolean;
  seed: number;
  /**
   * Token ids that end generation (included in `tokens`, not in `text`). Default: OrtPolicy the tokenizer's eos,
   * an LLM policy its end-of-turn and eos ids (LoadedLlmPolicy), generateBatch none.
   */
  stopTokens?: number[];
  /**
   * Each row's random stream is `Rng(seed).fork(streams[row])` (default: the row's index). A caller whose batch
   * shrinks (finished episodes) labels rows by something stable, so a row's draws do not depend on who else runs.
   */
  streams?: readonly number[];
  /**
   * Called after every forward of the graph: each prefill run and each decode step. A long generation's sign of
   * life (rollout activities heartbeat here: one turn of 16 rows of 1,300-token LLM prompts takes tens of seconds).
   * An exception it throws (a cancelled activity) ends the generation.
   */
  onProgress?: (progress: GenerateProgress) => void;
}

/** Where a generation is: rows prefilled so far (of all rows), or decode steps done and rows in the last one. */
export type GenerateProgress = { stage: 'prefill'; rows: number; total: number } | { stage: 'decode'; step: number; running: number };

export interface Generation {
  tokens: number[];
  /** log π_T(token) = log softmax(logits / T), T = lossTemperature(temperature), before top-p; one per token. */
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

/** What turns sampled IDs back into text (the built-in Tokenizer, the LLM's LlmTokenizer). */
export interface Detokenizer {
  decode(ids: readonly number[]): string;
}

/**
 * A KV-cache graph as the batched sampler drives it: one forward over `ids` [B,T] after the cache (absent = empty)
 * with the attention mask [B, past+T] and position ids [B,T], giving logits ([B,T,V] or [B,1,V]: the sampler reads
 * each row's last V) and the new cache, a list of [B, ·, S, ·] tensors the sampler can drop and join rows of.
 */
export interface KvDecoder {
  readonly vocabSize: number;
  /** Longest sequence, prompt plus generated tokens. */
  readonly contextLength: number;
  /**
   * How many left-padded rows of `width` new tokens, after `past` cached ones, one prefill run may take (memory
   * bound), at least 1.
   */
  prefillRows(width: number, past?: number): number;
  /**
   * Prompts that all start with at least this many equal tokens prefill that prefix once, as one row, and share
   * its cache (a chat's system message and few-shot examples); absent = never. Only for graphs whose attention
   * takes a cache and several new tokens at once with padding between them.
   */
  readonly minSharedPrefix?: number;
  /**
   * How many rows of `slots` cache positions may decode together (the KV cache's memory bound); more prompts are
   * generated in consecutive batches. Absent = no bound.
   */
  maxRows?(slots: number): number;
  run(ids: number[], mask: number[], positions: number[], B: number, T: number, cache?: ort.Tensor[]): Promise<{ logits: Float32Array; cache: ort.Tensor[] }>;
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

export const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

/**
 * Batched sampling through any KV-cache graph: left padding, prefill a few rows per run, then one decode step per
 * token for the rows still running (finished rows leave the batch and the cache). The policy-independent loop of
 * OrtPolicy (the built-in transformer) and OrtLlmEngine (policy/llm/ort-engine.ts).
 */
export async function generateBatch(decoder: KvDecoder, prompts: number[][], opts: GenerateOptions, tokenizer?: Detokenizer): Promise<Generation[]> {
  const { contextLength, vocabSize: V } = decoder;
  if (opts.stopStrings?.length && !tokenizer) throw new Error('generate: stopStrings need a tokenizer');
  if (!(opts.topP > 0 && opts.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${opts.topP}`);
  if (opts.streams && opts.streams.length !== prompts.length) throw new Error(`generate: ${opts.streams.length} streams for ${prompts.length} prompts`);
  const stopTokens = new Set(opts.stopTokens ?? []);
  const results: Generation[] = new Array(prompts.length);
  if (prompts.length === 0) return results;
  for (const [i, prompt] of prompts.entries()) {
    if (prompt.length === 0) throw new Error(`generate: prompt ${i} is empty (start it with the bos token)`);
    if (prompt.length >= contextLength) {
      throw new Error(`generate: prompt ${i} has ${prompt.length} tokens; the model's context is ${contextLength} (shorten the context)`);
    }
  }
  const rowsAtOnce = decoder.maxRows ? Math.max(1, Math.floor(decoder.maxRows(Math.max(...prompts.map((p) => p.length)) + opts.maxTokens))) : prompts.length;
  if (prompts.length > rowsAtOnce) {
    // Consecutive batches; each row keeps its own stream, so it samples what it would in one batch.
    const streams = opts.streams ?? prompts.map((_, i) => i);
    for (let start = 0; start < prompts.length; start += rowsAtOnce) {
      const part = await generateBatch(decoder, prompts.slice(start, start + rowsAtOnce), { ...opts, streams: streams.slice(start, start + rowsAtOnce) }, tokenizer);
      part.forEach((g, i) => (results[start + i] = g));
    }
    return results;
  }
  const T = lossTemperature(opts.temperature);
  const stops = new StopStrings(opts.stopStrings ?? [], opts.stopsAfterLeadingBlank ?? false);

  // Prefill: the shared prefix once, then each prompt's rest left-padded to the longest rest.
  const shared = sharedPrefix(prompts, decoder.minSharedPrefix);
  const width = Math.max(...prompts.map((p) => p.length)) - shared;
  const rootRng = new Rng(opts.seed);
  let rows: Row[] = prompts.map((prompt, index) => {
    const pad = width - (prompt.length - shared);
    return {
      index,
      rng: rootRng.fork(opts.streams?.[index] ?? index),
      mask: [...new Array(shared).fill(1), ...new Array(pad).fill(0), ...new Array(prompt.length - shared).fill(1)],
      length: prompt.length,
      tokens: [],
      logProbs: [],
      text: '',
    };
  });
  let { logits, cache } = await prefill(decoder, prompts, rows, shared, width, opts.onProgress);
  let slots = shared + width;
  let step = 0;

  for (;;) {
    const keep: number[] = [];
    for (const [b, row] of rows.entries()) {
      const rowLogits = logits.subarray(b * V, (b + 1) * V);
      const token = sample(rowLogits, opts.temperature, opts.topP, row.rng);
      row.tokens.push(token);
      row.logProbs.push(logSoftmaxAt(rowLogits, token, T));
      row.length++;
      const finish = finishReason(row, token, stopTokens, stops, opts.maxTokens, contextLength, tokenizer);
      if (finish) results[row.index] = { tokens: row.tokens, logProbs: row.logProbs, text: row.text, finishReason: finish };
      else keep.push(b);
    }
    if (keep.length === 0) break;
    if (keep.length < rows.length) cache = compactRows(cache, keep);
    rows = keep.map((b) => rows[b]);

    for (const row of rows) row.mask.push(1);
    slots++;
    const out = await decoder.run(
      rows.map((r) => r.tokens[r.tokens.length - 1]),
      rows.flatMap((r) => r.mask),
      rows.map((r) => r.length - 1),
      rows.length,
      1,
      cache,
    );
    logits = lastPositions(out.logits, rows.length, V);
    cache = out.cache;
    opts.onProgress?.({ stage: 'decode', step: ++step, running: rows.length });
    if (slots % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve)); // let other episodes in
  }
  return results;
}

/**
 * The tokens every prompt starts with, when there are several prompts and at least `min` such tokens (else 0);
 * each prompt keeps at least one token of its own, whose logits start its reply.
 */
export function sharedPrefix(prompts: number[][], min: number | undefined): number {
  if (min === undefined || prompts.length < 2) return 0;
  const first = prompts[0];
  let n = Math.min(...prompts.map((p) => p.length)) - 1;
  for (const p of prompts) {
    let k = 0;
    while (k < n && p[k] === first[k]) k++;
    n = k;
  }
  return n >= min ? n : 0;
}

/**
 * The prompts' first forward pass: the shared prefix (if any) as one row, its cache copied to every row; then the
 * rests, left-padded, a few rows per run (`decoder.prefillRows`): a run's peak memory (attention scores, a
 * full-logits graph's [B,T,V]) grows with its rows, and ORT's arena keeps its peak (168 prompts of ~1000 tokens
 * in one run grew a process by ~8 GiB). Each row's numbers do not depend on its neighbours, so the runs' caches
 * are joined along the batch; only each row's last logits are kept ([B,V]).
 */
async function prefill(
  decoder: KvDecoder,
  prompts: number[][],
  rows: Row[],
  shared: number,
  width: number,
  onProgress?: GenerateOptions['onProgress'],
): Promise<{ logits: Float32Array; cache: ort.Tensor[] }> {
  const prefix = shared > 0 ? (await decoder.run(prompts[0].slice(0, shared), new Array(shared).fill(1), [...Array(shared).keys()], 1, shared)).cache : undefined;
  const perRun = Math.max(1, Math.floor(decoder.prefillRows(width, shared)));
  const runs: { logits: Float32Array; cache: ort.Tensor[] }[] = [];
  for (let start = 0; start < prompts.length; start += perRun) {
    const part = prompts.slice(start, start + perRun);
    const ids = part.flatMap((p) => [...new Array(width - p.length + shared).fill(0), ...p.slice(shared)]);
    const positions = part.flatMap((p) => [...new Array(width - p.length + shared).fill(0), ...p.slice(shared).map((_, t) => shared + t)]);
    const mask = rows.slice(start, start + perRun).flatMap((r) => r.mask);
    const out = await decoder.run(ids, mask, positions, part.length, width, prefix && repeatRows(prefix, part.length));
    runs.push({ logits: lastPositions(out.logits, part.length, decoder.vocabSize), cache: out.cache });
    onProgress?.({ stage: 'prefill', rows: start + part.length, total: prompts.length });
  }
  if (runs.length === 1) return runs[0];
  return { logits: concatFloats(runs.map((r) => r.logits)), cache: runs[0].cache.map((_, i) => joinRows(runs.map((r) => r.cache[i]))) };
}

/** A one-row cache ([1,H,S,hd] tensors) as `rows` equal rows. */
function repeatRows(cache: ort.Tensor[], rows: number): ort.Tensor[] {
  return cache.map((t) => {
    const [, H, S, hd] = t.dims;
    const row = t.data as Float32Array;
    const data = new Float32Array(rows * row.length);
    for (let b = 0; b < rows; b++) data.set(row, b * row.length);
    return new ort.Tensor('float32', data, [rows, H, S, hd]);
  });
}

/** Each row's logits at its last position ([B,V]) from logits laid out [B,T,V]; the same array when T = 1. */
function lastPositions(logits: Float32Array, B: number, V: number): Float32Array {
  const perRow = logits.length / B;
  if (perRow === V) return logits;
  const out = new Float32Array(B * V);
  for (let b = 0; b < B; b++) out.set(logits.subarray((b + 1) * perRow - V, (b + 1) * perRow), b * V);
  return out;
}

/**
 * Stop strings, checked on the decoded text after every token. Only the text's tail can hold a new match: the
 * part of it before the previous check's end, less the longest stop and a few characters an incomplete UTF-8
 * sequence may have rendered as U+FFFD, was already searched.
 */
class StopStrings {
  private readonly longest: number;

  constructor(
    private readonly stops: readonly string[],
    private readonly afterLeadingBlank: boolean,
  ) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  get any(): boolean {
    return this.stops.length > 0;
  }

  /** Where the text ends at its first stop string (the end of the stop that ends first), or -1. */
  cut(text: string, previousLength: number): number {
    let from = Math.max(0, previousLength - this.longest - 4);
    if (this.afterLeadingBlank) {
      const start = text.search(/\S/);
      if (start < 0) return -1;
      from = Math.max(from, start);
    }
    let cut = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop, from);
      if (at >= 0 && (cut < 0 || at + stop.length < cut)) cut = at + stop.length;
    }
    return cut;
  }
}

function finishReason(
  row: Row,
  token: number,
  stopTokens: Set<number>,
  stops: StopStrings,
  maxTokens: number,
  contextLength: number,
  tokenizer?: Detokenizer,
): Generation['finishReason'] | undefined {
  // A stop token ends the text before it (an LLM's `<|im_end|>` would otherwise decode as text).
  if (stopTokens.has(token)) return 'stop';
  const previous = row.text.length;
  if (tokenizer) row.text = tokenizer.decode(row.tokens);
  if (stops.any) {
    const cut = stops.cut(row.text, previous);
    if (cut >= 0) {
      row.text = row.text.slice(0, cut);
      return 'stop';
    }
  }
  if (row.tokens.length >= maxTokens || row.length >= contextLength) return 'length';
  return undefined;
}

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

  /** Batched sampling (generateBatch); stop tokens default to the tokenizer's eos. */
  generate(prompts: number[][], opts: GenerateOptions, tokenizer?: Tokenizer): Promise<Generation[]> {
    const stopTokens = opts.stopTokens ?? (tokenizer ? [tokenizer.eos] : []);
    return generateBatch(this.decoder(), prompts, { ...opts, stopTokens }, tokenizer);
  }

  private decoder(): KvDecoder {
    const { contextLength, vocabSize, heads } = this.config;
    return {
      contextLength,
      vocabSize,
      prefillRows: (width, past = 0) => this.maxPrefillScores / (heads * width * (past + width)),
      run: async (ids, mask, positions, B, T, cache) => {
        const out = await this.session.run(this.feeds(ids, mask, positions, B, T, cache));
        return { logits: out.logits.data as Float32Array, cache: this.cacheFrom(out) };
      },
    };
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
  if (topP >= 1) {
    let u = rng.next() * total;
    for (let i = 0; i < probs.length; i++) {
      u -= probs[i];
      if (u < 0) return i;
    }
    return probs.length - 1;
  }
  const { order, mass } = nucleus(probs, total, topP);
  let u = rng.next() * mass;
  for (const id of order) {
    u -= probs[id];
    if (u < 0) return id;
  }
  return order[order.length - 1];
}

/**
 * The top-p nucleus: the most probable ids (ties by id) until their mass reaches topP · total. Sorting a large
 * vocabulary per token is slow (16 ms at 49k ids), so the ids above a threshold are sorted first: they are the
 * head of the full order, so when their mass reaches the target the nucleus is the same; else a lower threshold.
 */
function nucleus(probs: Float64Array, total: number, topP: number): { order: number[]; mass: number } {
  for (const fraction of [1e-3, 1e-6, 0]) {
    const threshold = fraction * total;
    const candidates: number[] = [];
    for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold) candidates.push(i);
    candidates.sort((a, b) => probs[b] - probs[a] || a - b);
    let cumulative = 0;
    let cut = 0;
    while (cut < candidates.length && cumulative < topP * total) cumulative += probs[candidates[cut++]];
    if (cumulative >= topP * total || fraction === 0) return { order: candidates.slice(0, cut), mass: cumulative };
  }
  throw new Error('unreachable');
}

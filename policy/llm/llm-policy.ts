/**
 * What a rollout worker holds for one published version of an LLM policy (issue 27): the ORT engine over the
 * version's fp32 ONNX graph (an artifact, ~650 MB for SmolLM2-135M) and the tokenizer of the run's model
 * (`config.agent.policy.model`), which every version shares.
 *
 * `LlmPolicyCache` keeps at most `capacity` versions loaded (default 1: each is a 650 MB session, and a run's
 * rollouts and evaluations mostly ask for the newest), keyed by the artifact's sha256 like trainer/policy-bundle.ts's
 * PolicyCache. A version evicted while a rollout still uses it (`LoadedLlmPolicy.using`) is released when that rollout
 * ends, not under it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArtifactStore } from '../../common/artifacts';
import { VersionCache } from '../../common/version-cache';
import type { Generation, GenerateOptions } from '../generate';
import { readGgufHeader } from './gguf';
import { ModelRefError, resolveModelRef, type ResolvedModel } from './models';
import { OrtLlmEngine } from './ort-engine';
import { loadLlmTokenizer, type LlmTokenizer } from './tokenizer';

/** The model's shape facts the engine needs beside the graph: its context window and query heads. */
export interface LlmModelFacts {
  contextLength: number;
  attentionHeads?: number;
}

/**
 * The context length (and query heads) of a model: GGUF `<arch>.context_length` / `<arch>.attention.head_count`,
 * or config.json's `max_position_embeddings` / `num_attention_heads`.
 */
export function llmModelFacts(model: ResolvedModel): LlmModelFacts {
  if (model.kind === 'hf') {
    const config = JSON.parse(readFileSync(join(model.path, 'config.json'), 'utf8')) as { max_position_embeddings?: number; num_attention_heads?: number };
    if (!config.max_position_embeddings) throw new ModelRefError(`model "${model.ref}": config.json has no max_position_embeddings`);
    return { contextLength: config.max_position_embeddings, attentionHeads: config.num_attention_heads };
  }
  if (!existsSync(model.path)) throw new ModelRefError(`model "${model.ref}" is not pulled (${model.path}): run \`npm run ratchet -- models pull ${model.ref}\``);
  const keys = [`${model.architecture}.context_length`, `${model.architecture}.attention.head_count`];
  const header = readGgufHeader(model.path, { keys });
  const [contextLength, heads] = keys.map((k) => header.metadata.get(k));
  if (typeof contextLength !== 'number' && typeof contextLength !== 'bigint') throw new ModelRefError(`model "${model.ref}": the GGUF has no ${keys[0]}`);
  return { contextLength: Number(contextLength), attentionHeads: typeof heads === 'number' || typeof heads === 'bigint' ? Number(heads) : undefined };
}

export interface LlmPolicyOptions {
  /** ORT threads (default every core: the cpu pool runs one LLM rollout at a time). */
  intraOpNumThreads?: number;
  /** Overrides the model's context window (a shorter one bounds prompt memory). */
  contextLength?: number;
}

/** One loaded version: the engine, the tokenizer, and a count of the rollouts using it. */
export class LoadedLlmPolicy {
  private users = 0;
  private released?: Promise<void>;
  private releaseWhenIdle = false;

  constructor(
    readonly engine: OrtLlmEngine,
    readonly tokenizer: LlmTokenizer,
  ) {}

  get contextLength(): number {
    return this.engine.contextLength;
  }

  /** Sample replies (token IDs in, text and IDs out); stops default to the tokenizer's end-of-turn / eos IDs. */
  async generate(prompts: number[][], opts: GenerateOptions): Promise<Generation[]> {
    if (this.released) throw new Error('LoadedLlmPolicy: this version was released');
    return this.engine.generate(prompts, { ...opts, stopTokens: opts.stopTokens ?? [...this.tokenizer.stopIds] }, this.tokenizer);
  }

  /** Run `fn` with the version held: a release asked meanwhile (an eviction) waits for every holder to end. */
  async using<T>(fn: (policy: LoadedLlmPolicy) => Promise<T>): Promise<T> {
    if (this.released) throw new Error('LoadedLlmPolicy: this version was released');
    this.users++;
    try {
      return await fn(this);
    } finally {
      if (--this.users === 0 && this.releaseWhenIdle) void this.release();
    }
  }

  /** Free the session now, or when the last `using` ends. */
  release(): Promise<void> {
    if (this.users > 0) {
      this.releaseWhenIdle = true;
      return Promise.resolve();
    }
    this.released ??= this.engine.release();
    return this.released;
  }
}

/** Load a version from its graph (artifact bytes or a file) with the model's tokenizer. */
export async function loadLlmPolicy(graph: Uint8Array | string, model: ResolvedModel, tokenizer: LlmTokenizer, opts: LlmPolicyOptions = {}): Promise<LoadedLlmPolicy> {
  const facts = llmModelFacts(model);
  const engine = await OrtLlmEngine.load(graph, {
    contextLength: opts.contextLength ?? facts.contextLength,
    attentionHeads: facts.attentionHeads,
    intraOpNumThreads: opts.intraOpNumThreads,
  });
  if (engine.vocabSize < tokenizer.vocabSize) {
    await engine.release();
    throw new Error(`the policy graph's vocabulary (${engine.vocabSize}) is smaller than the tokenizer's (${tokenizer.vocabSize}) of ${model.ref}: not this model's graph`);
  }
  return new LoadedLlmPolicy(engine, tokenizer);
}

/** A small per-process cache of loaded LLM versions, keyed by sha256 (a key is never trusted without its hash). */
export class LlmPolicyCache {
  private readonly versions: VersionCache<LoadedLlmPolicy>;
  private readonly tokenizers = new Map<string, { model: ResolvedModel; tokenizer: LlmTokenizer }>();

  constructor(
    private readonly store: ArtifactStore,
    capacity = 1,
    private readonly opts: LlmPolicyOptions = {},
  ) {
    this.versions = new VersionCache(capacity, (p) => p.release());
  }

  /** The version `ref` of the policy over `modelRef` (`config.agent.policy.model`), loaded once. */
  get(ref: { key: string; sha256: string }, modelRef: string): Promise<LoadedLlmPolicy> {
    return this.versions.get(ref.sha256, async () => {
      const { model, tokenizer } = this.tokenizerFor(modelRef);
      return loadLlmPolicy(await this.store.get(ref.key, ref.sha256), model, tokenizer, this.opts);
    });
  }

  /** Release every loaded version (each when its rollouts end); the cache stays usable. */
  clear(): Promise<void> {
    return this.versions.clear();
  }

  private tokenizerFor(modelRef: string) {
    let entry = this.tokenizers.get(modelRef);
    if (!entry) {
      const model = resolveModelRef(modelRef);
      entry = { model, tokenizer: loadLlmTokenizer(model) };
      this.tokenizers.set(modelRef, entry);
    }
    return entry;
  }
}

/**
 * One loaded policy version as the server drives it, whichever its kind: the built-in text agent (OrtPolicy and
 * its word tokenizer, trainer/policy-bundle.ts) or a pretrained LLM (OrtLlmEngine and its Hugging Face tokenizer,
 * policy/llm/llm-policy.ts). Generation is the engines' own (policy/generate.ts generateBatch), so a request
 * samples exactly what the in-process rollout samples for the same prompt IDs, seed and options.
 *
 * `logitsAlong` replays a generated reply through the graph, one token at a time after the prompt (a KV-cache
 * decode like the sampler's), for the top-k log-probs OpenAI's `logprobs` / `top_logprobs` ask for; the sampled
 * tokens' own log-probs always come from the sampler.
 */
import type * as ort from 'onnxruntime-node';
import type { GenerateOptions, Generation } from '../policy/generate';
import type { LoadedLlmPolicy } from '../policy/llm/llm-policy';
import type { ChatMessage } from '../policy/llm/tokenizer';
import type { LoadedPolicy } from '../trainer/policy-bundle';

export interface ServedPolicy {
  readonly kind: 'builtin' | 'llm';
  /** Longest sequence, prompt plus reply. */
  readonly contextLength: number;
  /** Prompt token IDs must be below this (the tokenizer can decode them and the graph embed them). */
  readonly vocabSize: number;
  /** What ends a reply unless the request says `ignore_eos`: the built-in's eos, an LLM's end-of-turn and eos. */
  readonly stopIds: readonly number[];
  /**
   * Token IDs of a text prompt. The built-in policy's prompts start with bos (trainer/prompt.ts), added when
   * `addSpecialTokens`; an LLM's text is encoded as its rollouts encode it (the tokenizer adds no specials).
   */
  encodePrompt(text: string, addSpecialTokens: boolean): number[];
  /** The IDs of a chat rendered with the model's template (undefined: the policy has no chat template). */
  readonly chatPrompt?: (messages: readonly ChatMessage[], addGenerationPrompt: boolean) => number[];
  decode(ids: readonly number[]): string;
  /** One token as text, for `tokens` / `top_logprobs` keys. */
  tokenText(id: number): string;
  generate(prompts: number[][], opts: GenerateOptions): Promise<Generation[]>;
  /** The logits before each of `tokens` after `prompt` (one [V] array per token). */
  logitsAlong(prompt: readonly number[], tokens: readonly number[]): Promise<Float32Array[]>;
}

const lastRow = (logits: Float32Array, V: number) => logits.subarray(logits.length - V);

export function servedBuiltin({ policy, tokenizer }: LoadedPolicy): ServedPolicy {
  const V = policy.config.vocabSize;
  return {
    kind: 'builtin',
    contextLength: policy.config.contextLength,
    vocabSize: Math.min(V, tokenizer.vocabSize),
    stopIds: [tokenizer.eos],
    encodePrompt: (text, addSpecialTokens) => [...(addSpecialTokens ? [tokenizer.bos] : []), ...tokenizer.encode(text)],
    decode: (ids) => tokenizer.decode(ids),
    tokenText: (id) => tokenizer.tokenText(id),
    generate: (prompts, opts) => policy.generate(prompts, opts, tokenizer),
    logitsAlong: async (prompt, tokens) => {
      const out: Float32Array[] = [];
      let step = await policy.forward([[...prompt]]);
      let length = prompt.length;
      for (const [i, token] of tokens.entries()) {
        out.push(lastRow(step.logits, V).slice());
        if (i === tokens.length - 1) break;
        step = await policy.forward([[token]], { cache: step.cache, length });
        length++;
      }
      return out;
    },
  };
}

export function servedLlm(policy: LoadedLlmPolicy): ServedPolicy {
  const { engine, tokenizer } = policy;
  const V = engine.vocabSize;
  const run = (ids: number[], past: number, cache?: ort.Tensor[]) =>
    engine.run(ids, new Array(past + ids.length).fill(1), ids.map((_, t) => past + t), 1, ids.length, cache);
  return {
    kind: 'llm',
    contextLength: policy.contextLength,
    vocabSize: tokenizer.vocabSize,
    stopIds: tokenizer.stopIds,
    encodePrompt: (text) => tokenizer.encode(text),
    chatPrompt: tokenizer.hasChatTemplate ? (messages, addGenerationPrompt) => tokenizer.encode(tokenizer.renderChat(messages, { addGenerationPrompt })) : undefined,
    decode: (ids) => tokenizer.decode(ids),
    tokenText: (id) => tokenizer.decode([id]),
    // Held while it runs: an eviction meanwhile releases the session when the request ends, not under it.
    generate: (prompts, opts) => policy.using((p) => p.generate(prompts, opts)),
    logitsAlong: (prompt, tokens) =>
      policy.using(async () => {
        const out: Float32Array[] = [];
        let step = await run([...prompt], 0);
        let length = prompt.length;
        for (const [i, token] of tokens.entries()) {
          out.push(lastRow(step.logits, V).slice());
          if (i === tokens.length - 1) break;
          step = await run([token], length, step.cache);
          length++;
        }
        return out;
      }),
  };
}

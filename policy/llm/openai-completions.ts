/**
 * The completions API as the `openai` rollout engine speaks it (policy/llm/openai-engine.ts): the request for one
 * prompt, and the sampled token IDs and log-probs read back from one choice, per server protocol.
 *
 * - `vllm` / `ratchet`: the prompt goes out as token IDs; `return_token_ids` brings back the sampled IDs
 *   (`choices[].token_ids`), `logprobs: 1` their log-probs (`logprobs.token_logprobs`). A server that returns
 *   `logprobs.tokens` as `token_id:<id>` (vLLM's `return_tokens_as_token_ids`) is read from those instead.
 * - `llama-cpp` (llama-cpp-python's server): it takes text prompts only and returns token pieces, not IDs. The prompt
 *   goes out as the decoded IDs; the engine checks the server's tokenization of it (`/extras/tokenize`) against the
 *   IDs. Each reply piece maps back to the one ID that decodes to it; a piece several IDs decode to (or none) is
 *   refused, and so is a reply whose pieces are fewer than the server's `usage.completion_tokens` (it leaves out
 *   BOS tokens). Not `echo`: with it, llama-cpp-python pairs each prompt token with the right log-prob only when the
 *   prompt starts with BOS, and it leaves out every BOS-equal token (SmolLM2's `<|im_start|>`).
 *
 * Stops are applied here, on the returned IDs, with the in-process engine's rule (policy/generate.ts): the reply
 * ends at its first stop token (kept in the IDs, not in the text) or at the first token whose text completes a stop
 * string (cut after it); stop strings count after the first non-blank character when asked. A server that ran past
 * a stop (it had no such rule) only cost tokens: the tail is dropped.
 */
import type { GenerateOptions, Generation } from '../generate';

export type ServerProtocol = 'vllm' | 'ratchet' | 'llama-cpp';

/** What the engine needs of the tokenizer: decoding IDs (the reply's text, a llama-cpp prompt). */
export interface PieceTokenizer {
  decode(ids: readonly number[]): string;
  readonly vocabSize: number;
  /** llama-cpp: the BOS token, which llama-cpp-python's echo treats apart. */
  readonly bosId?: number;
}

/** The body of one `POST /completions` (the `openai` client's params plus the servers' extra fields). */
export type CompletionBody = Record<string, unknown> & { model: string; prompt: number[] | string; max_tokens: number };

/** The request for one prompt. `seed` is the row's own (each row keeps its stream whatever the batch). */
export function completionBody(
  protocol: ServerProtocol,
  model: string,
  prompt: readonly number[],
  opts: Pick<GenerateOptions, 'temperature' | 'topP' | 'maxTokens' | 'stopStrings' | 'stopsAfterLeadingBlank' | 'stopTokens'>,
  seed: number,
  tokenizer: PieceTokenizer,
): CompletionBody {
  // Server-side stops only save tokens (cutAtStops applies them all); a server cannot apply "after the first
  // non-blank character", so then they are applied here only.
  const serverStops = opts.stopsAfterLeadingBlank ? [] : (opts.stopStrings ?? []);
  const common = {
    model,
    max_tokens: opts.maxTokens,
    temperature: opts.temperature,
    top_p: opts.topP,
    seed,
    logprobs: 1,
    n: 1,
    stream: false,
    ...(serverStops.length ? { stop: [...serverStops] } : {}),
  };
  if (protocol === 'llama-cpp') {
    // llama-cpp-python's own defaults (top_k 40, min_p 0.05, repeat_penalty 1.1) would change the distribution.
    return { ...common, prompt: tokenizer.decode(prompt), top_k: 0, min_p: 0, repeat_penalty: 1 };
  }
  return {
    ...common,
    prompt: [...prompt],
    return_token_ids: true,
    skip_special_tokens: false,
    include_stop_str_in_output: true,
    ...(opts.stopTokens?.length ? { stop_token_ids: [...opts.stopTokens] } : {}),
  };
}

/** Whether the server's stop is not explained by the reply: no stop token in it and no stop string in its text. */
export function stoppedUnseen(reply: SampledReply, opts: Pick<GenerateOptions, 'stopStrings' | 'stopsAfterLeadingBlank' | 'stopTokens'>, tokenizer: Pick<PieceTokenizer, 'decode'>): boolean {
  return reply.finishReason === 'stop' && cutAtStops({ ...reply, finishReason: 'length' }, opts, tokenizer).finishReason !== 'stop';
}

/** The parts of a completion choice the engine reads (the `openai` client's CompletionChoice plus extra fields). */
export interface ChoiceJson {
  text?: string;
  finish_reason?: string | null;
  token_ids?: number[] | null;
  prompt_token_ids?: number[] | null;
  logprobs?: { tokens?: string[] | null; token_logprobs?: (number | null)[] | null; top_logprobs?: (Record<string, number> | null)[] | null } | null;
}

/** A reply as the server sampled it: IDs and their log-probs, and why the server stopped. */
export interface SampledReply {
  tokens: number[];
  logProbs: number[];
  finishReason: 'stop' | 'length';
}

/** A server's reply that training cannot use (missing IDs or log-probs, a tokenization that differs). */
export class ServerReplyError extends Error {
  override name = 'ServerReplyError';
}

const TOKEN_ID_PIECE = /^token_id:(\d+)$/;

/**
 * Read one choice: the sampled IDs and their log-probs. llama-cpp: `completionTokens` is the response's
 * `usage.completion_tokens`, which the pieces must account for.
 */
export function parseChoice(protocol: ServerProtocol, choice: ChoiceJson, pieces?: PieceIndex, completionTokens?: number): SampledReply {
  const finishReason = choice.finish_reason === 'length' ? 'length' : 'stop';
  const logProbs = choice.logprobs?.token_logprobs;
  if (!Array.isArray(logProbs)) throw new ServerReplyError('the server returned no logprobs.token_logprobs (it must return per-token log-probs for `logprobs: 1`)');
  let tokens: number[];
  if (protocol === 'llama-cpp') {
    tokens = piecesToIds(choice.logprobs?.tokens, pieces);
    if (completionTokens !== undefined && tokens.length !== completionTokens) {
      throw new ServerReplyError(`the server sampled ${completionTokens} tokens but listed ${tokens.length} (llama-cpp-python leaves BOS tokens out of a reply): the row cannot be known`);
    }
  } else if (Array.isArray(choice.token_ids)) {
    tokens = choice.token_ids;
  } else if (choice.logprobs?.tokens?.every((t) => TOKEN_ID_PIECE.test(t))) {
    tokens = choice.logprobs.tokens.map((t) => Number(TOKEN_ID_PIECE.exec(t)![1]));
  } else {
    throw new ServerReplyError('the server returned no token IDs (vLLM: `return_token_ids` needs vLLM >= 0.10.2, or start it with --return-tokens-as-token-ids)');
  }
  if (logProbs.length !== tokens.length) throw new ServerReplyError(`the server returned ${tokens.length} token IDs but ${logProbs.length} log-probs`);
  const values = logProbs.map((v, i) => {
    if (typeof v !== 'number' || Number.isNaN(v) || v > 1e-6) throw new ServerReplyError(`log-prob ${i} of the reply is ${v}, not a log-probability`);
    return Math.min(v, 0);
  });
  for (const id of tokens) if (!Number.isInteger(id) || id < 0) throw new ServerReplyError(`the server returned token ID ${id}`);
  return { tokens, logProbs: values, finishReason };
}

/** Each token piece's ID, for servers that return pieces: a piece that several IDs (or none) decode to is ambiguous. */
export class PieceIndex {
  private readonly byPiece = new Map<string, number | 'ambiguous'>();

  constructor(tokenizer: PieceTokenizer) {
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      const piece = tokenizer.decode([id]);
      this.byPiece.set(piece, this.byPiece.has(piece) ? 'ambiguous' : id);
    }
  }

  idOf(piece: string, at: number): number {
    const id = this.byPiece.get(piece);
    if (id === undefined) throw new ServerReplyError(`token ${at} "${piece}" is no single token of the policy's tokenizer: the server's vocabulary differs`);
    if (id === 'ambiguous') {
      throw new ServerReplyError(`token ${at} "${piece}" decodes from several token IDs, so its ID cannot be known from the text: use a server that returns token IDs (vllm, ratchet)`);
    }
    return id;
  }
}

function piecesToIds(pieces: string[] | null | undefined, index: PieceIndex | undefined): number[] {
  if (!Array.isArray(pieces)) throw new ServerReplyError('the server returned no logprobs.tokens');
  if (!index) throw new Error('parseChoice: llama-cpp replies need a PieceIndex');
  return pieces.map((piece, i) => index.idOf(piece, i));
}

/**
 * The reply cut at its first stop, as generateBatch stops: a stop token ends it (kept, not in the text); else the
 * first token after which the text holds a stop string (after the first non-blank character when asked) ends it,
 * the text cut after the stop. `finishReason` is the server's when no stop is found.
 */
export function cutAtStops(
  reply: SampledReply,
  opts: Pick<GenerateOptions, 'stopStrings' | 'stopsAfterLeadingBlank' | 'stopTokens'>,
  tokenizer: Pick<PieceTokenizer, 'decode'>,
): Generation {
  const stopTokens = new Set(opts.stopTokens ?? []);
  const stops = opts.stopStrings ?? [];
  for (let k = 0; k < reply.tokens.length; k++) {
    if (stopTokens.has(reply.tokens[k])) {
      return { tokens: reply.tokens.slice(0, k + 1), logProbs: reply.logProbs.slice(0, k + 1), text: tokenizer.decode(reply.tokens.slice(0, k)), finishReason: 'stop' };
    }
    if (stops.length === 0) continue;
    const text = tokenizer.decode(reply.tokens.slice(0, k + 1));
    const cut = stopCut(text, stops, opts.stopsAfterLeadingBlank ?? false);
    if (cut >= 0) return { tokens: reply.tokens.slice(0, k + 1), logProbs: reply.logProbs.slice(0, k + 1), text: text.slice(0, cut), finishReason: 'stop' };
  }
  return { tokens: reply.tokens, logProbs: reply.logProbs, text: tokenizer.decode(reply.tokens), finishReason: reply.finishReason };
}

/** Where the text ends at its first stop string (the end of the stop that ends first), or -1. */
function stopCut(text: string, stops: readonly string[], afterLeadingBlank: boolean): number {
  let from = 0;
  if (afterLeadingBlank) {
    from = text.search(/\S/);
    if (from < 0) return -1;
  }
  let cut = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop, from);
    if (at >= 0 && (cut < 0 || at + stop.length < cut)) cut = at + stop.length;
  }
  return cut;
}

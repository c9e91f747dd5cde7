/**
 * The request bodies `ratchet serve` accepts, as vLLM's OpenAI-compatible server reads them
 * (vllm/entrypoints/openai/completion/protocol.py, chat_completion/protocol.py, serve/lora/protocol.py), validated
 * where they enter. Unknown fields are ignored, as vLLM does; a known field this server cannot honour (streaming,
 * penalties, beam search, ...) set to anything but its neutral value is refused with a 400 that names it, rather
 * than silently sampling something else than asked.
 */
import { z } from 'zod';
import { badRequest } from './errors';

const tokenId = z.int().min(0);
const stop = z.union([z.string(), z.array(z.string())]).nullish();

/** Sampling fields the two generation endpoints share. */
const sampling = {
  model: z.string().nullish(),
  temperature: z.number().min(0).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  seed: z.int().nullish(),
  stop,
  stop_token_ids: z.array(tokenId).nullish(),
  n: z.int().min(1).max(64).nullish(),
  ignore_eos: z.boolean().nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  skip_special_tokens: z.boolean().nullish(),
  return_token_ids: z.boolean().nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
};

const completion = z.object({
  ...sampling,
  prompt: z.union([z.string().min(1), z.array(z.string()).min(1), z.array(tokenId).min(1), z.array(z.array(tokenId).min(1)).min(1)], {
    error: 'must be a string, a list of strings, a list of token IDs (integers >= 0) or a list of such lists, not empty',
  }),
  max_tokens: z.int().min(1).nullish(),
  logprobs: z.int().min(0).max(20).nullish(),
  add_special_tokens: z.boolean().nullish(),
});

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const message = z.object({
  role: z.string().min(1),
  content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
});

const chat = z.object({
  ...sampling,
  messages: z.array(message).min(1),
  max_tokens: z.int().min(1).nullish(),
  max_completion_tokens: z.int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
  add_generation_prompt: z.boolean().nullish(),
});

const loadLora = z.object({ lora_name: z.string().nullish(), lora_path: z.string().nullish(), load_inplace: z.boolean().nullish() });
const unloadLora = z.object({ lora_name: z.string().nullish() });

export type CompletionRequest = z.infer<typeof completion>;
export type ChatRequest = z.infer<typeof chat>;
export type ChatMessageInput = z.infer<typeof message>;
export type LoadLoraRequest = z.infer<typeof loadLora>;
export type UnloadLoraRequest = z.infer<typeof unloadLora>;

/** Fields with their neutral values: any other value is refused (`ratchet serve` samples without them). */
const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  stream: (v) => v === false,
  echo: (v) => v === false,
  suffix: (v) => v === '',
  best_of: (v) => v === 1,
  use_beam_search: (v) => v === false,
  frequency_penalty: (v) => v === 0,
  presence_penalty: (v) => v === 0,
  repetition_penalty: (v) => v === 1,
  logit_bias: (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0,
  top_k: (v) => v === 0 || v === -1,
  min_p: (v) => v === 0,
  min_tokens: (v) => v === 0,
  prompt_logprobs: (v) => v === 0,
  allowed_token_ids: (v) => Array.isArray(v) && v.length === 0,
  bad_words: (v) => Array.isArray(v) && v.length === 0,
  response_format: (v) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'text',
  tools: (v) => Array.isArray(v) && v.length === 0,
  continue_final_message: (v) => v === false,
};

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  for (const [field, neutral] of Object.entries(NEUTRAL)) {
    const value = (body as Record<string, unknown>)[field];
    if (value !== undefined && value !== null && !neutral(value)) {
      throw badRequest(`'${field}' is not supported by ratchet serve (got ${JSON.stringify(value)}); leave it unset`, field);
    }
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.map(String);
  throw badRequest(`${path.length ? `'${path.join('.')}'` : 'request'}: ${issue.message}`, path[0] ?? null);
}

export const parseCompletionRequest = (body: unknown): CompletionRequest => parse(completion, body);
export const parseChatRequest = (body: unknown): ChatRequest => parse(chat, body);
export const parseLoadLoraRequest = (body: unknown): LoadLoraRequest => parse(loadLora, body);
export const parseUnloadLoraRequest = (body: unknown): UnloadLoraRequest => parse(unloadLora, body);

/** The sampling settings both generation endpoints read the same way (vLLM's defaults where a field is absent). */
export function sharedSampling(request: CompletionRequest | ChatRequest) {
  return {
    n: request.n ?? 1,
    temperature: request.temperature ?? 1,
    topP: request.top_p ?? 1,
    seed: request.seed ?? undefined,
    stop: stopStrings(request.stop),
    stopTokenIds: request.stop_token_ids ?? [],
    ignoreEos: request.ignore_eos ?? false,
    includeStopString: request.include_stop_str_in_output ?? false,
  };
}

/** The stop strings of a request, as a list (vLLM takes one string or a list; empty strings never match). */
export function stopStrings(value: string | string[] | null | undefined): string[] {
  const list = value === null || value === undefined ? [] : typeof value === 'string' ? [value] : value;
  if (list.some((s) => s.length === 0)) throw badRequest("'stop': stop strings must not be empty", 'stop');
  return list;
}

/** A message's text: its string content, or its text parts joined (vLLM's default "string" content format). */
export function messageText(m: ChatMessageInput): string {
  if (typeof m.content === 'string') return m.content;
  if (!m.content) return '';
  return m.content.map((p) => p.text).join('\n');
}

/**
 * `POST /v1/completions`, as vLLM answers it: `prompt` a string, a list of strings, a list of token IDs or a list
 * of such lists; `logprobs` (int) in OpenAI's legacy format (`tokens`, `token_logprobs`, `top_logprobs`,
 * `text_offset`); with vLLM's `return_token_ids`, each choice carries its sampled `token_ids` and its
 * `prompt_token_ids` (vLLM puts the prompt's IDs in the choice, not the response, for completions).
 */
import { randomUUID } from 'node:crypto';
import type { ServedModels } from './models';
import type { PolicyStore } from './policy-store';
import { parseCompletionRequest, sharedSampling, type CompletionRequest } from './requests';
import { sample, type SampledChoice } from './sampling';
import type { ServedPolicy } from './served-policy';

export interface ServeContext {
  models: ServedModels;
  policies: PolicyStore;
}

/** vLLM's default reply length for completions. */
const DEFAULT_MAX_TOKENS = 16;

export async function createCompletion(ctx: ServeContext, body: unknown) {
  const request = parseCompletionRequest(body);
  const policy = await ctx.policies.load(await ctx.models.resolve(request.model));
  const prompts = promptIds(policy, request);
  const choices = await sample(policy, {
    prompts,
    ...sharedSampling(request),
    maxTokens: request.max_tokens ?? DEFAULT_MAX_TOKENS,
    topLogprobs: request.logprobs ?? undefined,
  });
  const withIds = request.return_token_ids === true;
  const completionTokens = choices.reduce((n, c) => n + c.tokens.length, 0);
  const promptTokens = prompts.reduce((n, p) => n + p.length, 0);
  return {
    id: `cmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'text_completion' as const,
    created: Math.floor(Date.now() / 1000),
    model: request.model ?? ctx.models.runId,
    choices: choices.map((c) => ({
      index: c.index,
      text: c.text,
      logprobs: c.top ? legacyLogprobs(policy, c, request.return_tokens_as_token_ids === true) : null,
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
      token_ids: withIds ? c.tokens : null,
      prompt_logprobs: null,
      prompt_token_ids: withIds ? prompts[c.promptIndex] : null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens + completionTokens, completion_tokens: completionTokens, prompt_tokens_details: null },
    kv_transfer_params: null,
  };
}

function promptIds(policy: ServedPolicy, request: CompletionRequest): number[][] {
  const { prompt } = request;
  const addSpecial = request.add_special_tokens ?? true;
  if (typeof prompt === 'string') return [policy.encodePrompt(prompt, addSpecial)];
  if (prompt.every((p) => typeof p === 'string')) return (prompt as string[]).map((p) => policy.encodePrompt(p, addSpecial));
  if (prompt.every((p) => typeof p === 'number')) return [prompt as number[]];
  return prompt as number[][];
}

/** OpenAI's legacy completions log-probs: one entry per sampled token. */
function legacyLogprobs(policy: ServedPolicy, c: SampledChoice, asIds: boolean) {
  const text = (id: number) => (asIds ? `token_id:${id}` : policy.tokenText(id));
  return {
    text_offset: c.tokens.map((_, i) => Math.min(policy.decode(c.tokens.slice(0, i)).length, c.text.length)),
    token_logprobs: c.logProbs,
    tokens: c.tokens.map(text),
    top_logprobs: c.tokens.map((id, i) => {
      // The top-k alternatives and the sampled token, whose log-prob is the sampler's own.
      const entries: Record<string, number> = {};
      for (const t of c.top![i]) entries[text(t.id)] = t.logprob;
      entries[text(id)] = c.logProbs[i];
      return entries;
    }),
  };
}

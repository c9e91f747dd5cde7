/**
 * `POST /v1/chat/completions`, as vLLM answers it: the messages rendered with the model's own chat template (the
 * one the LLM rollouts use, policy/llm/tokenizer.ts renderChat) and encoded without added specials; `logprobs:
 * true` with `top_logprobs` gives OpenAI's `choices[i].logprobs.content`; with `return_token_ids` each choice
 * carries `token_ids` and the response `prompt_token_ids` (where vLLM puts them for chat). A built-in policy has
 * no chat template: it takes /v1/completions.
 */
import { randomUUID } from 'node:crypto';
import type { ServeContext } from './completions';
import { badRequest } from './errors';
import { versionName } from './policy-store';
import { messageText, parseChatRequest, sharedSampling } from './requests';
import { sample } from './sampling';

export async function createChatCompletion(ctx: ServeContext, body: unknown) {
  const request = parseChatRequest(body);
  if (request.top_logprobs && !request.logprobs) throw badRequest('when using `top_logprobs`, `logprobs` must be set to true.', 'top_logprobs');
  const ref = await ctx.models.resolve(request.model);
  const policy = await ctx.policies.load(ref);
  if (!policy.chatPrompt) throw badRequest(`${versionName(ref)} is a built-in policy: it has no chat template; use /v1/completions`, 'messages');
  const messages = request.messages.map((m) => ({ role: m.role, content: messageText(m) }));
  const prompt = policy.chatPrompt(messages, request.add_generation_prompt ?? true);
  const choices = await sample(policy, {
    prompts: [prompt],
    ...sharedSampling(request),
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    topLogprobs: request.logprobs ? (request.top_logprobs ?? 0) : undefined,
  });
  const withIds = request.return_token_ids === true;
  const asIds = request.return_tokens_as_token_ids === true;
  const token = (id: number, logprob: number) => {
    const text = asIds ? `token_id:${id}` : policy.tokenText(id);
    return { token: text, logprob, bytes: [...Buffer.from(text, 'utf8')] };
  };
  const completionTokens = choices.reduce((n, c) => n + c.tokens.length, 0);
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion' as const,
    created: Math.floor(Date.now() / 1000),
    model: request.model ?? ctx.models.runId,
    choices: choices.map((c) => ({
      index: c.index,
      message: { role: 'assistant', content: c.text, refusal: null, annotations: null, audio: null, function_call: null, reasoning: null },
      logprobs: c.top ? { content: c.tokens.map((id, i) => ({ ...token(id, c.logProbs[i]), top_logprobs: c.top![i].map((t) => token(t.id, t.logprob)) })) } : null,
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
      token_ids: withIds ? c.tokens : null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: { prompt_tokens: prompt.length, total_tokens: prompt.length + completionTokens, completion_tokens: completionTokens, prompt_tokens_details: null },
    prompt_logprobs: null,
    prompt_token_ids: withIds ? prompt : null,
    kv_transfer_params: null,
  };
}

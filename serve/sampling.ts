/**
 * What both generation endpoints do once the prompts are token IDs: check them against the model, sample every
 * (prompt, choice) row in one batched call of the policy's engine, and turn each row into a choice the way vLLM
 * reports it.
 *
 * Rows: prompt p's choice c is row p·n + c (vLLM's choice index), sampled from `Rng(seed).fork(row)` as
 * generateBatch does; so one prompt with n = 1 samples exactly what the in-process engine samples for that prompt
 * and seed. Without a seed the server draws one. Temperature 0 is greedy.
 *
 * Log-probs: each sampled token's is the engine's own, log softmax(logits / T)[token] with T the sampling
 * temperature (1 when greedy), the `sampleLogProbs` a rollout records; vLLM's default returns the model's raw
 * log-probs instead, which differ whenever T ≠ 1. The top-k alternatives are of the same distribution, from a
 * replay of the reply through the graph.
 *
 * Stops: a stop string ends the text and, as vLLM does, is cut from it unless `include_stop_str_in_output`
 * (`stop_reason` names it); an end token (eos / end-of-turn, or one of `stop_token_ids`) is never in the text but is
 * in `token_ids`. `token_ids` are every sampled token, the stop string's included.
 */
import { randomInt } from 'node:crypto';
import { lossTemperature } from '../policy/temperature';
import { badRequest } from './errors';
import type { ServedPolicy } from './served-policy';

export interface SampleRequest {
  prompts: number[][];
  n: number;
  /** Tokens to generate at most; undefined = up to the model's context. */
  maxTokens?: number;
  temperature: number;
  topP: number;
  seed?: number;
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  includeStopString: boolean;
  /** Alternatives per position to report (0 = the sampled token only); undefined = no log-probs asked. */
  topLogprobs?: number;
}

export interface TopLogprob {
  id: number;
  logprob: number;
}

export interface SampledChoice {
  index: number;
  promptIndex: number;
  tokens: number[];
  logProbs: number[];
  text: string;
  finishReason: 'stop' | 'length';
  /** The stop string or requested stop token that ended the reply; null for eos or length (vLLM's `stop_reason`). */
  stopReason: string | number | null;
  /** Per position: the `topLogprobs` most likely tokens, most likely first (when log-probs were asked). */
  top?: TopLogprob[][];
}

/** The prompts' checks: IDs inside the vocabulary, and room in the context for the reply. */
function checkPrompts(policy: ServedPolicy, prompts: number[][], maxTokens: number | undefined): void {
  for (const prompt of prompts) {
    if (prompt.length === 0) throw badRequest('the prompt is empty (it encodes to no tokens)', 'prompt');
    const bad = prompt.find((id) => id >= policy.vocabSize);
    if (bad !== undefined) throw badRequest(`token id ${bad} is outside the model's vocabulary (${policy.vocabSize} ids)`, 'prompt');
    const asked = prompt.length + (maxTokens ?? 1);
    if (asked > policy.contextLength) {
      throw badRequest(
        `This model's maximum context length is ${policy.contextLength} tokens. However, you requested ${asked} tokens ` +
          `(${prompt.length} in the messages, ${maxTokens ?? 1} in the completion). Please reduce the length of the messages or completion.`,
        'max_tokens',
      );
    }
  }
}

export async function sample(policy: ServedPolicy, request: SampleRequest): Promise<SampledChoice[]> {
  checkPrompts(policy, request.prompts, request.maxTokens);
  const rows = request.prompts.flatMap((prompt) => Array.from({ length: request.n }, () => prompt));
  const longest = Math.max(...rows.map((r) => r.length));
  const stopTokens = [...new Set([...(request.ignoreEos ? [] : policy.stopIds), ...request.stopTokenIds])];
  const generations = await policy.generate(rows, {
    temperature: request.temperature,
    topP: request.topP,
    maxTokens: request.maxTokens ?? policy.contextLength - longest,
    stopStrings: request.stop,
    stopTokens,
    seed: request.seed ?? randomInt(0, 2 ** 31 - 1),
  });
  const choices: SampledChoice[] = [];
  for (const [row, g] of generations.entries()) {
    const choice: SampledChoice = {
      index: row,
      promptIndex: Math.floor(row / request.n),
      tokens: g.tokens,
      logProbs: g.logProbs,
      text: g.text,
      finishReason: g.finishReason,
      stopReason: null,
    };
    if (g.finishReason === 'stop') endAtStop(choice, request);
    if (request.topLogprobs !== undefined) choice.top = await topLogprobs(policy, rows[row], choice, lossTemperature(request.temperature), request.topLogprobs);
    choices.push(choice);
  }
  return choices;
}

function endAtStop(choice: SampledChoice, request: SampleRequest): void {
  const last = choice.tokens[choice.tokens.length - 1];
  if (request.stopTokenIds.includes(last)) {
    choice.stopReason = last;
    return;
  }
  // The engine cut the text right after the stop string that ended it (the longest, when several end there).
  const stop = request.stop.filter((s) => choice.text.endsWith(s)).sort((a, b) => b.length - a.length)[0];
  if (stop === undefined) return; // an end token: eos / end-of-turn
  choice.stopReason = stop;
  if (!request.includeStopString) choice.text = choice.text.slice(0, choice.text.length - stop.length);
}

async function topLogprobs(policy: ServedPolicy, prompt: number[], choice: SampledChoice, temperature: number, k: number): Promise<TopLogprob[][]> {
  if (k === 0 || choice.tokens.length === 0) return choice.tokens.map(() => []);
  const logits = await policy.logitsAlong(prompt, choice.tokens);
  return logits.map((l) => topK(l, temperature, k));
}

/** The k most likely ids of softmax(logits / T) and their log-probs (ties by id). */
function topK(logits: Float32Array, temperature: number, k: number): TopLogprob[] {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  let sum = 0;
  for (const l of logits) sum += Math.exp((l - max) / temperature);
  const logZ = Math.log(sum);
  const ids = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, k);
  return ids.map((id) => ({ id, logprob: (logits[id] - max) / temperature - logZ }));
}

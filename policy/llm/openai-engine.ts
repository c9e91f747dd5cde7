/**
 * The `openai` rollout engine (issue 31): an LLM policy's replies sampled by OpenAI-compatible inference servers
 * (vLLM, `ratchet serve`, llama-cpp-python's server) through the maintained `openai` client, returned as the
 * in-process engine returns them (policy/generate.ts `Generation`: sampled IDs, their log-probs, the text), so
 * trainer/llm-rollout.ts plays episodes the same way. Requests and replies: policy/llm/openai-completions.ts.
 *
 * One request per prompt, at most `concurrency` in flight over all servers (a server batches what it receives);
 * prompt i goes to server i mod n, so a row's server does not depend on timing. Each row samples with its own seed,
 * hashSeed(seed/stream), as each in-process row has its own stream. Timeouts, retries with exponential backoff,
 * 408/409/429/5xx and Retry-After are the `openai` client's (`timeoutMs`, `maxRetries`).
 *
 * While requests are out, `onProgress` is called every few seconds (rollout activities heartbeat there; a cancelled
 * activity's exception aborts every request in flight).
 */
import OpenAI from 'openai';
import type { z } from 'zod';
import { hashSeed } from '../../common/random';
import type { OpenAiRolloutSchema } from '../../config/agent';
import type { GenerateOptions, Generation } from '../generate';
import { completionBody, cutAtStops, parseChoice, PieceIndex, ServerReplyError, stoppedUnseen, type ChoiceJson, type PieceTokenizer } from './openai-completions';

export type OpenAiRollout = z.output<typeof OpenAiRolloutSchema>;

/** How often a generation waiting on servers reports progress. */
const PROGRESS_EVERY_MS = 5_000;

export interface InferenceServer {
  readonly baseUrl: string;
  readonly client: OpenAI;
}

/** The servers' clients, each with the run's timeout and retries; API keys from the named environment variables. */
export function serverClients(settings: Pick<OpenAiRollout, 'servers' | 'timeoutMs' | 'maxRetries'>, env: NodeJS.ProcessEnv = process.env): InferenceServer[] {
  return settings.servers.map(({ baseUrl, apiKeyEnv }) => {
    const apiKey = apiKeyEnv ? env[apiKeyEnv] : 'none';
    if (apiKey === undefined) throw new Error(`inference server ${baseUrl}: environment variable ${apiKeyEnv} (its apiKeyEnv) is not set on this worker`);
    return { baseUrl, client: new OpenAI({ baseURL: baseUrl, apiKey, timeout: settings.timeoutMs, maxRetries: settings.maxRetries }) };
  });
}

export class OpenAiEngine {
  readonly servers: InferenceServer[];
  private pieces?: PieceIndex;

  constructor(
    readonly settings: OpenAiRollout,
    private readonly tokenizer: PieceTokenizer,
    /** Longest sequence the served model takes, prompt plus reply. */
    readonly contextLength: number,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.servers = serverClients(settings, env);
  }

  /**
   * Sample a reply to each prompt from the served model (`models[i]`: its name on server i). Stop tokens are kept
   * in `tokens`, not in `text`; stop strings end the text after the first one (policy/generate.ts's rule).
   */
  async generate(models: readonly string[], prompts: number[][], opts: GenerateOptions): Promise<Generation[]> {
    if (models.length !== this.servers.length) throw new Error(`generate: ${models.length} model names for ${this.servers.length} servers`);
    if (!(opts.topP > 0 && opts.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${opts.topP}`);
    if (opts.streams && opts.streams.length !== prompts.length) throw new Error(`generate: ${opts.streams.length} streams for ${prompts.length} prompts`);
    prompts.forEach((prompt, i) => {
      if (prompt.length === 0) throw new Error(`generate: prompt ${i} is empty`);
      if (prompt.length >= this.contextLength) throw new Error(`generate: prompt ${i} has ${prompt.length} tokens; the model's context is ${this.contextLength}`);
    });
    const results: Generation[] = new Array(prompts.length);
    const abort = new AbortController();
    let done = 0;
    const report = () => opts.onProgress?.({ stage: 'decode', step: done, running: prompts.length - done });
    const ticker = setInterval(() => {
      try {
        report();
      } catch (err) {
        abort.abort(err);
      }
    }, PROGRESS_EVERY_MS);
    let next = 0;
    const worker = async () => {
      while (next < prompts.length && !abort.signal.aborted) {
        const i = next++;
        const seed = hashSeed(`${opts.seed}/${opts.streams?.[i] ?? i}`);
        const server = i % this.servers.length;
        results[i] = await this.sample(server, models[server], prompts[i], opts, seed, abort.signal);
        done++;
        report();
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, prompts.length) }, worker));
    } catch (err) {
      if (!abort.signal.aborted) abort.abort(err);
      throw abort.signal.reason; // the first failure, or onProgress's exception, not the aborts that followed it
    } finally {
      clearInterval(ticker);
    }
    if (abort.signal.aborted) throw abort.signal.reason;
    return results;
  }

  /** One prompt's reply from server `server`. */
  async sample(server: number, model: string, prompt: readonly number[], opts: GenerateOptions, seed: number, signal?: AbortSignal): Promise<Generation> {
    const { protocol } = this.settings;
    const body = completionBody(protocol, model, prompt, opts, seed, this.tokenizer);
    if (protocol !== 'llama-cpp') return cutAtStops(parseChoice(protocol, (await this.complete(server, body, signal)).choice), opts, this.tokenizer);
    this.pieces ??= new PieceIndex(this.tokenizer);
    await this.checkTokenization(server, body.prompt as string, prompt, signal);
    const { choice, usage } = await this.complete(server, body, signal);
    const reply = parseChoice(protocol, choice, this.pieces, usage?.completion_tokens);
    if (stoppedUnseen(reply, opts, this.tokenizer)) {
      // llama-cpp-python leaves out the end-of-generation token it stopped at (its ID and log-prob): recover them.
      const end = await this.endToken(server, model, [...prompt, ...reply.tokens], opts.stopTokens ?? [], signal);
      reply.tokens.push(end.id);
      reply.logProbs.push(end.logProb);
    }
    return cutAtStops(reply, opts, this.tokenizer);
  }

  private async complete(server: number, body: ReturnType<typeof completionBody>, signal?: AbortSignal): Promise<{ choice: ChoiceJson; usage?: OpenAI.CompletionUsage }> {
    const { baseUrl, client } = this.servers[server];
    // The servers' extra fields (return_token_ids, stop_token_ids, echo ...) are not in the client's types.
    const response = await client.completions.create(body as unknown as OpenAI.CompletionCreateParamsNonStreaming, { signal });
    const choice = response.choices?.[0] as ChoiceJson | undefined;
    if (!choice) throw new Error(`inference server ${baseUrl}: a completion with no choices`);
    return { choice, usage: response.usage };
  }

  /** llama-cpp: the server must read the prompt text as exactly the IDs (else the row is not the one sampled). */
  private async checkTokenization(server: number, text: string, ids: readonly number[], signal?: AbortSignal): Promise<void> {
    const { baseUrl, client } = this.servers[server];
    // A route of llama-cpp-python's beside the API (`<root>/extras/tokenize`, not under /v1), through the client so
    // its retries cover a kept-alive socket the server closed.
    let served: number[];
    try {
      served = (await client.post<{ tokens?: number[] }>('/../extras/tokenize', { body: { input: text }, signal })).tokens ?? [];
    } catch (err) {
      if (err instanceof OpenAI.APIError && err.status !== undefined && err.status < 500) {
        throw new ServerReplyError(`POST /extras/tokenize answered ${err.status}: protocol llama-cpp needs llama-cpp-python's server`);
      }
      throw new Error(`inference server ${baseUrl}: POST /extras/tokenize failed: ${(err as Error).message}`, { cause: err });
    }
    const at = served.findIndex((id, i) => id !== ids[i]);
    if (served.length !== ids.length || at >= 0) {
      throw new ServerReplyError(
        `the server's tokenization of the prompt differs from the policy's at token ${at < 0 ? Math.min(served.length, ids.length) : at} ` +
          `(${served.length} tokens for ${ids.length}): is it serving the same model and tokenizer, without an added BOS?`,
      );
    }
  }

  /**
   * llama-cpp: which of `candidates` (the stop tokens) ended a reply, and its log-prob, from `echo` of the reply
   * followed by each candidate in turn; the first that is the model's most likely token there is the one greedy
   * decoding stopped at, else the likeliest candidate is taken (exact for greedy and for a model with one likely end
   * token, as SmolLM2's `<|im_end|>`). llama-cpp-python's echo drops the first token when it is the BOS and pairs
   * each later one with its log-prob only then; it also leaves out later BOS-equal tokens, which `at` skips.
   */
  private async endToken(server: number, model: string, ids: readonly number[], candidates: readonly number[], signal?: AbortSignal): Promise<{ id: number; logProb: number }> {
    const bos = this.tokenizer.bosId;
    if (!candidates.length) throw new ServerReplyError('the server stopped at an end-of-generation token, but this generation has no stop tokens');
    if (bos === undefined || ids[0] !== bos) throw new ServerReplyError('the server stopped at an end-of-generation token, which can be recovered only for prompts that start with the BOS token');
    let best: { id: number; logProb: number } | undefined;
    for (const id of candidates) {
      const full = [...ids, id];
      const body = { ...completionBody('llama-cpp', model, full, { temperature: 0, topP: 1, maxTokens: 1 }, 0, this.tokenizer), echo: true };
      const { choice } = await this.complete(server, body, signal);
      const at = full.filter((t) => t !== bos).length - 1;
      const logProb = choice.logprobs?.token_logprobs?.[at];
      const top = choice.logprobs?.top_logprobs?.[at];
      if (typeof logProb !== 'number' || !top) throw new ServerReplyError(`the server's echo has no log-prob for the end token at ${at}`);
      if (!best || logProb > best.logProb) best = { id, logProb: Math.min(logProb, 0) };
      if (logProb >= Math.max(...Object.values(top)) - 1e-6) break;
    }
    return best!;
  }
}

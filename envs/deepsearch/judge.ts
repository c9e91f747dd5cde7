/**
 * Semantic judging: an optional second opinion from an LLM on whether a prediction means the same as a golden
 * answer (EM misses paraphrases such as "NYC" for "New York City"). A run may enable it; the default reward
 * stays EM. `OpenAiCompatibleJudge` talks to any server with the OpenAI chat-completions API
 * (OpenAI, vLLM, llama.cpp, Ollama ...). Not exercised against a live server in tests.
 */
import type { DeepSearchEpisode } from './episode';

export interface SemanticJudgeInput {
  question: string;
  prediction: string;
  goldenAnswers: readonly string[];
}

export interface SemanticJudge {
  /** 1 when the prediction is judged equivalent to a golden answer, else 0. */
  judge(input: SemanticJudgeInput): Promise<number>;
}

export interface OpenAiJudgeOptions {
  /** e.g. `https://api.openai.com/v1` or `http://localhost:8000/v1`. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  timeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetchImpl?: typeof fetch;
}

export function judgePrompt(input: SemanticJudgeInput): string {
  return [
    'Decide whether the predicted answer means the same as one of the golden answers to the question.',
    `Question: ${input.question}`,
    `Golden answers: ${input.goldenAnswers.map((g) => JSON.stringify(g)).join(', ')}`,
    `Predicted answer: ${JSON.stringify(input.prediction)}`,
    'Reply with exactly one word: yes or no.',
  ].join('\n');
}

export class OpenAiCompatibleJudge implements SemanticJudge {
  constructor(private readonly opts: OpenAiJudgeOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl)) throw new Error(`judge baseUrl must be an http(s) URL, got ${opts.baseUrl}`);
    if (!opts.model) throw new Error('judge model is required');
  }

  async judge(input: SemanticJudgeInput): Promise<number> {
    const doFetch = this.opts.fetchImpl ?? fetch;
    const response = await doFetch(`${this.opts.baseUrl.replace(/\/$/, '')}/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}),
      },
      body: JSON.stringify({
        model: this.opts.model,
        temperature: 0,
        max_tokens: 3,
        messages: [{ role: 'user', content: judgePrompt(input) }],
      }),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
    if (!response.ok) throw new Error(`semantic judge: HTTP ${response.status} from ${this.opts.baseUrl}`);
    const body = (await response.json()) as { choices?: { message?: { content?: string } }[] };
    const reply = body.choices?.[0]?.message?.content;
    if (typeof reply !== 'string') throw new Error('semantic judge: reply has no choices[0].message.content');
    return /^\s*yes\b/i.test(reply) ? 1 : 0;
  }
}

/** The judge's verdict on an episode's final answer (0 when it gave none). */
export async function judgeEpisode(episode: DeepSearchEpisode, judge: SemanticJudge): Promise<number> {
  if (episode.finalAnswer === null) return 0;
  return judge.judge({ question: episode.record.question, prediction: episode.finalAnswer, goldenAnswers: episode.record.goldenAnswers });
}

/**
 * The check before a served version's first rollout in a process: each server answers `GET /models`, serves the
 * configured base model, and returns token IDs and log-probs for a 1-token probe of the versioned name. A server
 * that answers but cannot give training what it needs fails the run at once (InvalidRunConfig, never retried), so a
 * wrong server is found at the first rollout, not after steps of unusable rows. An unreachable server fails the run
 * the same way at its start (step 0: a wrong URL); later it is an ordinary, retried failure (a server restarting).
 */
import { APIConnectionError, APIError } from 'openai';
import { unrunnableConfig } from '../../config/run-config';
import type { OpenAiEngine } from './openai-engine';
import { ServerReplyError } from './openai-completions';
import { servedModels } from './server-sync';

export interface PreflightOptions {
  /** The run's first step: an unreachable server is a configuration error, not a transient one. */
  atRunStart: boolean;
}

/** The base model server `i` serves: the configured `model` (which must be listed), else the first base it lists. */
export async function baseModelOf(engine: OpenAiEngine, i: number, opts: PreflightOptions): Promise<string> {
  const { baseUrl } = engine.servers[i];
  let models;
  try {
    models = await servedModels(engine.servers[i]);
  } catch (err) {
    throw classify(err, baseUrl, 'GET /models', opts);
  }
  const ids = models.map((m) => m.id);
  const wanted = engine.settings.model;
  if (wanted !== undefined) {
    if (!ids.includes(wanted)) throw unrunnableConfig(`inference server ${baseUrl} does not serve model "${wanted}" (agent.policy.rollout.model); it lists ${list(ids)}`);
    return wanted;
  }
  const base = models.find((m) => !m.parent) ?? models[0];
  if (!base) throw unrunnableConfig(`inference server ${baseUrl} lists no model at GET /models`);
  return base.id;
}

/** A 1-token probe of `model` on server `i`: it must come back with a token ID and its log-prob. */
export async function probeServer(engine: OpenAiEngine, i: number, model: string, prompt: readonly number[], opts: PreflightOptions): Promise<void> {
  const { baseUrl } = engine.servers[i];
  let reply;
  try {
    reply = await engine.sample(i, model, prompt, { temperature: 0, topP: 1, maxTokens: 1, seed: 0 }, 0);
  } catch (err) {
    throw classify(err, baseUrl, `a 1-token completion of "${model}"`, opts);
  }
  if (reply.tokens.length !== 1 || !Number.isFinite(reply.logProbs[0])) {
    throw unrunnableConfig(`inference server ${baseUrl}: a 1-token probe of "${model}" returned ${reply.tokens.length} tokens and log-probs ${JSON.stringify(reply.logProbs)}`);
  }
}

/**
 * A failed check as the error the run should see: the server answered but cannot serve training (a 4xx, a reply
 * without IDs or log-probs) → InvalidRunConfig; unreachable or failing (5xx after retries) → InvalidRunConfig at
 * the run's start, else a retried error.
 */
function classify(err: unknown, baseUrl: string, what: string, opts: PreflightOptions): Error {
  const message = `inference server ${baseUrl}: ${what} failed: ${(err as Error).message}`;
  if (err instanceof ServerReplyError) return unrunnableConfig(`${message}. The openai rollout engine needs per-token log-probs and token IDs`);
  if (err instanceof APIError && !(err instanceof APIConnectionError) && err.status !== undefined && err.status < 500 && err.status !== 408 && err.status !== 429) {
    return unrunnableConfig(`${message} (is this the right server, model and protocol?)`);
  }
  if (opts.atRunStart) return unrunnableConfig(`${message} (the server must be up when the run starts)`);
  return new Error(message, { cause: err });
}

const list = (ids: readonly string[]) => (ids.length ? ids.map((id) => `"${id}"`).join(', ') : 'none');

/**
 * Rollouts played by your own agents through `ratchet gateway` (`agent.policy.rollout.engine: gateway`; issue 31):
 * the rollout hands the gateway its episodes (serve/gateway-work.ts: task, seed, the version's served name, the
 * run's sampling) and polls until agents have played them all, heartbeating meanwhile. The episodes come back as
 * the gateway recorded them (the exact prompt and sampled token IDs and log-probs of every call); each turn's
 * action is read from the reply as an in-process rollout reads it, so the environment's verifier can replay it.
 *
 * Idempotent: an episode's id is its run, step (or evaluation) and place in the batch, and the gateway keeps a
 * finished episode, so a retried rollout collects the same episodes. A killed agent's half-played episode is handed
 * out again after the gateway's claim timeout and replayed from its seed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { unrunnableConfig } from '../../config/run-config';
import type { GatewayRolloutSchema } from '../../config/agent';
import type { Environment } from '../../envs/types';
import type { PolicyRollout, RolloutOptions, RolloutSpec } from '../../trainer/rollout';
import type { Trajectory } from '../../trainer/trajectory';
import type { WorkItem, WorkState } from '../../serve/gateway-work';
import { actionFromReply, type ChatPrompt } from './chat-episode';
import type { z } from 'zod';

export type GatewayRollout = z.output<typeof GatewayRolloutSchema>;

const POLL_MS = 500;

export interface GatewayEpisodes {
  /** Prefix of the episodes' ids: unique per run and batch (`<run>.s<step>`, `<run>.e<step>.<split>.<mode>`). */
  prefix: string;
  /** The version's served name upstream (`<run>@v<N>`). */
  model: string;
  /** The settings the agent builds the environment's world from (the run config's section of that env). */
  settings?: Record<string, unknown>;
  chatPrompt: ChatPrompt;
  /** The run's first step: an unreachable gateway is a configuration error then, not a transient one. */
  atRunStart: boolean;
}

/** The gateway as a PolicyRollout: rollout phases and evaluations use it as they use an in-process policy. */
export function gatewayRollout(settings: GatewayRollout, batch: GatewayEpisodes): PolicyRollout {
  return async (env, specs, opts) => {
    await probe(settings, batch);
    const items = specs.map((spec) => workItemOf(env, spec, opts, batch));
    const finished = await waitForEpisodes(settings, items, opts);
    return specs.map((spec, i) => asRollout(finished.get(items[i].id)!, spec, opts.policyVersion, batch.chatPrompt));
  };
}

/** Episode ids may hold letters, digits and `._-` only: anything else in a split or mode name becomes `_`. */
export const episodeIdPart = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, '_');

function workItemOf(env: Environment, spec: RolloutSpec, opts: RolloutOptions, batch: GatewayEpisodes): WorkItem {
  return {
    id: `${batch.prefix}.g${spec.group}.n${spec.sample}`,
    model: batch.model,
    version: opts.policyVersion,
    task: { env: env.name, id: spec.taskId, seed: spec.seed, ...(batch.settings ? { settings: batch.settings } : {}) },
    sampling: { temperature: opts.temperature, top_p: opts.topP, max_tokens: opts.maxActionTokens, ...(opts.maxTurns ? { max_turns: opts.maxTurns } : {}) },
  };
}

/** The trajectory as the run numbers it, with each turn's action read from the reply. */
function asRollout(played: Trajectory, spec: RolloutSpec, policyVersion: number, chatPrompt: ChatPrompt): Trajectory {
  return {
    ...played,
    taskId: spec.taskId,
    group: spec.group,
    sample: spec.sample,
    seed: spec.seed,
    policyVersion,
    turns: played.turns.map((turn) => ({ ...turn, action: actionFromReply(chatPrompt, turn.action) })),
    metrics: { ...played.metrics, agent_reward: played.reward },
  };
}

/** Does the gateway's upstream serve the version: a refusal fails the run at once (never retried). */
async function probe(settings: GatewayRollout, batch: GatewayEpisodes): Promise<void> {
  let response: Response;
  try {
    response = await call(settings, '/gateway/probe', 'POST', { model: batch.model });
  } catch (err) {
    const message = `the gateway ${settings.url} did not answer: ${(err as Error).message}`;
    throw batch.atRunStart ? unrunnableConfig(`${message} (is \`ratchet gateway\` running there?)`) : new Error(message);
  }
  if (response.status === 422 || response.status === 404) throw unrunnableConfig(`the gateway ${settings.url}: ${await errorMessage(response)}`);
  if (!response.ok) throw new Error(`the gateway ${settings.url} answered the probe with ${response.status}: ${await errorMessage(response)}`);
}

/**
 * Put the episodes not finished yet, every POLL_MS, until all are: the finished ones by id. Fails after
 * idleTimeoutMs without a claim or a finish (no agent is working), or at once on a refusal (409: the same ids were
 * put with other settings).
 */
async function waitForEpisodes(settings: GatewayRollout, items: WorkItem[], opts: RolloutOptions): Promise<Map<string, Trajectory>> {
  const finished = new Map<string, Trajectory>();
  let seen = '';
  let lastChange = Date.now();
  for (;;) {
    const pending = items.filter((item) => !finished.has(item.id));
    if (pending.length === 0) return finished;
    let states: WorkState[] | undefined;
    try {
      const response = await call(settings, '/gateway/work', 'PUT', { items: pending });
      if (response.status === 409 || response.status === 400) throw unrunnableConfig(`the gateway ${settings.url} refused the episodes: ${await errorMessage(response)}`);
      if (response.ok) states = ((await response.json()) as { data: WorkState[] }).data;
    } catch (err) {
      if ((err as Error).name === 'InvalidRunConfig') throw err;
      // Unreachable for now (restarting): keep trying until the idle timeout.
    }
    for (const state of states ?? []) if (state.trajectory) finished.set(state.id, state.trajectory);
    const now = JSON.stringify(states?.map((s) => [s.status, s.claims]));
    if (states && now !== seen) [seen, lastChange] = [now, Date.now()];
    opts.onTurn?.(finished.size, items.length - finished.size);
    if (finished.size === items.length) return finished;
    if (Date.now() - lastChange > settings.idleTimeoutMs) {
      throw new Error(`the gateway ${settings.url}: no agent claimed or finished an episode for ${settings.idleTimeoutMs} ms (${items.length - finished.size} of ${items.length} waiting)`);
    }
    await sleep(POLL_MS);
  }
}

function call(settings: GatewayRollout, path: string, method: string, body: unknown): Promise<Response> {
  return fetch(`${settings.url.replace(/\/+$/, '')}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
}

async function errorMessage(response: Response): Promise<string> {
  const text = await response.text();
  try {
    return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text.slice(0, 500);
  } catch {
    return text.slice(0, 500);
  }
}

/**
 * An external agent trained through the Ratchet gateway: its own process, its own loop, the plain `openai` client.
 * It plays deepsearch or apps episodes (the environment runs here, in the agent's process): each turn it sends the
 * chat so far to the gateway with the episode's id in `x-ratchet-episode`, turns the reply into an action, steps its
 * environment, and at the end posts the environment verifier's reward to the gateway, which then holds the episode as
 * a trajectory with the exact tokens and log-probs the policy sampled.
 *
 * Two ways to get episodes:
 * - `--work`: claim a training run's episodes from the gateway (`POST /v1/episodes`, rollout engine `gateway`), each
 *   with its task, seed and sampling, until none has come for `--idle-exit` seconds (0 = never stop);
 * - `--episodes N`: play N episodes of `--split` on the gateway's own policy.
 *
 *   npx tsx examples/external-agent/agent.ts --gateway http://127.0.0.1:8100/v1 --work [--idle-exit 0]
 *   npx tsx examples/external-agent/agent.ts --gateway http://127.0.0.1:8100/v1 --episodes 2 [--split single/train]
 *     [--max-turns 3] [--max-tokens 48] [--temperature 1] [--seed 0]
 *
 * Prints one JSON line per episode: {episode, taskId, turns, reward, success}. Turn t of an episode with seed s is
 * sampled with seed s + t (with --episodes, episode e has seed `seed + e`), so an episode can be replayed exactly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import type { WorkItem } from '../../serve/gateway-work';
import { textEnvironment, type TextEnvName, type TextEnvOptions } from '../../trainer/environments';
import { chatPromptFor } from '../../trainer/llm-rollout';
import { actionFromReply, chatMessages } from '../../policy/llm/chat-episode';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: 'http://127.0.0.1:8100/v1' },
    work: { type: 'boolean', default: false },
    'idle-exit': { type: 'string', default: '0' },
    episodes: { type: 'string', default: '1' },
    split: { type: 'string', default: 'single/train' },
    'max-turns': { type: 'string', default: '3' },
    'max-tokens': { type: 'string', default: '48' },
    temperature: { type: 'string', default: '1' },
    seed: { type: 'string', default: '0' },
    prefix: { type: 'string', default: `agent-${process.pid}` },
  },
});

function int(name: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`--${name} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

const temperature = Number(values.temperature);
if (!(temperature >= 0)) throw new Error(`--temperature must be a number >= 0, got "${values.temperature}"`);

const client = new OpenAI({ baseURL: values.gateway, apiKey: 'unused', maxRetries: 2 });

/** One episode, sampled turn by turn through the gateway; its verifier's reward posted at the end. */
async function play(id: string, task: WorkItem['task'], sampling: WorkItem['sampling']): Promise<void> {
  const name = task.env as TextEnvName;
  const env = textEnvironment(name, { [name]: task.settings } as TextEnvOptions);
  const chatPrompt = chatPromptFor(name);
  const episode = env.createEpisode(task.id, task.seed, { maxTurns: sampling.max_turns });
  const headers = { 'x-ratchet-episode': id, 'x-ratchet-task': task.id };
  for (let turn = 0; !episode.done; turn++) {
    const reply = await client.chat.completions.create(
      {
        model: 'policy', // the gateway sends every call to the policy version of the episode, whatever this says
        messages: chatMessages(chatPrompt, episode),
        max_tokens: sampling.max_tokens,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        seed: task.seed + turn,
        stop: [...chatPrompt.actionStops],
        // vLLM's parameter: the stop string stays in the reply, as an in-process rollout keeps it.
        include_stop_str_in_output: true,
      } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
      { headers },
    );
    episode.step(actionFromReply(chatPrompt, reply.choices[0].message.content ?? ''));
  }
  const score = episode.score();
  // The gateway's own routes: plain fetch, as they are not part of the OpenAI API.
  const posted = await fetch(`${values.gateway}/episodes/${encodeURIComponent(id)}/reward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reward: score.reward, success: score.success, task_id: task.id, seed: task.seed, finish_reason: episode.finishReason, metrics: score.metrics }),
  });
  if (!posted.ok) throw Object.assign(new Error(`the gateway refused the reward of ${id}: ${posted.status} ${await posted.text()}`), { status: posted.status });
  console.log(JSON.stringify({ episode: id, taskId: task.id, turns: episode.turns.length, reward: score.reward, success: score.success }));
}

/** Claim and play a run's episodes until none comes for --idle-exit seconds. */
async function work(): Promise<void> {
  const idleExitMs = int('idle-exit', values['idle-exit']) * 1000;
  let idleSince = Date.now();
  for (;;) {
    const claimed = await fetch(`${values.gateway}/episodes`, { method: 'POST' });
    if (claimed.status === 200) {
      const { episode, task, sampling } = (await claimed.json()) as WorkItem & { episode: string };
      await play(episode, task, sampling).catch((err: unknown) => {
        // 409: the claim lapsed (this agent was too slow) or the gateway restarted; the episode is someone else's now.
        if ((err as { status?: number }).status !== 409) throw err;
        console.error(`dropped ${episode}: ${(err as Error).message}`);
      });
      idleSince = Date.now();
      continue;
    }
    if (claimed.status !== 204) throw new Error(`the gateway refused a claim: ${claimed.status} ${await claimed.text()}`);
    if (idleExitMs > 0 && Date.now() - idleSince > idleExitMs) return;
    await sleep(500);
  }
}

/** --episodes N: the split's tasks in turn, on the gateway's own policy. */
async function episodes(): Promise<void> {
  const count = int('episodes', values.episodes);
  const seed = int('seed', values.seed);
  const sampling = { temperature, top_p: 1, max_tokens: int('max-tokens', values['max-tokens']), max_turns: int('max-turns', values['max-turns']) };
  const tasks = textEnvironment('deepsearch', { deepsearch: undefined }).tasks(values.split);
  for (let e = 0; e < count; e++) {
    const task = tasks[(seed + e) % tasks.length];
    await play(`${values.prefix}-${e}`, { env: 'deepsearch', id: task.id, seed: seed + e }, sampling);
  }
}

(values.work ? work() : episodes()).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

/**
 * An external agent trained through the Ratchet gateway: its own process, its own loop, the plain `openai` client.
 * It plays deepsearch episodes (the environment runs here, in the agent's process): each turn it sends the chat so
 * far to the gateway with the episode's id in `x-ratchet-episode`, turns the reply into an action, steps its
 * environment, and at the end posts the environment verifier's reward to the gateway, which then holds the episode as
 * a trajectory with the exact tokens and log-probs the policy sampled.
 *
 *   npx tsx examples/external-agent/agent.ts --gateway http://127.0.0.1:8100/v1 --episodes 2 [--split single/train]
 *     [--max-turns 3] [--max-tokens 48] [--temperature 1] [--seed 0]
 *
 * Prints one JSON line per episode: {episode, taskId, turns, reward, success}. Turn t of episode e is sampled with
 * seed `seed * 1000 + e * 50 + t`, so a run can be replayed exactly.
 */
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { createDeepSearchEnvironment } from '../../envs/deepsearch';
import { deepSearchChatPrompt } from '../../envs/deepsearch/chat-prompt';
import { actionFromReply, chatMessages } from '../../policy/llm/chat-episode';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: 'http://127.0.0.1:8100/v1' },
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

const episodes = int('episodes', values.episodes);
const maxTurns = int('max-turns', values['max-turns']);
const maxTokens = int('max-tokens', values['max-tokens']);
const seed = int('seed', values.seed);
const temperature = Number(values.temperature);
if (!(temperature >= 0)) throw new Error(`--temperature must be a number >= 0, got "${values.temperature}"`);

const client = new OpenAI({ baseURL: values.gateway, apiKey: 'unused', maxRetries: 2 });
const env = createDeepSearchEnvironment({ cacheDir: null });
const tasks = env.tasks(values.split);

async function main(): Promise<void> {
  for (let e = 0; e < episodes; e++) {
    const id = `${values.prefix}-${e}`;
    const task = tasks[(seed + e) % tasks.length];
    const episode = env.createEpisode(task.id, seed + e, { maxTurns });
    const headers = { 'x-ratchet-episode': id, 'x-ratchet-task': task.id };
    for (let turn = 0; !episode.done; turn++) {
      const reply = await client.chat.completions.create(
        {
          model: 'policy', // the gateway sends every call to the current policy version, whatever this says
          messages: chatMessages(deepSearchChatPrompt, episode),
          max_tokens: maxTokens,
          temperature,
          seed: seed * 1000 + e * 50 + turn,
          stop: [...deepSearchChatPrompt.actionStops],
          // vLLM's parameter: the stop string stays in the reply, as an in-process rollout keeps it.
          include_stop_str_in_output: true,
        } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
        { headers },
      );
      episode.step(actionFromReply(deepSearchChatPrompt, reply.choices[0].message.content ?? ''));
    }
    const score = episode.score();
    // The gateway's own route: plain fetch, as it is not part of the OpenAI API.
    const posted = await fetch(`${values.gateway}/episodes/${encodeURIComponent(id)}/reward`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reward: score.reward, success: score.success, task_id: task.id, seed: seed + e, finish_reason: episode.finishReason, metrics: score.metrics }),
    });
    if (!posted.ok) throw new Error(`the gateway refused the reward of ${id}: ${posted.status} ${await posted.text()}`);
    console.log(JSON.stringify({ episode: id, taskId: task.id, turns: episode.turns.length, reward: score.reward, success: score.success }));
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

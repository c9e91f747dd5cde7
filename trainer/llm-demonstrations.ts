/**
 * The expert's demonstrations for a pretrained LLM's format SFT (`agent.policy.sft`): the scripted expert plays
 * train tasks, and each episode becomes the chat the rollouts would have shown the model, tokenized exactly as
 * trainer/llm-rollout.ts tokenizes it, with the expert's replies marked as the targets.
 *
 * A chat only appends (policy/llm/chat-episode.ts), so a whole episode is one sequence: the finished chat,
 * rendered, in which each reply starts where its own turn's prompt ends and runs to its end-of-turn token (the
 * target includes that token: a reply the template trimmed, like apps' line-ending action, ends on it, and the
 * rollout engine stops on it). One sequence per episode trains on all its replies in one forward pass (an apps
 * episode of 6 turns: ~1.3k tokens instead of ~5k as six per-turn prompts). Where a turn's prompt is not a prefix
 * of the finished chat (it should always be: the test checks every train task), that episode falls back to one
 * sequence per turn, `prompt ++ encode(action)`, as a rollout records it.
 */
import { hashSeed } from '../common/random';
import { unrunnableConfig } from '../config/run-config';
import type { AppsEnvironment } from '../envs/apps';
import type { AppsEpisode } from '../envs/apps/episode';
import type { SkillLibrary } from '../envs/apps/skills';
import type { Environment } from '../envs/types';
import { chatMessages, type ChatPrompt } from '../policy/llm/chat-episode';
import type { LlmTokenizer } from '../policy/llm/tokenizer';
import { withStop } from './demonstrations';
import { llmPromptTokens } from './llm-rollout';

/** One chat: its token IDs and the spans `[start, length]` of the expert's replies in them (the SFT targets). */
export interface DemonstrationSequence {
  taskId: string;
  tokens: number[];
  actions: [number, number][];
}

/** The artifact initPolicy reads (workers/torch/ratchet_torch/sft.py). */
export interface LlmDemonstrations {
  sequences: DemonstrationSequence[];
  episodes: number;
  /** Share of the episodes the (noisy) expert solved. */
  expertSuccess: number;
  /** Action tokens over all sequences. */
  actionTokens: number;
}

/** The episode seed of demonstration k of a task (also what a test replays it with). */
export const demonstrationSeed = (seed: number, taskId: string, k: number) => hashSeed(`${seed}/llm-demo/${taskId}/${k}`);

const startsWith = (xs: readonly number[], prefix: readonly number[], at = 0) => prefix.every((x, i) => xs[at + i] === x);

/**
 * `skills` (apps; SAGE runs and chained evaluations): the expert writes and uses skills, and demonstration k of
 * a task starts from the library demonstration k of the previous task of its scenario (in `taskIds` order) ended
 * with, so the chats show skills written in one task and called in the next, as a chain plays them.
 */
export function llmDemonstrations(
  env: Environment,
  tokenizer: LlmTokenizer,
  chatPrompt: ChatPrompt,
  taskIds: readonly string[],
  opts: { perTask: number; noise: number; seed: number; shots: number; contextLength: number; skills?: boolean },
): LlmDemonstrations {
  const sequences: DemonstrationSequence[] = [];
  let solved = 0;
  const libraries = new Map<string, SkillLibrary>(); // by scenario and k: the library its last demonstration ended with
  for (const taskId of taskIds) {
    for (let k = 0; k < opts.perTask; k++) {
      const seed = demonstrationSeed(opts.seed, taskId, k);
      const chain = `${env.task(taskId).scenario}#${k}`;
      const episode = opts.skills ? (env as AppsEnvironment).createEpisode(taskId, seed, { skills: libraries.get(chain) }) : env.createEpisode(taskId, seed);
      const expert = env.expert(taskId, { noise: opts.noise, seed, ...(opts.skills ? { skills: true } : {}) });
      const turns: { prompt: number[]; action: number[] }[] = [];
      while (!episode.done) {
        const prompt = llmPromptTokens({ tokenizer }, chatPrompt, episode, opts.shots);
        const action = withStop(env, expert.act(episode));
        turns.push({ prompt, action: tokenizer.encode(action) });
        episode.step(action);
      }
      const chat = tokenizer.encode(tokenizer.renderChat(chatMessages(chatPrompt, episode, { shots: opts.shots })));
      if (opts.skills) libraries.set(chain, (episode as AppsEpisode).skills);
      if (episode.score().success) solved++;
      for (const sequence of asSequences(taskId, chat, turns, tokenizer.stopIds)) {
        if (sequence.tokens.length > opts.contextLength) {
          throw unrunnableConfig(`the demonstration of ${taskId} has ${sequence.tokens.length} tokens, more than the model's ${opts.contextLength}-token context`);
        }
        sequences.push(sequence);
      }
    }
  }
  const episodes = taskIds.length * opts.perTask;
  const actionTokens = sequences.reduce((n, s) => n + s.actions.reduce((m, [, length]) => m + length, 0), 0);
  return { sequences, episodes, expertSuccess: episodes ? solved / episodes : 0, actionTokens };
}

/** The finished chat as one sequence when every turn's prompt is a prefix of it and its reply ends on an
 * end-of-turn token; else one sequence a turn. */
function asSequences(taskId: string, chat: number[], turns: { prompt: number[]; action: number[] }[], stopIds: readonly number[]): DemonstrationSequence[] {
  const actions: [number, number][] = [];
  for (const { prompt } of turns) {
    const end = chat.findIndex((id, i) => i >= prompt.length && stopIds.includes(id));
    if (!startsWith(chat, prompt) || end < 0) {
      return turns.map((t) => ({ taskId, tokens: [...t.prompt, ...t.action], actions: [[t.prompt.length, t.action.length]] }));
    }
    actions.push([prompt.length, end + 1 - prompt.length]);
  }
  const last = actions[actions.length - 1];
  return [{ taskId, tokens: chat.slice(0, last[0] + last[1]), actions }];
}

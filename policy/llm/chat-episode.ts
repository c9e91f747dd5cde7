/**
 * An episode as a chat for a pretrained chat LLM (issue 27). The environment writes its protocol once
 * (envs/<env>/chat-prompt.ts: a `ChatPrompt`); this file turns an episode's state into chat messages and a
 * model's reply back into the action text `Episode.step()` reads. Verifiers and rewards are the environment's own.
 *
 *   system     the environment's protocol (ChatPrompt.system)
 *   examples   optional few-shot demonstrations: whole solved episodes of the scripted expert on train tasks of
 *              another world, each `user task, assistant action, user observation, ..., assistant last action`;
 *              never one whose text contains the task being asked
 *   user       the task: the episode's first observation, as the built-in policy sees it
 *   assistant  each earlier action, then `user` its observation
 *
 * The history is whole and only ever grows: the rendering of turn t is a prefix of the rendering of turn t+1,
 * so a rollout engine can keep one sequence (and its KV cache) per episode and append, and the trainer's
 * re-rendering of a trajectory gives the same text.
 */
import { runEpisode, type Environment, type Episode } from '../../envs/types';
import type { ChatMessage } from './tokenizer';

/** A solved episode shown to the model before its own task. */
export interface ChatExample {
  taskId: string;
  messages: ChatMessage[];
}

/** What an environment contributes; everything else about the chat is shared. */
export interface ChatPrompt {
  /** The system message: the environment's protocol. */
  readonly system: string;
  /** Generation of one action ends at the first of these (the environment's `actionStops`). */
  readonly actionStops: readonly string[];
  /** Few-shot candidates in order of preference (more than any prompt uses, so the asked task can be skipped). */
  examples(): readonly ChatExample[];
  /** The task message's text (default: the episode's first observation); fixed for the episode, so chats only append. */
  task?(episode: Episode): string;
}

/** The turns of an episode so far as chat messages, after its task message. */
function turnMessages(episode: Episode): ChatMessage[] {
  return episode.turns.flatMap((turn, i) => {
    const messages: ChatMessage[] = [{ role: 'assistant', content: turn.action }];
    // The action that ended the episode has nothing after it worth showing (deepsearch's answer has no observation).
    const last = episode.done && i === episode.turns.length - 1;
    if (!last) messages.push({ role: 'user', content: turn.observation.trim() });
    return messages;
  });
}

function taskMessage(episode: Episode, prompt?: ChatPrompt): ChatMessage {
  return { role: 'user', content: (prompt?.task?.(episode) ?? episode.initialObservation).trim() };
}

/**
 * Examples are played with this episode seed. Rollouts and demonstrations use non-negative seeds, so what an
 * episode draws at random (apps' session tokens) differs from the task being asked, where copying it would pay.
 */
const EXAMPLE_EPISODE_SEED = -1;

/** The scripted expert's flawless episode of `taskId` as an example; it must be solved (else it teaches a failure). */
export function solvedExample(env: Environment, taskId: string): ChatExample {
  const episode = runEpisode(env.createEpisode(taskId, EXAMPLE_EPISODE_SEED), env.expert(taskId, { noise: 0, seed: 0 }));
  if (episode.score().reward !== 1) throw new Error(`the expert does not solve ${taskId}: not a usable example`);
  return { taskId, messages: [taskMessage(episode), ...turnMessages(episode)] };
}

/** The first `shots` examples that do not contain the asked task's text anywhere. */
export function examplesFor(prompt: ChatPrompt, episode: Episode, shots: number): ChatExample[] {
  const asked = episode.task.instruction.trim();
  const usable = prompt.examples().filter((e) => !e.messages.some((m) => m.content.includes(asked)));
  if (usable.length < shots) throw new Error(`${shots} few-shot examples asked, ${usable.length} usable for ${episode.task.id}`);
  return usable.slice(0, shots);
}

/**
 * The chat before the policy's next action: system, `shots` examples, the task, the turns so far. Render it with
 * `LlmTokenizer.renderChat(messages, { addGenerationPrompt: true })`.
 */
export function chatMessages(prompt: ChatPrompt, episode: Episode, opts: { shots?: number } = {}): ChatMessage[] {
  const examples = examplesFor(prompt, episode, opts.shots ?? 0);
  return [{ role: 'system', content: prompt.system }, ...examples.flatMap((e) => e.messages), taskMessage(episode, prompt), ...turnMessages(episode)];
}

/**
 * The action in a model's reply (its text without the end-of-turn token), as `step()` reads it: from the first
 * non-blank character to the end of the first action stop (a stop the model wrote past is cut there, as the
 * built-in policy's generation stops there), trailing whitespace dropped. Malformed text stays as it is: the
 * environment answers it with an error observation.
 */
export function actionFromReply(prompt: ChatPrompt, reply: string): string {
  const text = reply.trimStart();
  let end = text.length;
  for (const stop of prompt.actionStops) {
    const at = text.indexOf(stop);
    if (at >= 0) end = Math.min(end, at + stop.length);
  }
  return text.slice(0, end).trimEnd();
}

/**
 * The online simulator for a chat LLM policy (issue 27): trainer/rollout.ts's loop (every still-running episode's
 * next action sampled in one batched call per turn, rewards from the environment's verifier), with the episode
 * shown to the model as a chat (policy/llm/chat-episode.ts) through the model's own chat template.
 *
 * Each turn an episode's prompt is `chatMessages(chatPrompt, episode, {shots})` rendered with the generation
 * prompt and encoded (no BOS added: the template writes its own specials); the reply ends at the environment's
 * first action stop or at the tokenizer's end-of-turn / eos token, and `actionFromReply` turns it into the action
 * the episode steps with. The record keeps the exact IDs: `promptTokens` the encoded chat, `actionTokens` the
 * sampled tokens (the end token included when sampled), `sampleLogProbs` log π_T of each.
 *
 * The window: a prompt that leaves fewer than `maxActionTokens` of the model's context is not truncated (cutting a
 * chat from the left breaks its template and its system message). At the first turn that is a configuration error
 * (too many few-shot examples, or a window too small) and the rollout throws; later, the episode ends there,
 * unfinished (its finish reason stays `running`, `metrics.context_full` = 1), and the verifier scores it as it is.
 */
import { hashSeed } from '../common/random';
import { unrunnableConfig } from '../config/run-config';
import { appsChatPrompt, appsSkillsChatPrompt } from '../envs/apps/chat-prompt';
import { deepSearchChatPrompt } from '../envs/deepsearch/chat-prompt';
import type { Environment, Episode } from '../envs/types';
import { actionFromReply, chatMessages, type ChatPrompt } from '../policy/llm/chat-episode';
import type { LlmTokenizer } from '../policy/llm/tokenizer';
import type { GenerateOptions, Generation } from '../policy/generate';
import { playedTrajectory, type PolicyRollout, type RolloutOptions, type RolloutSpec } from './rollout';
import type { Trajectory, TurnRecord } from './trajectory';

/** Each environment's chat protocol (envs/<env>/chat-prompt.ts); `skills`: apps' protocol with the skill actions. */
export function chatPromptFor(envName: string, opts: { skills?: boolean } = {}): ChatPrompt {
  if (opts.skills && envName !== 'apps') throw new Error(`skills exist only in the apps environment, not ${envName}`);
  switch (envName) {
    case 'apps':
      return opts.skills ? appsSkillsChatPrompt : appsChatPrompt;
    case 'deepsearch':
      return deepSearchChatPrompt;
    default:
      throw new Error(`no chat prompt for environment "${envName}" (the LLM policy knows apps and deepsearch)`);
  }
}

export interface LlmRolloutOptions extends RolloutOptions {
  /** Few-shot examples before the task (`config.agent.policy.shots`, default 0). */
  shots?: number;
  /** The environment's chat protocol (default: chatPromptFor(env.name)). */
  chatPrompt?: ChatPrompt;
}

/**
 * What plays LLM episodes: a version loaded in process (policy/llm/llm-policy.ts, the onnx engine) or one served by
 * inference servers (policy/llm/served-policy.ts, the openai engine).
 */
export interface LlmPlayer {
  readonly tokenizer: LlmTokenizer;
  readonly contextLength: number;
  generate(prompts: number[][], opts: GenerateOptions): Promise<Generation[]>;
  /** Run the rollout with the version held (an in-process version is not released under it). */
  using<T>(fn: () => Promise<T>): Promise<T>;
}

/** The token IDs of an episode's next prompt: its chat, rendered with the generation prompt. */
export function llmPromptTokens(policy: Pick<LlmPlayer, 'tokenizer'>, chatPrompt: ChatPrompt, episode: Episode, shots = 0): number[] {
  return policy.tokenizer.encode(policy.tokenizer.renderChat(chatMessages(chatPrompt, episode, { shots }), { addGenerationPrompt: true }));
}

/** An LLM policy as a PolicyRollout (for evaluatePolicy). */
export const llmRollout =
  (policy: LlmPlayer, extra: { shots?: number; chatPrompt?: ChatPrompt } = {}): PolicyRollout =>
  (env, specs, opts) =>
    rolloutLlm(env, policy, specs, { ...opts, ...extra });

export function rolloutLlm(env: Environment, policy: LlmPlayer, specs: RolloutSpec[], opts: LlmRolloutOptions): Promise<Trajectory[]> {
  return policy.using(() => run(env, policy, specs, opts));
}

async function run(env: Environment, policy: LlmPlayer, specs: RolloutSpec[], opts: LlmRolloutOptions): Promise<Trajectory[]> {
  const chatPrompt = opts.chatPrompt ?? chatPromptFor(env.name);
  const episodes: Episode[] = specs.map((s) => env.createEpisode(s.taskId, s.seed, { maxTurns: opts.maxTurns }));
  const turns: TurnRecord[][] = specs.map(() => []);
  const contextFull = specs.map(() => false);
  const room = policy.contextLength - opts.maxActionTokens;

  for (let turn = 0; ; turn++) {
    const candidates = episodes.map((_, i) => i).filter((i) => !episodes[i].done && !contextFull[i]);
    if (candidates.length === 0) break;
    const running: number[] = [];
    const prompts: number[][] = [];
    for (const i of candidates) {
      const ids = llmPromptTokens(policy, chatPrompt, episodes[i], opts.shots);
      if (ids.length > room) {
        if (turn === 0) {
          throw unrunnableConfig(
            `rolloutLlm: the first prompt of ${specs[i].taskId} has ${ids.length} tokens; with maxActionTokens ${opts.maxActionTokens} ` +
              `it does not fit the model's ${policy.contextLength}-token context (fewer shots, or fewer action tokens)`,
          );
        }
        contextFull[i] = true;
        continue;
      }
      running.push(i);
      prompts.push(ids);
    }
    if (running.length === 0) break;
    const contexts = running.map((i) => episodes[i].context());
    // One seed per (batch, turn), as rollout.ts; each row's stream is labelled by its episode, so an episode's draws
    // do not depend on which others are still running.
    const seed = hashSeed(`${specs.map((s) => s.seed).join(',')}/${turn}`);
    const generations = await policy.generate(prompts, {
      temperature: opts.temperature,
      topP: opts.topP,
      maxTokens: opts.maxActionTokens,
      stopStrings: [...chatPrompt.actionStops],
      stopsAfterLeadingBlank: true, // as actionFromReply reads the reply
      seed,
      streams: running,
      onProgress: opts.onProgress,
    });
    running.forEach((i, k) => {
      const g = generations[k];
      const action = actionFromReply(chatPrompt, g.text);
      const result = episodes[i].step(action);
      turns[i].push({
        context: contexts[k],
        promptTokens: prompts[k],
        actionTokens: g.tokens,
        sampleLogProbs: g.logProbs,
        action,
        observation: result.observation,
        error: result.error,
        nextContext: episodes[i].context(),
      });
    });
    opts.onTurn?.(turn, running.length);
  }

  return specs.map((spec, i) => playedTrajectory(spec, episodes[i], turns[i], opts.policyVersion, contextFull[i] ? { context_full: 1 } : {}));
}

/**
 * Expert demonstrations: the scripted expert (optionally noisy) plays tasks, and each turn becomes one
 * supervised example, context -> action. These make the base policy the way the seed's base model came from
 * pre-training: imperfect, so RL has room to improve it.
 */
import { hashSeed } from '../common/random';
import { unrunnableConfig } from '../config/run-config';
import type { Environment } from '../envs/types';
import type { SftExample } from '../policy/sft';
import type { Tokenizer } from '../policy/tokenizer';
import { promptTokens } from './prompt';

export interface Demonstration {
  taskId: string;
  /** Which episode of its set the turn is from (0-based). */
  episode: number;
  context: string;
  /** The action as the model must write it, its stop string included. */
  action: string;
}

export interface DemonstrationSet {
  demos: Demonstration[];
  episodes: number;
  /** Share of demonstration episodes the (noisy) expert solved. */
  expertSuccess: number;
}

/** The action text with the environment's first stop string appended when the expert left it off. */
export function withStop(env: Environment, action: string): string {
  return env.actionStops.some((stop) => action.endsWith(stop)) ? action : action + env.actionStops[0];
}

export function collectDemonstrations(
  env: Environment,
  taskIds: readonly string[],
  opts: { perTask: number; noise: number; habit?: number; seed: number },
): DemonstrationSet {
  const demos: Demonstration[] = [];
  let solved = 0;
  let episodeIndex = 0;
  for (const taskId of taskIds) {
    for (let k = 0; k < opts.perTask; k++, episodeIndex++) {
      const seed = hashSeed(`${opts.seed}/demo/${taskId}/${k}`);
      const episode = env.createEpisode(taskId, seed);
      const expert = env.expert(taskId, { noise: opts.noise, habit: opts.habit, seed });
      while (!episode.done) {
        const context = episode.context();
        const action = withStop(env, expert.act(episode));
        demos.push({ taskId, episode: episodeIndex, context, action });
        episode.step(action);
      }
      if (episode.score().success) solved++;
    }
  }
  const episodes = taskIds.length * opts.perTask;
  return { demos, episodes, expertSuccess: episodes ? solved / episodes : 0 };
}

/** One text per episode (its turns' contexts and actions): the documents a tokenizer counts pieces over. */
export function episodeTexts(demos: readonly Demonstration[]): string[] {
  const texts = new Map<number, string[]>();
  for (const d of demos) {
    if (!texts.has(d.episode)) texts.set(d.episode, []);
    texts.get(d.episode)!.push(d.context, d.action);
  }
  return [...texts.values()].map((parts) => parts.join('\n'));
}

/**
 * Token sequences with the loss on the action tokens only (the context is the model's input, not its output).
 * An action longer than `maxActionTokens` is refused, not cut: a cut target teaches the policy a call it can
 * never finish (apps' calendar.create_event runs to 54 pieces; at 48 every such task failed, base and RL alike).
 */
export function demonstrationExamples(tokenizer: Tokenizer, demos: readonly Demonstration[], contextLength: number, maxActionTokens: number): SftExample[] {
  return demos.map(({ taskId, context, action }) => {
    const prompt = promptTokens(tokenizer, context, contextLength, maxActionTokens);
    const target = tokenizer.encode(action);
    if (target.length > maxActionTokens) {
      // The same config and worlds give the same demonstrations: no retry can succeed.
      throw unrunnableConfig(
        `demonstration of ${taskId} has a ${target.length}-token action, over sampling.maxActionTokens = ${maxActionTokens} ` +
          `(raise it so the policy can write every expert action): ${JSON.stringify(action.slice(0, 80))}`,
      );
    }
    return { tokens: [...prompt, ...target], lossMask: [...prompt.map(() => 0), ...target.map(() => 1)] };
  });
}

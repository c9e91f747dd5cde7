/**
 * The one interface every environment simulator implements (DESIGN section 6).
 *
 * Text in, text out, so the built-in transformer and any chat LLM can act in them. An environment is a
 * stateless factory of tasks and episodes; an `Episode` holds one world's state, so many episodes run side
 * by side. Nothing here throws on agent input: a malformed action becomes an error observation.
 */

export interface TaskInfo {
  /** Stable id, e.g. `apps/train/0007`. Same id -> same task on every machine. */
  id: string;
  split: string;
  /** Template or question family the task was generated from. */
  template: string;
  /** 1 = easiest. */
  level: number;
  /** Tasks sharing a scenario are variants of one another (AppWorld's SGC metric groups by it). */
  scenario: string;
  /** The natural-language instruction shown to the agent. */
  instruction: string;
}

export interface StepResult {
  /** What the agent sees next (an API response, search results, or an error message). */
  observation: string;
  /** True once the episode has ended (task completed, answer given, or turn limit reached). */
  done: boolean;
  /** True when the action could not be carried out (parse error, bad argument, unknown API ...). */
  error: boolean;
}

export interface Score {
  /** The sparse reward given at the last turn, in [0, 1]. */
  reward: number;
  /** Whether the task counts as solved (all checks pass / exact match). */
  success: boolean;
  /** Environment-specific numbers (em, f1, checks passed, ...). */
  metrics: Record<string, number>;
}

export type FinishReason = 'completed' | 'max_turns' | 'running';

export interface Turn {
  action: string;
  observation: string;
  error: boolean;
}

export interface Episode {
  readonly task: TaskInfo;
  /** The first observation: the task prompt as the agent sees it. */
  readonly initialObservation: string;
  readonly turns: readonly Turn[];
  readonly done: boolean;
  readonly finishReason: FinishReason;
  /** Apply one agent action (one API call / one search or answer). Never throws. */
  step(action: string): StepResult;
  /** Verify the current state against ground truth. Meaningful once `done`; callable any time. */
  score(): Score;
  /**
   * The text the policy conditions on before its next action, after the environment's context policy
   * (e.g. task + last K turns) keeps it inside a small model's window.
   */
  context(): string;
}

/** Something that acts: the scripted expert, a random policy, a person at a terminal, or the model. */
export interface Agent {
  /** Given the episode so far, produce the next action text. */
  act(episode: Episode): string;
}

export interface ExpertOptions {
  /** 0 = flawless; higher = more skipped doc look-ups, recoverable mistakes and give-ups. In [0, 1]. */
  noise: number;
  seed: number;
  /**
   * Probability of the environment's one systematic flaw of a weak base model (default 0), the kind of habit
   * the seed's RL runs train away: apps completes a task that asks a question without giving the answer;
   * deepsearch answers from memory at the first turn instead of searching. In [0, 1].
   */
  habit?: number;
}

/** The expert options' noise and habit, checked (habit 0 when absent): every environment's expert starts here. */
export function expertSettings(opts: ExpertOptions): { noise: number; habit: number } {
  const habit = opts.habit ?? 0;
  if (!(opts.noise >= 0 && opts.noise <= 1)) throw new Error(`expert noise must be in [0, 1], got ${opts.noise}`);
  if (!(habit >= 0 && habit <= 1)) throw new Error(`expert habit must be in [0, 1], got ${habit}`);
  return { noise: opts.noise, habit };
}

export interface Environment {
  readonly name: string;
  /** Default and hard cap on agent turns per episode. */
  readonly maxTurns: number;
  /** Generation of one action ends at the first of these strings (kept as part of the action). */
  readonly actionStops: readonly string[];
  splits(): string[];
  tasks(split: string): TaskInfo[];
  task(taskId: string): TaskInfo;
  /** A fresh episode for a task; `seed` varies anything random inside the episode, not the task. */
  createEpisode(taskId: string, seed: number, opts?: { maxTurns?: number }): Episode;
  /** The scripted expert for a task (privileged: it may read the hidden world state). */
  expert(taskId: string, opts: ExpertOptions): Agent;
}

/** Run an agent to the end of an episode. */
export function runEpisode(episode: Episode, agent: Agent): Episode {
  while (!episode.done) episode.step(agent.act(episode));
  return episode;
}

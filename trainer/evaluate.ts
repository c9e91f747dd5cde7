/**
 * Held-out evaluation: the policy plays every chosen task greedily (and, for pass@k, n ≥ k sampled attempts,
 * scored with the unbiased estimator of rl/pass-at-k.ts), and the environment's verifier scores each episode.
 * Task success is TGC; a scenario counts for SGC when all of its variants succeed (AppWorld's two metrics);
 * deepsearch's EM and F1 come from the episodes' metrics.
 */
import { hashSeed } from '../common/random';
import { passAtK } from '../rl/pass-at-k';
import type { Environment, TaskInfo } from '../envs/types';
import type { PolicyRollout, SamplingOptions } from './rollout';
import type { Trajectory } from './trajectory';

export interface EvaluationOptions {
  mode: 'greedy' | 'pass@k';
  k: number;
  /** Sampled attempts per task for pass@k (config `evaluation.passN`), n ≥ k; absent = k. */
  n?: number;
  sampling: SamplingOptions;
  seed: number;
  policyVersion: number;
}

export interface EvaluationOutcome {
  metrics: Record<string, number>;
  trajectories: Trajectory[];
}

/**
 * Evaluate a policy of either kind: `play` runs the episodes (builtinRollout(policy, tokenizer) for the built-in
 * transformer, llmRollout(policy, {shots}) of trainer/llm-rollout.ts for a chat LLM). `onProgress` is called every
 * turn and every generation step (activities heartbeat there).
 */
export async function evaluatePolicy(
  env: Environment,
  play: PolicyRollout,
  tasks: readonly TaskInfo[],
  opts: EvaluationOptions,
  onProgress?: () => void,
): Promise<EvaluationOutcome> {
  const k = Math.max(1, opts.k);
  const attempts = opts.mode === 'greedy' ? 1 : Math.max(k, opts.n ?? k);
  const specs = tasks.flatMap((task, group) =>
    Array.from({ length: attempts }, (_, sample) => ({ taskId: task.id, group, sample, seed: hashSeed(`${opts.seed}/eval/${task.id}/${sample}`) })),
  );
  const temperature = opts.mode === 'greedy' ? 0 : opts.sampling.temperature;
  const trajectories = await play(env, specs, { ...opts.sampling, temperature, policyVersion: opts.policyVersion, onTurn: onProgress, onProgress });
  return { metrics: summariseEvaluation(tasks, trajectories, opts.mode === 'greedy' ? undefined : k), trajectories };
}

/**
 * The evaluation's metrics. Per-episode ones come from each task's first attempt; with `k` (pass@k mode) each
 * task's attempts also give pass@k. A metric an episode does not report (gold-passage recall on data without
 * supporting passages) is averaged over the episodes that do, and left out when none do.
 */
export function summariseEvaluation(tasks: readonly TaskInfo[], trajectories: readonly Trajectory[], k?: number): Record<string, number> {
  const byTask = new Map<string, Trajectory[]>();
  for (const t of trajectories) byTask.set(t.taskId, [...(byTask.get(t.taskId) ?? []), t]);
  const first = tasks.map((task) => byTask.get(task.id)![0]);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const scenarios = new Map<string, boolean>();
  tasks.forEach((task, i) => scenarios.set(task.scenario, (scenarios.get(task.scenario) ?? true) && first[i].success));
  const metrics: Record<string, number> = {
    tasks: tasks.length,
    success: mean(first.map((t) => (t.success ? 1 : 0))),
    meanReward: mean(first.map((t) => t.reward)),
    sgc: mean([...scenarios.values()].map((ok) => (ok ? 1 : 0))),
    meanTurns: mean(first.map((t) => t.turns.length)),
    meanTokens: mean(first.map((t) => t.turns.reduce((n, turn) => n + turn.actionTokens.length, 0))),
    envErrorsPerEpisode: mean(first.map((t) => t.envErrors)),
  };
  // A split of several levels (apps: 1-3) also reports TGC per level: does what was trained transfer to the others?
  const levels = [...new Set(tasks.map((t) => t.level))].sort((a, b) => a - b);
  if (levels.length > 1) {
    for (const level of levels) metrics[`success_L${level}`] = mean(first.filter((_, i) => tasks[i].level === level).map((t) => (t.success ? 1 : 0)));
  }
  // Evaluation in chains (apps): what the episodes did with their skill libraries.
  if (first.every((t) => t.skills)) {
    metrics.skillsWritten = mean(first.map((t) => t.skills!.written.length));
    metrics.skillsUsed = mean(first.map((t) => t.skills!.used.length));
  }
  for (const key of ['em', 'f1', 'cover_em']) {
    if (first.every((t) => typeof t.metrics[key] === 'number')) metrics[key] = mean(first.map((t) => t.metrics[key]));
  }
  const recalls = first.map((t) => t.metrics.gold_passage_recall).filter((v): v is number => typeof v === 'number');
  if (recalls.length) metrics.gold_passage_recall = mean(recalls);
  if (k !== undefined) {
    metrics.passAtK = mean(tasks.map((task) => {
      const attempts = byTask.get(task.id)!;
      return passAtK(attempts.length, attempts.filter((t) => t.success).length, k);
    }));
  }
  return metrics;
}

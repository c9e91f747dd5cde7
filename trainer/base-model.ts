/**
 * The base policy: a tokenizer built from the environment's own texts and a small transformer fine-tuned on
 * expert demonstrations (no pretrained weights exist here). Deterministic given the settings and the seed.
 */
import { hashSeed } from '../common/random';
import type { Environment } from '../envs/types';
import { createPolicy, Model, ModelConfig } from '../policy/model';
import { sftTrain, SftMetrics, SftOptions } from '../policy/sft';
import { Tokenizer } from '../policy/tokenizer';
import type { AgentTraining } from '../config/agent';
import { collectDemonstrations, demonstrationExamples, DemonstrationSet, episodeTexts } from './demonstrations';

export interface BaseModel {
  tokenizer: Tokenizer;
  policy: Model;
  sft: Omit<SftMetrics, 'optimizer' | 'losses'> & { demos: number; expertSuccess: number; heldOutAccuracy: number };
}

export function modelConfigFor(settings: AgentTraining, vocabSize: number): ModelConfig {
  const { layers, heads, width, contextLength, copyHead, rotary } = settings.model;
  return { vocabSize, contextLength, layers, heads, width, dropout: 0, copyHead, rotary };
}

/** Every 10th distinct task id, in order of first appearance: the SFT held-out set. */
export function heldOutTasks(taskIds: readonly string[]): Set<string> {
  return new Set([...new Set(taskIds)].filter((_, i) => i % 10 === 0));
}

/** The expert's demonstrations of `split`, one set per world; each world its own episode seeds, so no two
 * worlds' demonstrations share session tokens. */
export function demonstrationSets(
  worlds: Environment[],
  base: Pick<AgentTraining['base'], 'demosPerTask' | 'demoNoise'> & Partial<Pick<AgentTraining['base'], 'demoHabit'>>,
  opts: { split: string; seed: number },
): DemonstrationSet[] {
  return worlds.map((env, w) =>
    collectDemonstrations(env, env.tasks(opts.split).map((t) => t.id), {
      perTask: base.demosPerTask,
      noise: base.demoNoise,
      habit: base.demoHabit,
      seed: w === 0 ? opts.seed : hashSeed(`${opts.seed}/world/${w}`),
    }),
  );
}

/**
 * The tokenizer, built over documents that are episodes: a piece seen in fewer than 3 of them (a session token,
 * a one-off value) stays out of the vocabulary and is spelled out by characters, as every new value will be at
 * test time.
 */
export function baseTokenizer(sets: DemonstrationSet[], maxVocab: number): Tokenizer {
  return Tokenizer.build(sets.flatMap((s) => episodeTexts(s.demos)), { maxVocab, minDocuments: 3 });
}

/**
 * `worlds`: the environments whose `split` tasks the expert demonstrates (the run's own first; see
 * `base.demoWorlds`).
 */
export async function buildBaseModel(
  worlds: Environment[],
  settings: AgentTraining,
  opts: {
    split: string;
    seed: number;
    evalEvery?: number;
    onStep?: (step: number, loss: number) => void;
    onEval?: SftOptions['onEval'];
    /** Continue from this policy and its tokenizer instead of a fresh one (its model settings must match). */
    init?: { tokenizer: Tokenizer; policy: Model };
  },
): Promise<BaseModel> {
  const { base, sampling } = settings;
  const sets = demonstrationSets(worlds, base, opts);
  const set = {
    demos: sets.flatMap((s) => s.demos),
    expertSuccess: sets.reduce((sum, s) => sum + s.expertSuccess * s.episodes, 0) / Math.max(1, sets.reduce((n, s) => n + s.episodes, 0)),
  };
  const tokenizer = opts.init?.tokenizer ?? baseTokenizer(sets, settings.model.maxVocab);
  const config = modelConfigFor(settings, tokenizer.vocabSize);
  if (opts.init) {
    const differs = (Object.keys(config) as (keyof ModelConfig)[]).filter((k) => (opts.init!.policy.config[k] ?? false) !== (config[k] ?? false));
    if (differs.length) throw new Error(`SFT init policy differs from agent.model in ${differs.map((k) => `${k} (${opts.init!.policy.config[k]} vs ${config[k]})`).join(', ')}`);
  }
  const examples = demonstrationExamples(tokenizer, set.demos, config.contextLength, sampling.maxActionTokens);
  // Hold out every 10th task, all its demonstrations in every world: held-out turns then come from episodes
  // never trained on, so a value memorised from a neighbouring turn of the same episode cannot pass as imitation.
  const held = heldOutTasks(set.demos.map((d) => d.taskId));
  const train = examples.filter((_, i) => !held.has(set.demos[i].taskId));
  const heldOut = examples.filter((_, i) => held.has(set.demos[i].taskId));
  const policy = opts.init?.policy ?? createPolicy(config, opts.seed);
  const metrics = await sftTrain(policy, train, {
    steps: base.sftSteps,
    batchSize: base.sftBatchSize,
    seed: opts.seed,
    peakLr: base.sftLearningRate,
    evalExamples: heldOut,
    evalEvery: opts.evalEvery,
    pad: tokenizer.pad,
    onStep: (m) => opts.onStep?.(m.step, m.loss),
    onEval: opts.onEval,
  });
  metrics.optimizer.dispose();
  const { optimizer: _optimizer, losses: _losses, ...summary } = metrics;
  const model: BaseModel = {
    tokenizer,
    policy,
    sft: { ...summary, demos: set.demos.length, expertSuccess: set.expertSuccess, heldOutAccuracy: metrics.evals.at(-1)?.tokenAccuracy ?? 0 },
  };
  return base.habitFinetune ? withHabit(worlds, settings, opts, model) : model;
}

/** The settings of `base.habitFinetune`'s stage on its own: SFT from a given model with the habit's steps, rate and share. */
export function habitStageSettings(settings: AgentTraining): AgentTraining {
  const { base } = settings;
  const stage = base.habitFinetune;
  if (!stage) throw new Error('habitStageSettings: agent.base has no habitFinetune stage');
  return { ...settings, base: { ...base, sftSteps: stage.steps, sftLearningRate: stage.learningRate, demoHabit: stage.demoHabit, habitFinetune: undefined } };
}

/** `base.habitFinetune`: SFT continued from `model` on demonstrations with the habit, as `bench:sft --init` does. */
async function withHabit(worlds: Environment[], settings: AgentTraining, opts: Parameters<typeof buildBaseModel>[2], model: BaseModel): Promise<BaseModel> {
  const done = settings.base.sftSteps;
  const next = await buildBaseModel(
    worlds,
    habitStageSettings(settings),
    {
      ...opts,
      init: model,
      onStep: opts.onStep && ((step, loss) => opts.onStep!(done + step, loss)),
      onEval: opts.onEval && ((e) => opts.onEval!({ ...e, step: done + e.step })),
    },
  );
  const evals = [...model.sft.evals, ...next.sft.evals.map((e) => ({ ...e, step: done + e.step }))];
  return { ...next, sft: { ...next.sft, steps: done + next.sft.steps, trainedTokens: model.sft.trainedTokens + next.sft.trainedTokens, evals } };
}

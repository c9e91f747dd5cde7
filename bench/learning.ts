/**
 * `npm run bench:learning`: the seed's table in miniature. For each row (apps, deepsearch single-hop,
 * deepsearch multi-hop) and seed: build the base policy by SFT on noisy expert demonstrations, evaluate it on
 * the held-out test splits, train it with each algorithm (PPO with a critic, GRPO, SALT over GRPO, LOOP), and
 * evaluate the trained policy the same way; --curricula also compares task sampling (curriculum weightings, a
 * generated apps stream), each algorithm once per curriculum. Writes bench/results/learning.{md,json} and two SVG
 * plots per row: mean training reward per step, and the greedy dev-split metric every --eval-every steps.
 *
 * Training runs through trainer/in-process.ts: the same phase functions the Temporal activities call, in one
 * process, so the numbers measure learning rather than orchestration. Defaults follow issue 8; --quick shrinks
 * everything for a smoke run.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { LocalArtifactStore, sha256 } from '../common/artifacts';
import { initBackend } from '../policy/backend';
import { buildBaseCheckpoint } from '../cli/sft';
import { trainInProcess } from '../trainer/in-process';
import { artifactKeys as keys } from '../common/artifact-keys';
import { evaluatePhase, PhaseContext } from '../trainer/phases';
import { PolicyCache, publishPolicy } from '../trainer/policy-bundle';
import { disposeAgentState, loadAgentState } from '../trainer/agent-state';
import type { Trajectory } from '../trainer/trajectory';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../config/run-config';
import { runLearningJobs } from './learning-jobs';
import { type LearningResult, writeLearningReport } from './learning-report';

/** Each row's RL settings beyond the environment's defaults (config/defaults.ts); measurements: bench/NOTES-learning.md. */
const DEEPSEARCH_RL = { tasks: 16, maxTurns: 5, maxActionTokens: 48 } as const;
/** The deepsearch rows' base policy (SFT on demonstrations with the answer-from-memory habit); why: bench/NOTES-learning.md. */
const DEEPSEARCH_BASE = { sftSteps: 1500, demoNoise: 0.3, demoHabit: 0.6, demoWorlds: 8, demosPerTask: 1, rotary: true } as const;
const ROWS = {
  // Apps: width 128, a clean stage from eight worlds, then the stop-one-step-short habit; a 1024 window for
  // test_challenge's contexts (bench/NOTES-learning.md).
  apps: { env: 'apps', split: 'train', test: ['test_normal', 'test_challenge'], width: 128, sftBatch: 16, contextLength: 1024, base: { sftSteps: 1250, demoNoise: 0, demoHabit: 0, demoWorlds: 8, demosPerTask: 1, rotary: true, habitFinetune: { steps: 150, learningRate: 1e-3, demoHabit: 0.7 } }, rl: { tasks: 8, maxTurns: 12, maxActionTokens: 72 } },
  single: { env: 'deepsearch', family: 'single', split: 'single/train', test: ['single/test'], width: 96, sftBatch: 8, base: DEEPSEARCH_BASE, rl: DEEPSEARCH_RL },
  // Multi-hop: a 768 window (contexts run to ~580 tokens) and the habit in a second SFT stage (bench/NOTES-learning.md).
  multi: { env: 'deepsearch', family: 'multi', split: 'multi/train', test: ['multi/test'], width: 96, sftBatch: 8, base: { ...DEEPSEARCH_BASE, demoHabit: 0, habitFinetune: { steps: 150, learningRate: 1e-3, demoHabit: 0.6 } }, rl: DEEPSEARCH_RL, contextLength: 768 },
} as const;
type RowName = keyof typeof ROWS;
const ALGORITHMS = {
  ppo: { algorithm: 'ppo', stepCredit: 'none' },
  grpo: { algorithm: 'grpo', stepCredit: 'none' },
  salt: { algorithm: 'grpo', stepCredit: 'salt' },
  loop: { algorithm: 'loop', stepCredit: 'none' },
} as const;
type AlgorithmName = keyof typeof ALGORITHMS;
/** --curricula: the task sampling each algorithm runs under; `synthetic` is the default weighting over a generated stream (apps tasks, deepsearch questions). */
const CURRICULA = {
  'sometimes-solved': { curriculum: { weighting: 'sometimes-solved' } },
  uniform: { curriculum: { weighting: 'uniform' } },
  'hard-with-floor': { curriculum: { weighting: 'hard-with-floor' } },
  synthetic: { tasks: { source: 'synthetic' } },
  /** SAGE (apps only): chains of 2 tasks of a scenario with one skill library, skill-integrated reward. */
  sage: { sage: { chainLength: 2 } },
} as const satisfies Record<string, Partial<RunConfigInput>>;
type CurriculumName = keyof typeof CURRICULA;

interface Options {
  rows: string;
  algorithms: string;
  curricula?: string;
  seeds: string;
  steps: string;
  tasks?: string;
  sftSteps?: string;
  sftBatch?: string;
  demoNoise?: string;
  demoHabit?: string;
  demoWorlds?: string;
  habitSteps?: string;
  width?: string;
  evalTasks: string;
  testSplits?: string;
  evalEvery: string;
  devTasks: string;
  lr?: string;
  groupSize: string;
  temperature?: string;
  epochs?: string;
  out: string;
  quick?: boolean;
  reuse?: boolean;
  chains?: boolean;
  base?: string;
  jobs: string;
}

const opts = new Command()
  .option('--rows <list>', 'apps,single,multi', 'apps,single,multi')
  .option('--algorithms <list>', 'ppo,grpo,salt,loop', 'ppo,grpo,salt,loop')
  .option('--curricula <list>', `compare task sampling: each algorithm once per ${Object.keys(CURRICULA).join(',')} named (columns algorithm/curriculum; default: the default curriculum, plain columns)`)
  .option('--seeds <list>', 'run seeds', '1,2,3')
  .option('--steps <n>', 'RL steps per run', '30')
  .option('--tasks <n>', 'tasks per step (default: the row\'s)')
  .option('--sft-steps <n>', 'SFT steps for the base policy (default: the row\'s)')
  .option('--sft-batch <n>', 'sequences per SFT step (default: the row\'s)')
  .option('--demo-noise <p>', 'expert noise of the demonstrations (default: the row\'s)')
  .option('--demo-habit <p>', 'share of demonstrations with the weak-model habit (default: the row\'s)')
  .option('--demo-worlds <n>', 'worlds the demonstrations come from (default: the row\'s)')
  .option('--habit-steps <n>', 'steps of the row\'s second SFT stage with the habit (base.habitFinetune; 0 = none)')
  .option('--width <n>', 'model width (default: the row\'s)')
  .option('--eval-tasks <n>', 'test tasks per split (0 = all)', '0')
  .option('--test-splits <list>', 'evaluate only these of the row\'s test splits (default: all of them)')
  .option('--eval-every <n>', 'evaluate on the dev split every n RL steps and at the end (0 = only at the end)', '10')
  .option('--dev-tasks <n>', 'dev tasks per evaluation during training', '20')
  .option('--lr <x>', 'RL learning rate (default: the env\'s, config/defaults.ts)')
  .option('--group-size <n>', 'rollouts per task', '4')
  .option('--temperature <x>', 'sampling temperature of the rollouts (default: the env\'s)')
  .option('--epochs <n>', 'PPO epochs over each step\'s rollouts (default: the env\'s or algorithm\'s)')
  .option('--out <dir>', 'results folder', 'bench/results')
  .option('--reuse', 'reuse base policies already built with the same settings, and the clean stage of one whose habit stage alone changed (default: build from nothing)')
  .option('--base <file>', 'start every run from this base checkpoint (e.g. bench:sft\'s) instead of building one; needs a single row')
  .option('--chains', 'apps: evaluate each scenario\'s tasks as one chain sharing a skill library (how SAGE is compared with the other algorithms)')
  .option('--quick', 'smoke scale: 1 seed, 3 steps, 4 tasks, 40 SFT steps, 8 test tasks')
  .option('--jobs <n>', 'run the (row, seed) units in this many processes at once, one core each, and merge their tables (bench/learning-jobs.ts)', '1')
  .parse()
  .opts<Options>();

if (opts.quick) Object.assign(opts, { seeds: '1', steps: '3', tasks: '4', sftSteps: '40', evalTasks: '8', evalEvery: '2', devTasks: '4' });
const list = <T extends string>(s: string) => s.split(',').map((x) => x.trim()) as T[];
// One base checkpoint fits one row's environment and tokenizer.
if (opts.base && list(opts.rows).length !== 1) throw new Error(`--base starts one row's runs; got --rows ${opts.rows}`);

const unknownCurriculum = list<string>(opts.curricula ?? '').find((c) => c && !(c in CURRICULA));
if (unknownCurriculum) throw new Error(`--curricula: no curriculum named ${unknownCurriculum}; they are ${Object.keys(CURRICULA).join(', ')}`);
/** Each run's curriculum: the default (no column suffix) unless --curricula names some. */
const curricula: (CurriculumName | undefined)[] = opts.curricula ? list<CurriculumName>(opts.curricula) : [undefined];

const unknownRow = list<string>(opts.rows).find((row) => !(row in ROWS));
if (unknownRow) throw new Error(`--rows: no row named ${unknownRow}; the rows are ${Object.keys(ROWS).join(', ')}`);

/** Each chosen row's test splits, or those of them --test-splits names; checked here, before any base is built. */
const TEST_SPLITS = new Map(list<RowName>(opts.rows).map((row) => {
  const all: readonly string[] = ROWS[row].test;
  const named = opts.testSplits ? list<string>(opts.testSplits) : [...all];
  const chosen = all.filter((split) => named.includes(split));
  if (chosen.length === 0) throw new Error(`--test-splits ${opts.testSplits} leaves the ${row} row nothing to test; its splits are ${all.join(', ')}`);
  return [row, chosen];
}));
const unknownSplit = list<string>(opts.testSplits ?? '').find((split) => split && ![...TEST_SPLITS.values()].some((splits) => splits.includes(split)));
if (unknownSplit) throw new Error(`--test-splits: no chosen row has a test split named ${unknownSplit}`);
const testSplits = (row: RowName): readonly string[] => TEST_SPLITS.get(row)!;

/**
 * Among episodes that call at least one app API (login and supervisor aside), the share whose every such call
 * came after reading that API's doc (the seed saw RL induce this); NaN when no episode calls one.
 */
function docsFirstShare(trajectories: Trajectory[]): number {
  let calling = 0;
  let docsFirst = 0;
  for (const t of trajectories) {
    const read = new Set<string>();
    let called = false;
    let ok = true;
    for (const { action, error } of t.turns) {
      const doc = /api_docs\.show_api_doc\(app_name="(\w+)", api_name="(\w+)"\)/.exec(action);
      if (doc) read.add(`${doc[1]}.${doc[2]}`);
      const call = /^\s*(\w+)\.(\w+)\(/.exec(action);
      if (!call || error || ['api_docs', 'supervisor'].includes(call[1]) || call[2] === 'login') continue;
      called = true;
      if (!read.has(`${call[1]}.${call[2]}`)) ok = false;
    }
    if (called) {
      calling++;
      if (ok) docsFirst++;
    }
  }
  return calling ? docsFirst / calling : NaN;
}

/** The row's second SFT stage with the habit, its steps as --habit-steps says (0 = none; 10 with --quick). */
function habitStage(base: (typeof ROWS)[RowName]['base']) {
  const stage = 'habitFinetune' in base ? base.habitFinetune : undefined;
  if (!stage) return undefined;
  const steps = Number(opts.habitSteps ?? (opts.quick ? 10 : stage.steps));
  return steps > 0 ? { ...stage, steps } : undefined;
}

function configFor(row: RowName, seed: number, extra: Partial<RunConfigInput> & { agent?: Record<string, unknown> } = {}): RunConfig {
  const spec = ROWS[row];
  return parseRunConfig({
    runId: `bench-${row}-s${seed}-${Date.now().toString(36)}`,
    env: spec.env,
    split: spec.split,
    steps: Number(opts.steps),
    seed,
    tasksPerStep: Number(opts.tasks ?? spec.rl.tasks),
    groupSize: Number(opts.groupSize),
    rolloutShards: 1,
    // Learning rate, temperature and epochs: the env's and algorithm's defaults (config/defaults.ts, measured as
    // described above) unless --lr, --temperature or --epochs say otherwise.
    ...(opts.lr ? { learningRate: Number(opts.lr) } : {}),
    ...(spec.env === 'deepsearch' ? { deepsearch: { seed: 0, passages: 10000, family: (spec as { family: string }).family } } : {}),
    evaluation: { every: Number(opts.evalEvery), tasks: Number(opts.devTasks), ...(opts.chains && spec.env === 'apps' ? { chains: true } : {}) },
    ...extra,
    agent: {
      model: { layers: 2, heads: 4, width: Number(opts.width ?? spec.width), contextLength: 'contextLength' in spec ? spec.contextLength : 512, rotary: spec.base.rotary },
      sampling: { maxTurns: spec.rl.maxTurns, maxActionTokens: spec.rl.maxActionTokens, ...(opts.temperature ? { temperature: Number(opts.temperature) } : {}) },
      ppo: opts.epochs ? { epochs: Number(opts.epochs) } : {},
      base: { sftSteps: Number(opts.sftSteps ?? spec.base.sftSteps), demoWorlds: Number(opts.demoWorlds ?? spec.base.demoWorlds), demosPerTask: spec.base.demosPerTask, demoNoise: Number(opts.demoNoise ?? spec.base.demoNoise), demoHabit: Number(opts.demoHabit ?? spec.base.demoHabit), sftBatchSize: Number(opts.sftBatch ?? spec.sftBatch), sftLearningRate: 3e-3, habitFinetune: habitStage(spec.base) },
      ...(extra.agent ?? {}),
    },
  });
}

async function evaluateOn(ctx: PhaseContext, config: RunConfig, policy: { version: number; key: string; sha256: string }, step: number) {
  const out: Record<string, Record<string, number>> = {};
  for (const split of testSplits(rowOf(config))) {
    const result = await evaluatePhase(ctx, { runId: config.runId, step, config, policy, split, tasks: Number(opts.evalTasks), mode: 'greedy', k: 1 });
    const details = JSON.parse(new TextDecoder().decode(await ctx.store.get(result.details.key, result.details.sha256))) as { trajectories: Trajectory[] };
    out[split] = { ...result.metrics, ...(config.env === 'apps' ? { docsFirst: docsFirstShare(details.trajectories) } : {}) };
  }
  return out;
}

/** A base checkpoint file put into the bench's store under its hash; loading it checks that hash. */
async function givenBase(store: LocalArtifactStore, file: string): Promise<{ key: string; sha256: string }> {
  const bytes = new Uint8Array(readFileSync(file));
  const key = `base/given-${sha256(bytes).slice(0, 16)}.ckpt`;
  const ref = await store.put(key, bytes);
  console.log(`base policy from ${file} (${key})`);
  return { key, sha256: ref.sha256 };
}

function rowOf(config: RunConfig): RowName {
  return config.env === 'apps' ? 'apps' : (config.deepsearch.family as RowName);
}

async function main() {
  const jobs = Number(opts.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be an integer >= 1, got ${opts.jobs}`);
  if (jobs > 1) {
    const rows = list<RowName>(opts.rows);
    const seeds = list<string>(opts.seeds).map(Number);
    console.log(await runLearningJobs({ script: __filename, argv: process.argv.slice(2), rows, seeds, jobs, out: opts.out, options: opts }));
    return;
  }
  await initBackend();
  const store = new LocalArtifactStore(join(opts.out, 'artifacts'));
  mkdirSync(opts.out, { recursive: true });
  const ctx: PhaseContext = { store, policies: new PolicyCache(store), states: new Map() };
  const started = Date.now();
  const results: LearningResult[] = [];
  // A given base is read, hashed and stored once; every seed's runs start from it.
  const given = opts.base ? await givenBase(store, opts.base) : undefined;

  for (const row of list<RowName>(opts.rows)) {
    for (const seed of list<string>(opts.seeds).map(Number)) {
      const baseConfig = configFor(row, seed);
      console.log(`\n== ${row} seed ${seed}: base policy`);
      const base = given ?? await buildBaseCheckpoint(baseConfig, { store, reuse: opts.reuse, log: (l) => console.log(l) });
      const baseState = await loadAgentState(store, base);
      const basePolicy = await publishPolicy(store, keys.policy(baseConfig.runId, 0), baseState.policy, baseState.tokenizer);
      disposeAgentState(baseState);
      const baseEval = await evaluateOn(ctx, baseConfig, { version: 0, key: basePolicy.key, sha256: basePolicy.sha256 }, 0);
      console.log(`base: ${JSON.stringify(baseEval)}`);
      results.push({ row, seed, algorithm: 'base', eval: baseEval });

      for (const [algorithmName, curriculum] of list<AlgorithmName>(opts.algorithms).flatMap((a) => curricula.map((c) => [a, c] as const))) {
        const { algorithm, stepCredit } = ALGORITHMS[algorithmName];
        const name = curriculum ? `${algorithmName}/${curriculum}` : algorithmName;
        const config = configFor(row, seed, { algorithm, ...(curriculum ? CURRICULA[curriculum] : {}), agent: { stepCredit, base: { ...baseConfig.agent.base, checkpoint: base } } });
        console.log(`-- ${row} seed ${seed}: ${name}`);
        const run = await trainInProcess(config, store, {
          onStep: (s) => console.log(`  step ${s.step + 1}: reward ${s.meanReward.toFixed(3)} success ${(100 * s.successRate).toFixed(0)}%  flat groups ${s.flatGroups}  optimizer steps ${s.optimizerSteps}  entropy ${s.entropy.toFixed(3)}  ${JSON.stringify(s.phaseMs)}`),
        });
        const evaluation = await evaluateOn(ctx, config, run.policy, config.steps);
        console.log(`${name}: ${JSON.stringify(evaluation)}`);
        results.push({ row, seed, algorithm: name, eval: evaluation, rewards: run.steps.map((s) => s.meanReward), devEvaluations: run.evaluations });
      }
    }
  }

  const table = writeLearningReport(opts.out, results, { options: opts, seconds: (Date.now() - started) / 1000 });
  console.log(`\n${table}\nwrote ${opts.out}/learning.{md,json} in ${((Date.now() - started) / 60000).toFixed(1)} min`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

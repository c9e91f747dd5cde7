/**
 * `npm run bench:learning:llm`: the learning table's `llm` rows with SmolLM2-135M-Instruct + LoRA. The NQ row
 * (`--env deepsearch`, default): greedy EM on `single/test` of the base zero-shot and with few-shot examples (the
 * base RL starts from), then after GRPO and after SALT over GRPO. The apps row (`--env apps`): greedy TGC on
 * test_normal and test_challenge; `--sft-steps` makes the base a format SFT on the expert's chats
 * (agent.policy.sft) instead of few-shot examples; `--base-only` evaluates a base and stops.
 *
 * Unlike the other rows (trainer/in-process.ts), an LLM trains in the Python worker, so this row runs the real
 * pipeline: `ratchet up` services, the control/cpu/gpu workers and the torch worker (cli/workers.ts), one
 * training workflow per algorithm. Each run is paused right after initPolicy so the base's evaluations run here,
 * alone on the cores; the trained policy is evaluated by the run's own final evaluation on the first split, and
 * here on the others. Results: <out>/learning-llm.{json,md}; wall time per phase from the step rows.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { startWorkers } from '../cli/workers';
import { withClient } from '../cli/client';
import { startOptions } from '../cli/start';
import { artifactKeys as keys } from '../common/artifact-keys';
import { getJson, LocalArtifactStore } from '../common/artifacts';
import { parseRunConfig, type RunConfig } from '../config/run-config';
import { openDatabase } from '../db/client';
import { getRun, listEvaluations, listSteps } from '../db/queries';
import { artifactsDir } from '../infra/paths';
import { up } from '../infra/services';
import { pullModel } from '../policy/llm/pull';
import { transitionKey } from '../rl/salt';
import { turnSteps } from '../trainer/advantages';
import { evaluatePhase, loadTrajectories, type PhaseContext, releaseContext, type RewardRow } from '../trainer/phases';
import { PolicyCache } from '../trainer/policy-bundle';
import type { Progress, TrainingRunResult } from '../workflows/training-run';

const opts = new Command()
  .option('--env <name>', 'deepsearch (the NQ row: single-hop) or apps', 'deepsearch')
  .option('--algorithms <list>', 'grpo,salt,sage (sage: apps only)', 'grpo,salt')
  .option('--chains', 'apps: evaluate each scenario\'s tasks as one chain sharing a skill library (how SAGE is compared with the others)')
  .option('--seeds <list>', 'run seeds', '1')
  .option('--steps <n>', 'RL steps per run', '6')
  .option('--tasks <n>', 'tasks per step', '8')
  .option('--group-size <n>', 'rollouts per task', '4')
  .option('--shots <n>', 'few-shot examples in the prompt of the base RL starts from', '2')
  .option('--sft-steps <n>', 'format SFT of the adapter on the expert chats before RL (0 = none: the few-shot base)', '0')
  .option('--sft-tasks <n>', 'train tasks the SFT demonstrations come from (0 = all)', '0')
  .option('--sft-batch <n>', 'demonstration chats per SFT step', '4')
  .option('--sft-lr <x>', 'SFT learning rate', '5e-4')
  .option('--lr <x>', 'LoRA learning rate', '5e-4')
  .option('--temperature <x>', 'sampling temperature of the rollouts (at 1 the 2-shot base solved none of 80 episodes)', '0.7')
  .option('--rank <n>', 'LoRA rank', '16')
  .option('--max-action-tokens <n>', 'longest reply (default: deepsearch 32, apps 72)')
  .option('--max-turns <n>', 'turns per episode (default: deepsearch 3, apps 10)')
  .option('--eval-splits <list>', 'test splits (default: deepsearch single/test, apps test_normal,test_challenge); the first is the run\'s own final evaluation')
  .option('--eval-tasks <n>', 'tasks evaluated per split (the first n; 0 = all)', '40')
  .option('--base-shots <list>', 'examples in the prompt of each base evaluation (default: 0 and --shots)')
  .option('--no-base', 'skip the base evaluations (zero-shot and few-shot; they do not depend on the algorithm)')
  .option('--base-only', 'evaluate the base (version 0) and stop: no RL')
  .option('--evaluate <runId>', 'no new run: evaluate a finished run\'s base (version 0, --base-shots) and last version (its own shots) on --eval-splits')
  .option('--out <dir>', 'results folder', 'bench/results')
  .parse()
  .opts<{
    env: string; algorithms: string; seeds: string; steps: string; tasks: string; groupSize: string; shots: string; sftSteps: string; sftTasks: string; sftBatch: string; sftLr: string;
    lr: string; temperature: string; rank: string; chains?: boolean; maxActionTokens?: string; maxTurns?: string; evalSplits?: string; evalTasks: string; baseShots?: string; base: boolean; baseOnly?: boolean; evaluate?: string; out: string;
  }>();

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
/** `sage` (apps): GRPO over chains of 2 tasks of a scenario with one skill library and SAGE's reward. */
const ALGORITHMS = {
  grpo: { algorithm: 'grpo', stepCredit: 'none', sage: false },
  salt: { algorithm: 'grpo', stepCredit: 'salt', sage: false },
  sage: { algorithm: 'grpo', stepCredit: 'none', sage: true },
} as const;
type AlgorithmName = keyof typeof ALGORITHMS;
const ENVS = {
  deepsearch: { splits: ['single/test'], metric: 'em', maxActionTokens: 32, maxTurns: 3 },
  apps: { splits: ['test_normal', 'test_challenge'], metric: 'success', maxActionTokens: 72, maxTurns: 10 },
} as const;
if (!(opts.env in ENVS)) throw new Error(`--env: ${opts.env} is not one of ${Object.keys(ENVS).join(', ')}`);
const ENV = ENVS[opts.env as keyof typeof ENVS];
const SPLITS = opts.evalSplits ? list(opts.evalSplits) : [...ENV.splits];
const SHOTS = Number(opts.shots);

function runConfig(name: AlgorithmName, seed: number, stamp: string): RunConfig {
  const sftSteps = Number(opts.sftSteps);
  return parseRunConfig({
    runId: `llm-${opts.env}-${name}${sftSteps ? '-sft' : ''}-s${seed}-${stamp}`,
    env: opts.env,
    algorithm: ALGORITHMS[name].algorithm,
    steps: Number(opts.steps),
    seed,
    tasksPerStep: Number(opts.tasks),
    groupSize: Number(opts.groupSize),
    rolloutShards: 1,
    learningRate: Number(opts.lr),
    ...(opts.env === 'deepsearch' ? { deepsearch: { family: 'single' } } : {}),
    ...(ALGORITHMS[name].sage ? { sage: { chainLength: 2 } } : {}),
    agent: {
      stepCredit: ALGORITHMS[name].stepCredit,
      policy: {
        kind: 'llm',
        model: 'smollm2-135m-instruct',
        lora: { rank: Number(opts.rank), alpha: 2 * Number(opts.rank) },
        shots: SHOTS,
        keepExports: null, // --evaluate scores version 0 after the run
        ...(sftSteps ? { sft: { steps: sftSteps, tasks: Number(opts.sftTasks), batchSize: Number(opts.sftBatch), learningRate: Number(opts.sftLr) } } : {}),
      },
      sampling: { temperature: Number(opts.temperature), maxActionTokens: Number(opts.maxActionTokens ?? ENV.maxActionTokens), maxTurns: Number(opts.maxTurns ?? ENV.maxTurns) },
      ppo: { epochs: 1, microbatchSegments: 4 },
    },
    timeouts: { activityStartToClose: '60m', activityHeartbeat: '5m' },
    evaluation: { split: SPLITS[0], tasks: Number(opts.evalTasks), ...(opts.chains ? { chains: true } : {}) },
  });
}

/** An artifact's sha256, read from the local store's sidecar (the workflow does not expose these references). */
const sidecarSha = (key: string) => readFileSync(join(artifactsDir(), `${key}.sha256`), 'utf8').trim();

const policyRef = (config: RunConfig, version: number) => {
  const key = keys.policy(config.runId, version);
  return { version, key, sha256: sidecarSha(key) };
};

/** Greedy evaluation of a run's policy version on a test split, here in this process, with `shots` examples. */
async function evaluateVersion(ctx: PhaseContext, config: RunConfig, version: number, shots: number, split: string) {
  const withShots = { ...config, agent: { ...config.agent, policy: { ...config.agent.policy, shots } } } as RunConfig;
  const started = Date.now();
  // Details go under runs/<run>/bench-<k>-shot/, never over the run's own evaluation artifacts.
  const result = await evaluatePhase(ctx, { runId: `${config.runId}/bench-${shots}-shot`, step: version, config: withShots, policy: policyRef(config, version), split, tasks: Number(opts.evalTasks), mode: 'greedy', k: 1 });
  const m = result.metrics as Record<string, number>;
  const row = { split, shots, version, score: m[ENV.metric], em: m.em, f1: m.f1, success: m.success, sgc: m.sgc, meanTurns: m.meanTurns, meanTokens: m.meanTokens, skillsWritten: m.skillsWritten, skillsUsed: m.skillsUsed, episodes: result.episodes, seconds: (Date.now() - started) / 1000 };
  console.log(`${config.runId} v${version} ${split} ${shots}-shot: ${JSON.stringify(row)}`);
  return row;
}

/**
 * How much SALT had to work with in each recorded step: of the steps (turns) of groups whose rewards differ, how
 * many fall in a transition node (rl/salt.ts, keyed as the trainer keys them) that rollouts with different rewards
 * share, the steps whose advantage SALT replaces by a mean. Read from the run's artifacts.
 */
async function saltSharedSteps(ctx: PhaseContext, config: RunConfig, steps: number): Promise<{ step: number; steps: number; mixed: number }[]> {
  const out = [];
  for (let step = 0; step < steps; step++) {
    const rewards = await getJson<RewardRow[]>(ctx.store, { key: keys.step(config.runId, step, 'rewards.json'), sha256: sidecarSha(keys.step(config.runId, step, 'rewards.json')) });
    const shards = [...new Map(rewards.map((r) => [r.shard.key, r.shard])).values()];
    const trajectories = await loadTrajectories(ctx.store, shards);
    const reward = new Map(rewards.map((r) => [`${r.group}/${r.sample}`, r.reward]));
    let total = 0;
    let mixed = 0;
    for (const group of new Set(trajectories.map((t) => t.group))) {
      const members = trajectories.filter((t) => t.group === group);
      const rs = members.map((t) => reward.get(`${t.group}/${t.sample}`)!);
      if (rs.every((r) => r === rs[0])) continue;
      const nodes = new Map<string, number[]>();
      members.forEach((t, i) =>
        turnSteps(t, config.agent.saltStates).forEach((s) => {
          const node = transitionKey(s);
          nodes.set(node, [...(nodes.get(node) ?? []), rs[i]]);
          total++;
        }),
      );
      for (const r of nodes.values()) if (r.length > 1 && r.some((x) => x !== r[0])) mixed += r.length;
    }
    out.push({ step, steps: total, mixed });
  }
  return out;
}

/** Version 0 on every split: zero-shot, and with the run's examples when it has any (or as --base-shots says). */
async function evaluateBase(ctx: PhaseContext, config: RunConfig) {
  const rows = [];
  const shotsList = opts.baseShots ? list(opts.baseShots).map(Number) : SHOTS > 0 ? [0, SHOTS] : [0];
  for (const split of SPLITS) for (const shots of shotsList) rows.push(await evaluateVersion(ctx, config, 0, shots, split));
  await releaseContext(ctx);
  return rows;
}

async function main() {
  await pullModel('smollm2-135m-instruct');
  const stack = await up();
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  process.env.DATABASE_URL = stack.databaseUrl;
  startWorkers({ ...process.env }, console.log, { torch: true });
  const database = openDatabase(stack.databaseUrl, 1);
  const ctx: PhaseContext = { store: new LocalArtifactStore(artifactsDir()), policies: new PolicyCache(new LocalArtifactStore(artifactsDir())), states: new Map() };
  const stamp = new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 12);
  const results: Record<string, unknown>[] = [];
  mkdirSync(opts.out, { recursive: true });

  if (opts.evaluate) {
    const run = await getRun(database.db, opts.evaluate);
    if (!run) throw new Error(`--evaluate: no run ${opts.evaluate} in ${stack.databaseUrl}`);
    const config = parseRunConfig(run.config);
    const last = run.stepsCompleted;
    const shots = config.agent.policy.kind === 'llm' ? config.agent.policy.shots : 0;
    const base = await evaluateBase(ctx, config);
    const trained = [];
    for (const split of SPLITS) trained.push(await evaluateVersion(ctx, config, last, shots, split));
    results.push({ seed: config.seed, algorithm: `${config.algorithm}${config.agent.stepCredit === 'none' ? '' : `+${config.agent.stepCredit}`} (evaluated)`, runId: config.runId, base, trained, steps: last, wallSeconds: 0 });
    writeFileSync(join(opts.out, 'learning-llm.json'), JSON.stringify({ options: opts, results }, null, 2));
  }
  for (const seed of opts.evaluate ? [] : list(opts.seeds).map(Number)) {
    let base: Awaited<ReturnType<typeof evaluateBase>> | undefined;
    for (const name of list(opts.algorithms) as AlgorithmName[]) {
      if (!(name in ALGORITHMS)) throw new Error(`--algorithms: ${name} is not one of ${Object.keys(ALGORITHMS).join(', ')}`);
      const config = runConfig(name, seed, stamp);
      const started = Date.now();
      const result = await withClient(async (client) => {
        const handle = await client.workflow.start('trainingRun', { ...startOptions(config), args: [config] });
        await handle.signal('pause');
        for (;;) {
          const p = await handle.query<Progress>('progress');
          if (p.phase === 'paused') break;
          await new Promise((r) => setTimeout(r, 1000));
        }
        const initSeconds = (Date.now() - started) / 1000;
        if (!base && (opts.base || opts.baseOnly)) base = await evaluateBase(ctx, config);
        if (opts.baseOnly) {
          await handle.terminate('bench: --base-only');
          return { initSeconds };
        }
        const trainingStarted = Date.now();
        await handle.signal('resume');
        return { initSeconds, ...((await handle.result()) as TrainingRunResult), trainingSeconds: (Date.now() - trainingStarted) / 1000 };
      });
      if (!('steps' in result)) {
        results.push({ seed, runId: config.runId, base, initSeconds: result.initSeconds, wallSeconds: (Date.now() - started) / 1000 });
        writeFileSync(join(opts.out, 'learning-llm.json'), JSON.stringify({ options: opts, results }, null, 2));
        break;
      }
      const steps = await listSteps(database.db, config.runId);
      const phaseSeconds: Record<string, number> = {};
      for (const row of steps) for (const [phase, ms] of Object.entries(((row.metrics as { phaseMs?: Record<string, number> }).phaseMs ?? {}))) phaseSeconds[phase] = (phaseSeconds[phase] ?? 0) + ms / 1000;
      // The run evaluated its last version on the first split; the other splits are evaluated here.
      const own = (await listEvaluations(database.db, config.runId)).find((e) => e.split === SPLITS[0] && e.mode === 'greedy');
      const ownMetrics = (own?.metrics ?? {}) as Record<string, number>;
      const trained = [{ split: SPLITS[0], shots: SHOTS, version: result.policyVersion, score: ownMetrics[ENV.metric], em: ownMetrics.em, f1: ownMetrics.f1, success: ownMetrics.success }];
      for (const split of SPLITS.slice(1)) trained.push(await evaluateVersion(ctx, config, result.policyVersion, SHOTS, split));
      await releaseContext(ctx);
      const mismatch = steps.map((r) => (r.metrics as Record<string, number>).logProbMismatch);
      const row = {
        seed,
        algorithm: name,
        runId: config.runId,
        base,
        trained,
        steps: result.steps,
        meanReward: steps.map((r) => r.meanReward),
        logProbMismatchMax: Math.max(...mismatch),
        saltSharedSteps: await saltSharedSteps(ctx, config, result.steps),
        initSeconds: result.initSeconds,
        wallSeconds: (Date.now() - started) / 1000,
        trainingSeconds: result.trainingSeconds,
        phaseSeconds,
      };
      console.log(JSON.stringify(row));
      results.push(row);
      writeFileSync(join(opts.out, 'learning-llm.json'), JSON.stringify({ options: opts, results }, null, 2));
    }
  }
  await database.close();
  writeFileSync(join(opts.out, 'learning-llm.md'), report(results));
  console.log(report(results));
}

type Scored = { split: string; shots: number; version: number; score?: number };
const scores = (rows: Scored[] | undefined) => (rows ?? []).map((r) => `${r.split} ${r.shots}-shot v${r.version} ${r.score?.toFixed(3) ?? '-'}`).join('; ') || '-';

function report(results: Record<string, unknown>[]): string {
  const lines = [`${opts.env}, greedy ${ENV.metric}, the first ${opts.evalTasks} tasks of each split`, '', '| seed | algorithm | base | trained | steps | run wall (min) | phases (min) |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of results as { seed: number; algorithm?: string; base?: Scored[]; trained?: Scored[]; steps?: number; wallSeconds: number; phaseSeconds?: Record<string, number> }[]) {
    const phases = Object.entries(r.phaseSeconds ?? {}).sort((a, b) => b[1] - a[1]).map(([p, s]) => `${p} ${(s / 60).toFixed(1)}`).join(', ');
    lines.push(`| ${r.seed} | ${r.algorithm ?? '(base only)'} | ${scores(r.base)} | ${scores(r.trained)} | ${r.steps ?? 0} | ${(r.wallSeconds / 60).toFixed(1)} | ${phases} |`);
  }
  return `${lines.join('\n')}\n`;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

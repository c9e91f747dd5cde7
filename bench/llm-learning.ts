/**
 * `npm run bench:learning:llm`: the learning table's `llm` row, the seed's NQ row with a pretrained LLM.
 * SmolLM2-135M-Instruct + LoRA on deepsearch single-hop: greedy EM on `single/test` of the base zero-shot and
 * with few-shot examples (the base RL starts from), then after GRPO and after SALT over GRPO.
 *
 * Unlike the other rows (trainer/in-process.ts), an LLM trains in the Python worker, so this row runs the real
 * pipeline: `ratchet up` services, the control/cpu/gpu workers and the torch worker (cli/workers.ts), one
 * training workflow per algorithm. Each run is paused right after initPolicy so the base's evaluations run here,
 * alone on the cores; the trained policy is evaluated by the run's own final evaluation. Results:
 * <out>/learning-llm.{json,md}; wall time per phase from the step rows.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { startWorkers } from '../cli/workers';
import { withClient } from '../cli/client';
import { startOptions } from '../cli/start';
import { artifactKeys as keys } from '../common/artifact-keys';
import { LocalArtifactStore } from '../common/artifacts';
import { parseRunConfig, type RunConfig } from '../config/run-config';
import { openDatabase } from '../db/client';
import { listEvaluations, listSteps } from '../db/queries';
import { artifactsDir } from '../infra/paths';
import { up } from '../infra/services';
import { pullModel } from '../policy/llm/pull';
import { evaluatePhase, type PhaseContext, releaseContext } from '../trainer/phases';
import { PolicyCache } from '../trainer/policy-bundle';
import type { Progress, TrainingRunResult } from '../workflows/training-run';

const opts = new Command()
  .option('--algorithms <list>', 'grpo,salt', 'grpo,salt')
  .option('--seeds <list>', 'run seeds', '1')
  .option('--steps <n>', 'RL steps per run', '6')
  .option('--tasks <n>', 'tasks per step', '8')
  .option('--group-size <n>', 'rollouts per task', '4')
  .option('--shots <n>', 'few-shot examples in the prompt of the base RL starts from', '2')
  .option('--lr <x>', 'LoRA learning rate', '5e-4')
  .option('--temperature <x>', 'sampling temperature of the rollouts (at 1 the 2-shot base solved none of 80 episodes)', '0.7')
  .option('--rank <n>', 'LoRA rank', '16')
  .option('--max-action-tokens <n>', 'longest reply', '32')
  .option('--max-turns <n>', 'turns per episode', '3')
  .option('--eval-tasks <n>', 'single/test questions evaluated (the first n; 0 = all)', '40')
  .option('--out <dir>', 'results folder', 'bench/results')
  .parse()
  .opts<{ algorithms: string; seeds: string; steps: string; tasks: string; groupSize: string; shots: string; lr: string; temperature: string; rank: string; maxActionTokens: string; maxTurns: string; evalTasks: string; out: string }>();

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const ALGORITHMS = { grpo: { algorithm: 'grpo', stepCredit: 'none' }, salt: { algorithm: 'grpo', stepCredit: 'salt' } } as const;
type AlgorithmName = keyof typeof ALGORITHMS;
const SPLIT = 'single/test';

function runConfig(name: AlgorithmName, seed: number, stamp: string): RunConfig {
  return parseRunConfig({
    runId: `llm-${name}-s${seed}-${stamp}`,
    env: 'deepsearch',
    algorithm: ALGORITHMS[name].algorithm,
    steps: Number(opts.steps),
    seed,
    tasksPerStep: Number(opts.tasks),
    groupSize: Number(opts.groupSize),
    rolloutShards: 1,
    learningRate: Number(opts.lr),
    deepsearch: { family: 'single' },
    agent: {
      stepCredit: ALGORITHMS[name].stepCredit,
      policy: { kind: 'llm', model: 'smollm2-135m-instruct', lora: { rank: Number(opts.rank), alpha: 2 * Number(opts.rank) }, shots: Number(opts.shots) },
      sampling: { temperature: Number(opts.temperature), maxActionTokens: Number(opts.maxActionTokens), maxTurns: Number(opts.maxTurns) },
      ppo: { epochs: 1, microbatchSegments: 4 },
    },
    timeouts: { activityStartToClose: '60m', activityHeartbeat: '5m' },
    evaluation: { split: SPLIT, tasks: Number(opts.evalTasks) },
  });
}

/** Greedy EM of the run's version 0 on the test split, here in this process, with `shots` examples. */
async function evaluateBase(ctx: PhaseContext, config: RunConfig, shots: number) {
  const key = keys.policy(config.runId, 0);
  const sha256 = readFileSync(join(artifactsDir(), `${key}.sha256`), 'utf8').trim();
  const withShots = { ...config, agent: { ...config.agent, policy: { ...config.agent.policy, shots } } } as RunConfig;
  const started = Date.now();
  const result = await evaluatePhase(ctx, { runId: config.runId, step: 0, config: withShots, policy: { version: 0, key, sha256 }, split: SPLIT, tasks: Number(opts.evalTasks), mode: 'greedy', k: 1 });
  return { em: result.metrics.em, f1: result.metrics.f1, episodes: result.episodes, seconds: (Date.now() - started) / 1000 };
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

  for (const seed of list(opts.seeds).map(Number)) {
    let base: { zeroShot: unknown; fewShot: unknown } | undefined;
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
        if (!base) {
          const zeroShot = await evaluateBase(ctx, config, 0);
          console.log(`seed ${seed} base zero-shot: ${JSON.stringify(zeroShot)}`);
          const fewShot = await evaluateBase(ctx, config, config.agent.policy.kind === 'llm' ? config.agent.policy.shots : 0);
          console.log(`seed ${seed} base ${opts.shots}-shot: ${JSON.stringify(fewShot)}`);
          base = { zeroShot, fewShot };
          await releaseContext(ctx);
        }
        const trainingStarted = Date.now();
        await handle.signal('resume');
        return { ...((await handle.result()) as TrainingRunResult), trainingSeconds: (Date.now() - trainingStarted) / 1000 };
      });
      const steps = await listSteps(database.db, config.runId);
      const phaseSeconds: Record<string, number> = {};
      for (const row of steps) for (const [phase, ms] of Object.entries(((row.metrics as { phaseMs?: Record<string, number> }).phaseMs ?? {}))) phaseSeconds[phase] = (phaseSeconds[phase] ?? 0) + ms / 1000;
      const evaluation = (await listEvaluations(database.db, config.runId)).find((e) => e.split === SPLIT && e.mode === 'greedy');
      const mismatch = steps.map((r) => (r.metrics as Record<string, number>).logProbMismatch);
      const row = {
        seed,
        algorithm: name,
        runId: config.runId,
        base,
        trained: evaluation ? { em: (evaluation.metrics as Record<string, number>).em, f1: (evaluation.metrics as Record<string, number>).f1, step: evaluation.step } : undefined,
        steps: result.steps,
        meanReward: steps.map((r) => r.meanReward),
        logProbMismatchMax: Math.max(...mismatch),
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

function report(results: Record<string, unknown>[]): string {
  const lines = ['| seed | algorithm | base zero-shot EM | base few-shot EM | trained EM | steps | run wall (min) | phases (min) |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of results as { seed: number; algorithm: string; base: { zeroShot: { em: number }; fewShot: { em: number } }; trained?: { em: number }; steps: number; wallSeconds: number; phaseSeconds: Record<string, number> }[]) {
    const phases = Object.entries(r.phaseSeconds).sort((a, b) => b[1] - a[1]).map(([p, s]) => `${p} ${(s / 60).toFixed(1)}`).join(', ');
    lines.push(`| ${r.seed} | ${r.algorithm} | ${r.base.zeroShot.em.toFixed(3)} | ${r.base.fewShot.em.toFixed(3)} | ${r.trained?.em.toFixed(3) ?? '-'} | ${r.steps} | ${(r.wallSeconds / 60).toFixed(1)} | ${phases} |`);
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

/**
 * `npm run bench:sft`: how well supervised fine-tuning imitates the apps expert (issue 5's acceptance). Builds
 * the base policy exactly as a run does (trainer/base-model.ts: expert demonstrations -> tokenizer -> SFT) and
 * prints the held-out action-token accuracy along the way; writes bench/results/sft.{md,json}.
 *
 * Held-out = the turns of every 10th task (in every world), whose episodes are never trained on. Defaults are
 * the settings the issue's figure was measured with; flags change them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Command } from 'commander';
import { LocalArtifactStore, sha256 } from '../common/artifacts';
import { initBackend } from '../policy/backend';
import { initialAgentState, loadAgentState, saveAgentState } from '../trainer/agent-state';
import type { Environment } from '../envs/types';
import { OrtPolicy } from '../policy/generate';
import { getWeights, parameterCount } from '../policy/model';
import { exportOnnx } from '../policy/onnx-export';
import { BaseModel, buildBaseModel } from '../trainer/base-model';
import { evaluatePolicy } from '../trainer/evaluate';
import { builtinRollout } from '../trainer/rollout';
import { demonstrationWorlds } from '../trainer/phases';
import { parseRunConfig, type RunConfig } from '../config/run-config';

const opts = new Command()
  .option('--env <name>', 'apps or deepsearch', 'apps')
  .option('--split <name>', 'split whose tasks are demonstrated', 'train')
  .option('--worlds <n>', 'worlds the demonstrations come from (base.demoWorlds)', '8')
  .option('--demos <n>', 'demonstrations per task and world', '1')
  .option('--noise <p>', 'expert noise (0 = flawless)', '0')
  .option('--habit <p>', 'share of demonstrations with the weak-model habit (base.demoHabit)', '0')
  .option('--layers <n>', 'transformer layers', '2')
  .option('--width <n>', 'model width', '128')
  .option('--no-copy-head', 'no copy (pointer) head: the LM head alone')
  .option('--rotary', 'rotary position embeddings instead of learned positions')
  .option('--context-length <n>', 'model context window in tokens (multi-hop deepsearch contexts need 768)', '512')
  .option('--steps <n>', 'SFT steps', '1000')
  .option('--batch <n>', 'sequences per step', '16')
  .option('--lr <x>', 'peak learning rate', '3e-3')
  .option('--eval-every <n>', 'held-out evaluation every n steps', '200')
  .option('--seed <n>', 'seed', '1')
  .option('--max-action-tokens <n>', 'longest action the policy writes (sampling.maxActionTokens)', '72')
  .option('--init <file>', 'continue SFT from this base checkpoint (its tokenizer and weights) instead of a fresh policy')
  .option('--eval-splits <list>', 'after SFT, play these splits greedily and report task success (e.g. test_normal)', '')
  .option('--eval-tasks <n>', 'tasks per evaluated split (0 = all)', '0')
  .option('--out <dir>', 'results folder', 'bench/results')
  .parse()
  .opts<Record<string, string>>();

async function main() {
  const backend = await initBackend();
  const config = parseRunConfig({
    runId: 'bench-sft',
    steps: 1,
    env: opts.env,
    split: opts.split,
    // A deepsearch split names its question family (`multi/train`), which picks the generated questions.
    ...(opts.env === 'deepsearch' ? { deepsearch: { family: opts.split.startsWith('multi/') ? 'multi' : 'single' } } : {}),
    seed: Number(opts.seed),
    agent: {
      model: { layers: Number(opts.layers), width: Number(opts.width), contextLength: Number(opts.contextLength), copyHead: Boolean(opts.copyHead), rotary: Boolean(opts.rotary) },
      sampling: { maxActionTokens: Number(opts.maxActionTokens) },
      base: {
        demoWorlds: Number(opts.worlds),
        demosPerTask: Number(opts.demos),
        demoNoise: Number(opts.noise),
        demoHabit: Number(opts.habit),
        sftSteps: Number(opts.steps),
        sftBatchSize: Number(opts.batch),
        sftLearningRate: Number(opts.lr),
      },
    },
  });
  const started = Date.now();
  const worlds = demonstrationWorlds(config);
  const init = opts.init ? await loadAgentState(new LocalArtifactStore(dirname(opts.init)), { key: basename(opts.init), sha256: sha256(readFileSync(opts.init)) }) : undefined;
  if (init) console.log(`continuing from ${opts.init} (step ${init.step})`);
  const base = await buildBaseModel(worlds, config.agent, {
    init,
    split: config.split,
    seed: config.seed,
    evalEvery: Number(opts.evalEvery),
    onStep: (step, loss) => {
      if (step % 50 === 0) console.log(`step ${step}/${config.agent.base.sftSteps}  loss ${loss.toFixed(3)}  ${((Date.now() - started) / 1000).toFixed(0)} s`);
    },
    onEval: (e) => console.log(`  held-out at step ${e.step}: accuracy ${(100 * e.tokenAccuracy).toFixed(2)}%, loss ${e.loss.toFixed(3)}`),
  });
  const seconds = (Date.now() - started) / 1000;
  const params = parameterCount(base.policy.config);
  mkdirSync(opts.out, { recursive: true });
  // The base as a run would store it, so it can be inspected or trained further (`agent.base.checkpoint`).
  const saved = await saveAgentState(new LocalArtifactStore(join(opts.out, 'artifacts')), 'base/sft.ckpt', initialAgentState(base.tokenizer, base.policy, { withCritic: false, seed: config.seed }));
  console.log(`base checkpoint: ${join(opts.out, 'artifacts', saved.key)} sha256 ${saved.sha256}`);
  const episodes = await playSplits(worlds[0], base, config);
  const lines = [
    `# SFT on ${config.env}/${config.split} expert demonstrations`,
    '',
    ...(opts.init ? [`Continued from ${opts.init}.`] : []),
    `${base.sft.demos} demonstration turns from ${config.agent.base.demoWorlds} world(s) x ${config.agent.base.demosPerTask} per task, expert noise ${config.agent.base.demoNoise}, habit ${config.agent.base.demoHabit} (expert success ${(100 * base.sft.expertSuccess).toFixed(0)}%).`,
    `Model ${config.agent.model.layers} layers x width ${config.agent.model.width}${config.agent.model.copyHead ? ' with a copy head' : ''}${config.agent.model.rotary ? ', rotary positions' : ''} (${params.toLocaleString('en')} parameters, vocabulary ${base.tokenizer.vocabSize}); ${config.agent.base.sftSteps} steps of ${config.agent.base.sftBatchSize}, peak lr ${config.agent.base.sftLearningRate}; ${backend} backend, ${(seconds / 60).toFixed(1)} min, ${base.sft.tokensPerSecond.toFixed(0)} tokens/s.`,
    '',
    '| step | held-out loss | held-out action-token accuracy |',
    '|---|---|---|',
    ...base.sft.evals.map((e) => `| ${e.step} | ${e.loss.toFixed(3)} | ${(100 * e.tokenAccuracy).toFixed(2)}% |`),
    '',
    ...(episodes.length
      ? [
          'The base policy playing held-out tasks greedily (onnxruntime, the exported graph a run would sync):',
          '',
          '| split | tasks | task success | scenario success | mean turns |',
          '|---|---|---|---|---|',
          ...episodes.map(({ split, m }) => `| ${split} | ${m.tasks} | ${(100 * m.success).toFixed(1)}% | ${(100 * m.sgc).toFixed(1)}% | ${m.meanTurns.toFixed(1)} |`),
          '',
        ]
      : []),
  ];
  writeFileSync(join(opts.out, 'sft.md'), lines.join('\n'));
  writeFileSync(join(opts.out, 'sft.json'), JSON.stringify({ options: opts, seconds, parameters: params, sft: base.sft, checkpoint: saved, episodes }, null, 2));
  console.log(`\n${lines.join('\n')}\nwrote ${opts.out}/sft.{md,json}`);
}

/** Greedy episodes of the SFT policy on each `--eval-splits` split, through the ONNX export as in a run. */
async function playSplits(env: Environment, base: BaseModel, config: RunConfig) {
  const splits = opts.evalSplits.split(',').filter(Boolean);
  if (!splits.length) return [];
  const policy = await OrtPolicy.load(exportOnnx(getWeights(base.policy), base.policy.config, { logits: 'last' }));
  const out: { split: string; m: Record<string, number> }[] = [];
  for (const split of splits) {
    const all = env.tasks(split);
    const tasks = Number(opts.evalTasks) > 0 ? all.slice(0, Number(opts.evalTasks)) : all;
    const outcome = await evaluatePolicy(env, builtinRollout(policy, base.tokenizer), tasks, { mode: 'greedy', k: 1, sampling: config.agent.sampling, seed: config.seed, policyVersion: 0 });
    console.log(`${split}: ${JSON.stringify(outcome.metrics)}`);
    // Each episode as text (what the policy wrote, what came back), to read where a policy goes wrong.
    const transcripts = outcome.trajectories.map((t) => [`# ${t.taskId} success=${t.success}`, t.turns[0]?.context.split('\n')[0] ?? '', ...t.turns.map((turn) => `> ${turn.action.trimEnd()}\n${turn.observation}`)].join('\n'));
    writeFileSync(join(opts.out, `episodes-${split.replace(/\W+/g, '_')}.txt`), transcripts.join('\n\n'));
    out.push({ split, m: outcome.metrics });
  }
  await policy.release();
  return out;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

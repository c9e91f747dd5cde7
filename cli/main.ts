/**
 * The `ratchet` command. `npm start` runs `ratchet demo`: the whole stack on the embedded defaults and a
 * short text-agent training run with a progress bar (cli/demo.ts).
 */
import type { Client } from '@temporalio/client';
import { Command } from 'commander';
import { canConnect, databaseUrl, openDatabase } from '../db/client';
import { listRuns } from '../db/queries';
import { down, up, TEMPORAL_UI_PORT } from '../infra/services';
import { temporalProblem } from '../infra/temporal';
import { flagsToEnv, temporalTarget, TEMPORAL_OPTIONS, type TemporalFlags } from '../common/temporal-connection';
import { environmentHelp } from './environment';
import { registerSchemaCommand } from './schema';
import { registerSetupCommand } from './setup';
import { packageVersion } from './version';
import { withClient } from './client';
import { resumeRun } from './resume';
import { runStatusLines } from './status';
import { writeRunReport } from './report';
import { registerCodecServerCommand } from './codec-server';
import { registerModelsCommand } from './models';
import { registerServeCommand } from './serve';
import { buildBaseCheckpoint } from './sft';
import { DEMO_CONFIGS, runDemo } from './demo';
import { trainLocal } from './train-local';
import { claimRunId, loadRunConfig, startRun, watchRun, workflowIdFor } from './start';
import { deadWorkers, startWorkers } from './workers';

const program = new Command()
  .name('ratchet')
  .description('Durable online RL for multi-turn tool-using agents, on Temporal')
  .version(packageVersion())
  .addHelpText('after', environmentHelp());
// Cluster flags for every command: copied into the environment, so workers started from here connect alike.
for (const option of TEMPORAL_OPTIONS) program.option(option.flags, option.description);
program.hook('preAction', () => flagsToEnv(program.opts<TemporalFlags>()));

program
  .command('up')
  .description('start (or reuse) the Temporal dev server and Postgres, apply migrations')
  .action(async () => {
    await up();
  });

program
  .command('down')
  .description('stop the services and workers that `up`, `workers` and `demo` started')
  .action(async () => {
    await down();
  });

program
  .command('workers')
  .description('start the control, cpu and gpu workers in the background')
  .option('--torch', 'also the Python worker that trains LLM policies (agent.policy.kind "llm"; needs `npm run setup:python`)')
  .action(async (opts: { torch?: boolean }) => {
    const stack = await up();
    startWorkers({ ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl }, console.log, { torch: opts.torch });
  });

program
  .command('status')
  .description('what is up, and the latest runs')
  .action(async () => {
    const target = temporalTarget();
    const problem = await temporalProblem(target.address, target.namespace, target.connectionOptions);
    const temporal = problem === undefined;
    const url = databaseUrl();
    const postgres = await canConnect(url);
    console.log(`temporal  ${target.address}${target.tls ? ' (tls)' : ''}  ${temporal ? `up  (UI http://localhost:${TEMPORAL_UI_PORT})` : `down: ${problem}`}`);
    console.log(`postgres  ${url.replace(/:[^:@/]+@/, ':***@')}  ${postgres ? 'up' : 'down'}`);
    const dead = deadWorkers();
    console.log(`workers   ${['control', 'cpu', 'gpu'].map((p) => `${p}:${dead.includes(p) ? 'down' : 'up'}`).join(' ')}`);
    if (!postgres) return;
    const database = openDatabase(url, 1);
    try {
      const runs = await listRuns(database.db, 10);
      const lines = async (client?: Client) => {
        for (const run of runs) console.log((await runStatusLines(database.db, run, client)).join('\n'));
      };
      // A running run's live steps and a terminated workflow's state come from Temporal when it is up.
      if (temporal) await withClient(lines);
      else await lines();
    } finally {
      await database.close();
    }
  });

program
  .command('start <config>')
  .description('validate a run config (JSON) and start the training run')
  .option('--run-id <id>', 'override the runId in the file')
  .option('--force', 'replace the rows of an earlier run with the same run id (refused otherwise)')
  .option('--watch', 'show progress until the run ends')
  .action(async (file: string, options: { runId?: string; force?: boolean; watch?: boolean }) => {
    const { raw, config } = loadRunConfig(file, options.runId ? { runId: options.runId } : {});
    const database = openDatabase(databaseUrl(), 1);
    await claimRunId(database.db, config.runId, options.force).finally(() => database.close());
    await withClient(async (client) => {
      const handle = await startRun(client, raw, config);
      console.log(`started ${handle.workflowId} on ${config.taskQueues.control}`);
      if (options.watch) console.log(JSON.stringify(await watchRun(handle)));
    });
  });

program
  .command('resume <runId>')
  .description('continue a failed or terminated run from its last recorded step, under the same workflow id')
  .option('--watch', 'show progress until the run ends')
  .action(async (runId: string, options: { watch?: boolean }) => {
    const database = openDatabase(databaseUrl(), 1);
    try {
      await withClient(async (client) => {
        const { handle, fromStep, previousStatus } = await resumeRun(client, database.db, runId);
        console.log(`resumed ${handle.workflowId} (was ${previousStatus}) from step ${fromStep}`);
        if (options.watch) console.log(JSON.stringify(await watchRun(handle)));
      });
    } finally {
      await database.close();
    }
  });

program
  .command('watch <runId>')
  .description('progress bar for a running run')
  .action(async (runId: string) => {
    await withClient(async (client) => console.log(JSON.stringify(await watchRun(client.workflow.getHandle(workflowIdFor(runId))))));
  });

program
  .command('demo')
  .description('the main job: bring up Temporal, Postgres and the workers, then train a small text agent (deepsearch) with a progress bar')
  .option('--config <file>', `run config (default ${DEMO_CONFIGS.agent})`)
  .option('--bandit', `train the bandit fixture instead (${DEMO_CONFIGS.bandit}): seconds, not minutes`)
  .option('--down', 'stop the services and workers afterwards')
  .action(runDemo);

program
  .command('sft <config>')
  .description('build the base policy of a text-agent config (expert demonstrations -> SFT) and print its checkpoint reference')
  .action(async (file: string) => {
    const { config } = loadRunConfig(file);
    if (config.env === 'bandit') throw new Error('sft: the bandit has no base policy to build; use an apps or deepsearch config');
    const ref = await buildBaseCheckpoint(config);
    console.log(`base checkpoint: ${JSON.stringify(ref)}`);
    console.log(`use it with:  "agent": { "base": { "checkpoint": ${JSON.stringify(ref)} } }`);
  });

program
  .command('train-local <config>')
  .description('run a text-agent config in this process, without Temporal or Postgres (same phases, same checkpoints)')
  .option('--run-id <id>', 'override the runId in the file')
  .action(async (file: string, options: { runId?: string }) => {
    const { config } = loadRunConfig(file, options.runId ? { runId: options.runId } : {});
    if (config.env === 'bandit') throw new Error('train-local: runs text agents (apps, deepsearch); the bandit trains through `ratchet start`');
    await trainLocal(config);
  });

program
  .command('report <runId>')
  .description("the run's report: one self-contained HTML file (charts, policy versions, sampled trajectories), or --json")
  .option('--out <file>', 'where to write it (default .data/reports/<runId>.html; with --json and no --out, stdout)')
  .option('--json', 'the report data as JSON instead of HTML')
  .action(async (runId: string, options: { out?: string; json?: boolean }) => {
    const file = await writeRunReport(runId, options);
    if (file) console.log(`report written to ${file}`);
  });

registerModelsCommand(program);
registerSetupCommand(program);
registerSchemaCommand(program);
registerCodecServerCommand(program);
registerServeCommand(program);

program.parseAsync().catch((err: Error) => {
  console.error(`ratchet: ${err.message}`);
  process.exit(1);
});

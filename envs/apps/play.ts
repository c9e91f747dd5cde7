/**
 * Play an apps task by hand in the terminal, or print the scripted expert's trajectory.
 *
 *   npx tsx envs/apps/play.ts --task apps/train/0007            # you type one API call per line
 *   npx tsx envs/apps/play.ts --task apps/train/0007 --expert --noise 0.3
 *   npx tsx envs/apps/play.ts --list train                      # task ids and instructions of a split
 */
import { Command } from 'commander';
import * as readline from 'node:readline';
import type { Agent, Episode } from '../types';
import { createAppsEnvironment } from './index';

export function printScore(episode: Episode): void {
  const s = episode.score();
  console.log(`\n${s.success ? 'SUCCESS' : 'FAILED'} reward=${s.reward} finish=${episode.finishReason} ` +
    Object.entries(s.metrics).map(([k, v]) => `${k}=${v}`).join(' '));
}

/** Print an agent's whole trajectory (the expert's, for `--expert`). */
export function printTrajectory(episode: Episode, agent: Agent): void {
  console.log(episode.initialObservation);
  while (!episode.done) {
    const action = agent.act(episode);
    const r = episode.step(action);
    console.log(`> ${action}\n${r.observation}`);
  }
}

/** A person types one API call per line; `:context` shows what the model would see. */
export async function playInteractively(episode: Episode): Promise<void> {
  console.log(episode.initialObservation);
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' });
  rl.prompt();
  for await (const line of rl) {
    if (line.trim() === ':context') console.log(episode.context());
    else console.log(episode.step(line).observation);
    if (episode.done) break;
    rl.prompt();
  }
  rl.close();
}

async function main(): Promise<void> {
  const program = new Command()
    .name('apps-play')
    .description('Play an apps task in the terminal (type :context to see what the model sees), or watch the expert')
    .option('--task <id>', 'task id, e.g. apps/train/0007')
    .option('--list <split>', 'list the task ids of a split and exit')
    .option('--expert', 'print the scripted expert\'s trajectory instead of playing')
    .option('--noise <x>', 'expert noise in [0, 1]', '0')
    .option('--habit <x>', 'expert habit in [0, 1]: stops one step short on tasks of more than one step', '0')
    .option('--seed <n>', 'episode and expert seed', '0')
    .option('--env-seed <n>', 'environment (task set) seed', '1')
    .parse();
  const o = program.opts<{ task?: string; list?: string; expert?: boolean; noise: string; habit: string; seed: string; envSeed: string }>();
  const env = createAppsEnvironment({ seed: Number(o.envSeed) });
  if (o.list) {
    for (const t of env.tasks(o.list)) console.log(`${t.id}  L${t.level}  ${t.template}  ${t.instruction}`);
    return;
  }
  const taskId = o.task;
  if (!taskId) return program.error('give --task <id> (or --list <split>)');
  const noise = Number(o.noise);
  if (!(noise >= 0 && noise <= 1)) program.error('--noise must be a number in [0, 1]');
  const habit = Number(o.habit);
  if (!(habit >= 0 && habit <= 1)) program.error('--habit must be a number in [0, 1]');
  const episode = env.createEpisode(taskId, Number(o.seed));
  if (o.expert) printTrajectory(episode, env.expert(taskId, { noise, habit, seed: Number(o.seed) }));
  else await playInteractively(episode);
  printScore(episode);
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}

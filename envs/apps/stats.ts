/**
 * Prints the figures the issue asks for: apps, APIs, templates, tasks per split; expert success (TGC/SGC) and
 * mean / 95th-percentile turns and characters per trajectory; the longest context under the context policy.
 *
 *   npx tsx envs/apps/stats.ts [--noise 0.3] [--seed 1]
 */
import { Command } from 'commander';
import { runEpisode } from '../types';
import { APPS, CONTEXT_OBS_CHARS, CONTEXT_TURNS, TEMPLATES, allApis, createAppsEnvironment, randomAgent, sgc, tgc } from './index';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))];

const o = new Command().option('--noise <x>', 'expert noise', '0').option('--seed <n>', 'environment seed', '1').parse()
  .opts<{ noise: string; seed: string }>();
const noise = Number(o.noise);
const env = createAppsEnvironment({ seed: Number(o.seed) });
console.log(`apps=${APPS.length} (${APPS.map((a) => a.name).join(' ')}) apis=${allApis().length} templates=${TEMPLATES.length}`);
console.log(`context policy: prompt + sessions line + last ${CONTEXT_TURNS} turns, observations cut at ${CONTEXT_OBS_CHARS} chars`);
for (const split of env.splits()) {
  const tasks = env.tasks(split);
  const outcomes: { scenario: string; success: boolean }[] = [];
  const random: { success: boolean }[] = [];
  const turns: number[] = [];
  const chars: number[] = [];
  let longest = { chars: 0, task: '' };
  for (const [i, t] of tasks.entries()) {
    const ep = env.createEpisode(t.id, 0);
    const expert = env.expert(t.id, { noise, seed: 0 });
    while (!ep.done) {
      const size = ep.context().length;
      if (size > longest.chars) longest = { chars: size, task: t.id };
      ep.step(expert.act(ep));
    }
    outcomes.push({ scenario: t.scenario, success: ep.score().success });
    turns.push(ep.turns.length);
    chars.push(ep.turns.reduce((n, x) => n + x.action.length + 1 + x.observation.length + 1, 0));
    random.push(runEpisode(env.createEpisode(t.id, i), randomAgent(i)).score());
  }
  const levels = [1, 2, 3].map((l) => tasks.filter((t) => t.level === l).length).join('/');
  console.log(`${split}: tasks=${tasks.length} (L1/L2/L3 ${levels}) templates=${new Set(tasks.map((t) => t.template)).size} ` +
    `expert TGC=${tgc(outcomes).toFixed(3)} SGC=${sgc(outcomes).toFixed(3)} turns mean=${mean(turns).toFixed(1)} p95=${p95(turns)} ` +
    `max=${Math.max(...turns)} chars mean=${mean(chars).toFixed(0)} p95=${p95(chars)} longest context=${longest.chars} (${longest.task}) ` +
    `random TGC=${tgc(random).toFixed(3)}`);
}

import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { createAppsEnvironment, tasksHash, worldHash } from '../../../envs/apps';
import { runEpisode } from '../../../envs/types';

const root = path.resolve(__dirname, '../../..');

describe('apps determinism', () => {
  it('generates the same world and tasks from the same seed, and different ones from another', () => {
    expect(worldHash(123)).toBe(worldHash(123));
    expect(worldHash(123)).not.toBe(worldHash(124));
    expect(tasksHash(1)).toBe(tasksHash(1));
    expect(tasksHash(2)).not.toBe(tasksHash(1));
  });

  it('gives the same hashes in another process', () => {
    const script = "const a=require('./envs/apps');console.log(a.worldHash(123)+' '+a.tasksHash(1))";
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8' }).trim();
    expect(out).toBe(`${worldHash(123)} ${tasksHash(1)}`);
  });

  it('replays an episode identically for the same seeds, with other tokens for another episode seed', () => {
    const env = createAppsEnvironment();
    const id = env.tasks('test_challenge')[0].id;
    const run = (seed: number, noise: number) => runEpisode(env.createEpisode(id, seed), env.expert(id, { noise, seed })).turns;
    expect(run(3, 0.5)).toEqual(run(3, 0.5));
    const tokens = (seed: number) => run(seed, 0).map((t) => t.observation).filter((o) => o.startsWith('token='));
    expect(tokens(3)).not.toEqual(tokens(4));
  });
});

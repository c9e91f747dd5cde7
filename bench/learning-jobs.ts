/**
 * `bench:learning --jobs N`: the table's (row, seed) units in N child processes at once, then one merged report.
 * A unit is one process's whole work for a row and seed (its base, then every algorithm from it), so units share
 * nothing and each child trains on one core (tfjs wasm is single-threaded). Units start longest first (apps, then
 * multi-hop, then single-hop), so the last one to start is a short one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { mergeLearningFiles, readLearningFile } from './learning-merge';
import { writeLearningReport } from './learning-report';

export interface LearningUnit {
  row: string;
  seed: number;
}

/** Hours of one core a unit of each row took (bench/NOTES-learning.md), for the order only. */
const ROW_COST: Record<string, number> = { apps: 8, multi: 3, single: 2 };

/** The command line without the options a unit sets for itself (--jobs, --rows, --seeds, --out). */
export function unitArgs(argv: readonly string[], unit: LearningUnit, out: string): string[] {
  const own = new Set(['--jobs', '--rows', '--seeds', '--out']);
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [name] = argv[i].split('=');
    if (!own.has(name)) rest.push(argv[i]);
    else if (!argv[i].includes('=')) i++; // skip its value
  }
  return [...rest, '--rows', unit.row, '--seeds', String(unit.seed), '--out', out];
}

export function unitsOf(rows: readonly string[], seeds: readonly number[]): LearningUnit[] {
  const units = rows.flatMap((row) => seeds.map((seed) => ({ row, seed })));
  return units.sort((a, b) => (ROW_COST[b.row] ?? 1) - (ROW_COST[a.row] ?? 1));
}

function runUnit(script: string, args: string[], log: string): Promise<number> {
  const fd = openSync(log, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', fd, fd] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      closeSync(fd);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/** Runs every unit, at most `jobs` at once, and writes the merged learning.{md,json,html} into `out`. */
export async function runLearningJobs(opts: { script: string; argv: readonly string[]; rows: string[]; seeds: number[]; jobs: number; out: string; options: object }): Promise<string> {
  const started = Date.now();
  const queue = unitsOf(opts.rows, opts.seeds);
  const done: { unit: LearningUnit; dir: string; seconds: number }[] = [];
  const failed: string[] = [];
  const worker = async () => {
    for (let unit = queue.shift(); unit; unit = queue.shift()) {
      const dir = join(opts.out, 'jobs', `${unit.row}-s${unit.seed}`);
      mkdirSync(dir, { recursive: true });
      const unitStarted = Date.now();
      console.log(`start ${unit.row} seed ${unit.seed} (log: ${dir}/log.txt)`);
      const code = await runUnit(opts.script, unitArgs(opts.argv, unit, dir), join(dir, 'log.txt'));
      const seconds = (Date.now() - unitStarted) / 1000;
      console.log(`${code === 0 ? 'done' : `FAILED (exit ${code})`} ${unit.row} seed ${unit.seed} in ${(seconds / 60).toFixed(1)} min`);
      if (code === 0) done.push({ unit, dir, seconds });
      else failed.push(`${unit.row} seed ${unit.seed} (exit ${code}; ${dir}/log.txt)`);
    }
  };
  await Promise.all(Array.from({ length: opts.jobs }, worker));
  if (failed.length) throw new Error(`bench:learning --jobs: ${failed.length} unit(s) failed: ${failed.join('; ')}`);
  const files = done.map((d) => readLearningFile(join(d.dir, 'learning.json')));
  const seconds = (Date.now() - started) / 1000;
  const unitSeconds = done.map((d) => ({ row: d.unit.row, seed: d.unit.seed, seconds: d.seconds }));
  const table = writeLearningReport(opts.out, mergeLearningFiles(files), { options: opts.options, seconds, jobs: opts.jobs, units: unitSeconds });
  const serial = unitSeconds.reduce((sum, u) => sum + u.seconds, 0);
  return `${table}\n${opts.jobs} jobs: ${(seconds / 60).toFixed(1)} min wall for ${(serial / 60).toFixed(1)} min of units (${(serial / seconds).toFixed(2)}x)`;
}

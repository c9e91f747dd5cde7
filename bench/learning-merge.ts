/**
 * `npm run bench:learning:merge -- --out DIR a/learning.json b/learning.json ...`: one bench:learning report from
 * runs made in separate processes. A run takes one core, so on this 2-core machine the seeds of a row run side by
 * side (`--seeds 2` in one process, `--seeds 3` in another), and algorithms may be added to a seed later; this
 * writes the table over all of them, as one `--seeds 1,2,3` run would have.
 *
 * It refuses what one run could not have produced: files whose settings differ (beyond which seeds, algorithms,
 * test splits and dev evaluations they ran), two trained runs of one row, seed and algorithm, and one base
 * evaluated to different numbers.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { type LearningResult, writeLearningReport } from './learning-report';

/** Options that choose which runs a file holds, not how they were made; files may differ in these. */
const SELECTION_OPTIONS = new Set(['seeds', 'algorithms', 'rows', 'testSplits', 'evalEvery', 'devTasks', 'out', 'reuse', 'jobs']);

export interface LearningFile {
  file: string;
  options: Record<string, unknown>;
  seconds?: number;
  results: LearningResult[];
}

export function readLearningFile(file: string): LearningFile {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LearningFile>;
  if (!parsed.options || !Array.isArray(parsed.results)) throw new Error(`${file}: not a bench:learning result (no options or results)`);
  return { file, options: parsed.options, seconds: parsed.seconds, results: parsed.results };
}

/** The settings that shape a run's numbers on which two files disagree, as "name a / b" (a dash for an unset one). */
function settingsDiffer(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !SELECTION_OPTIONS.has(k)).sort();
  return names.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `${k} ${JSON.stringify(a[k] ?? '-')} / ${JSON.stringify(b[k] ?? '-')}`);
}

/** All files' results as one list: each base once (with the union of its evaluated splits), each trained run once. */
export function mergeLearningFiles(files: LearningFile[]): LearningResult[] {
  const [first] = files;
  for (const f of files.slice(1)) {
    const differ = settingsDiffer(f.options, first.options);
    if (differ.length) throw new Error(`${f.file} was run with other settings than ${first.file}: ${differ.join(', ')}`);
  }
  const merged = new Map<string, LearningResult & { file: string }>();
  for (const { file, results } of files) {
    for (const result of results) {
      const id = `${result.row} seed ${result.seed} ${result.algorithm}`;
      const seen = merged.get(id);
      if (!seen) {
        merged.set(id, { ...result, eval: { ...result.eval }, file });
        continue;
      }
      if (result.algorithm !== 'base') throw new Error(`${id} is in both ${seen.file} and ${file}; pass one of them`);
      // The same base checkpoint under greedy decoding: the splits both files evaluated must agree.
      for (const [split, metrics] of Object.entries(result.eval)) {
        const before = seen.eval[split];
        const differs = before && Object.keys(metrics).some((k) => k in before && before[k] !== metrics[k]);
        if (differs) throw new Error(`${id} on ${split}: ${file} and ${seen.file} evaluated different bases (${JSON.stringify(metrics)} against ${JSON.stringify(before)})`);
        seen.eval[split] = { ...metrics, ...before };
      }
    }
  }
  return [...merged.values()].map(({ file: _file, ...result }) => result);
}

if (require.main === module) {
  const command = new Command()
    .argument('<files...>', 'learning.json files written by bench:learning')
    .requiredOption('--out <dir>', 'folder for the merged learning.{md,json} and plots')
    .parse();
  const { out } = command.opts<{ out: string }>();
  try {
    const files = command.args.map(readLearningFile);
    const table = writeLearningReport(out, mergeLearningFiles(files), { sources: files.map(({ file, options, seconds }) => ({ file, options, seconds })) });
    console.log(`${table}\nmerged ${files.length} files into ${out}/learning.{md,json}`);
  } catch (err) {
    console.error(`bench:learning:merge: ${(err as Error).message}`);
    process.exit(1);
  }
}

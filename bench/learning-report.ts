/**
 * bench:learning's report: the markdown table (mean ± sample standard deviation over seeds), the JSON file and
 * learning.html with two charts per row (drawn by report/html.ts, as `ratchet report` draws a run), built from
 * the per-run results alone, so that runs made in separate processes (one seed per core) can be merged into one
 * report (bench/learning-merge.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml } from '../report/html';
import { type Chart, type Page, withPoints } from '../report/page';

/** One evaluated policy: a row's base for a seed, or what one algorithm trained from it. */
export interface LearningResult {
  row: string;
  seed: number;
  algorithm: string;
  /** split -> metric -> value (apps: success, sgc, docsFirst; deepsearch: em, f1). */
  eval: Record<string, Record<string, number | null>>;
  /** Mean training reward per RL step. */
  rewards?: number[];
  /** Greedy dev-split evaluations during training. */
  devEvaluations?: { step: number; metrics: Record<string, number> }[];
}

/** The column order of the table and plots: the base first, then the algorithms as issue 8 lists them. */
export const COLUMN_ORDER = ['base', 'ppo', 'grpo', 'salt', 'loop'];
/** Each row's headline metric: the one its dev-split plot shows. */
export const ROW_METRIC: Record<string, string> = { apps: 'success', single: 'em', multi: 'em' };

export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, std: xs.length > 1 ? std : 0 };
}

/** The rows, each row's test splits and the columns present in the results, in first-seen / COLUMN_ORDER order. */
function layout(results: LearningResult[]) {
  const rows = [...new Set(results.map((r) => r.row))];
  const splits = (row: string) => [...new Set(results.filter((r) => r.row === row).flatMap((r) => Object.keys(r.eval)))];
  const present = new Set(results.map((r) => r.algorithm));
  const columns = [...COLUMN_ORDER.filter((c) => present.has(c)), ...[...present].filter((c) => !COLUMN_ORDER.includes(c))];
  return { rows, splits, columns };
}

/** One line per row, split and metric; each cell is mean ± std over the seeds that ran it, and how many did. */
export function learningTable(results: LearningResult[]): string {
  const { rows, splits, columns } = layout(results);
  const lines = [`| row | split | metric | ${columns.join(' | ')} |`, `|---|---|---|${'---|'.repeat(columns.length)}`];
  for (const row of rows) {
    for (const split of splits(row)) {
      // apps: SAGE's measures too, steps (turns) and tokens per task, and skills written and used (evaluation chains).
      // TGC per level (apps levels, deepsearch hop counts), for the levels this split's evaluations report.
      const levels = [...new Set(results.filter((r) => r.row === row).flatMap((r) => Object.keys(r.eval[split] ?? {})))].filter((k) => /^success_L\d+$/.test(k)).sort();
      const metrics = row === 'apps' ? ['success', ...levels, 'sgc', 'meanTurns', 'meanTokens', 'skillsWritten', 'skillsUsed', 'docsFirst'] : ['em', 'f1', ...levels];
      for (const metric of metrics) {
        const cells = columns.map((algorithm) => {
          const values = results
            .filter((r) => r.row === row && r.algorithm === algorithm)
            .map((r) => r.eval[split]?.[metric])
            .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
          if (!values.length) return '-';
          const { mean, std } = meanStd(values);
          return `${mean.toFixed(3)} ± ${std.toFixed(3)} (n=${values.length})`;
        });
        if (cells.every((c) => c === '-')) continue; // a metric no run reports (skills without evaluation chains)
        lines.push(`| ${row} | ${split} | ${metric === 'success' ? 'TGC' : metric.replace(/^success_L/, 'TGC level ')} | ${cells.join(' | ')} |`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** Per algorithm, the mean over seeds of each point of a per-run curve (runs that stopped early count 0 after). */
function averageCurves(runs: LearningResult[], curve: (r: LearningResult) => number[]): Record<string, number[]> {
  const byAlgorithm = new Map<string, number[][]>();
  for (const r of runs) byAlgorithm.set(r.algorithm, [...(byAlgorithm.get(r.algorithm) ?? []), curve(r)]);
  return Object.fromEntries([...byAlgorithm].map(([name, curves]) => [name, curves[0].map((_, i) => meanStd(curves.map((c) => c[i] ?? 0)).mean)]));
}

/** Each row's two charts (mean training reward per step; the dev-split headline metric), as `ratchet report` draws them. */
function learningCharts(results: LearningResult[]): Chart[] {
  const charts: Chart[] = [];
  for (const row of layout(results).rows) {
    const trained = results.filter((r) => r.row === row && r.algorithm !== 'base' && r.rewards);
    if (!trained.length) continue;
    const metric = ROW_METRIC[row] ?? 'success';
    const rewards = averageCurves(trained, (r) => r.rewards ?? []);
    const dev = averageCurves(trained, (r) => (r.devEvaluations ?? []).map((e) => e.metrics[metric] ?? 0));
    const rewardSteps = Math.max(0, ...Object.values(rewards).map((c) => c.length));
    const series = (curves: Record<string, number[]>) => Object.entries(curves).map(([name, values]) => ({ name, values }));
    charts.push(
      { id: `learning-${row}`, title: `${row}: mean training reward per step`, kind: 'line', xLabel: 'step', yLabel: 'reward', x: Array.from({ length: rewardSteps }, (_, i) => i + 1), series: series(rewards) },
      { id: `learning-${row}-dev`, title: `${row}: greedy ${metric} on the dev split during training`, kind: 'line', xLabel: 'step', yLabel: metric, x: trained[0].devEvaluations?.map((e) => e.step) ?? [], series: series(dev) },
    );
  }
  return withPoints(charts);
}

/** Writes learning.{md,json} and learning.html (the table and each row's charts) under `out`; returns the table. */
export function writeLearningReport(out: string, results: LearningResult[], meta: Record<string, unknown>): string {
  mkdirSync(out, { recursive: true });
  const table = learningTable(results);
  writeFileSync(join(out, 'learning.json'), JSON.stringify({ ...meta, results }, null, 2));
  writeFileSync(join(out, 'learning.md'), table);
  const [header, , ...lines] = table.trim().split('\n');
  const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());
  const page: Page = {
    title: 'bench:learning',
    summary: [['results', String(results.length)]],
    sections: [{ title: 'Held-out evaluation (mean ± std over seeds)', charts: learningCharts(results), tables: [{ title: 'learning.md', columns: cells(header), rows: lines.map(cells) }] }],
  };
  writeFileSync(join(out, 'learning.html'), renderHtml(page));
  return table;
}

/**
 * bench:learning's report: the markdown table (mean ± sample standard deviation over seeds), the JSON file and
 * two SVG plots per row, built from the per-run results alone, so that runs made in separate processes (one seed
 * per core) can be merged into one report (bench/learning-merge.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
      const metrics = row === 'apps' ? ['success', 'sgc', 'docsFirst'] : ['em', 'f1'];
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
        lines.push(`| ${row} | ${split} | ${metric === 'success' ? 'TGC' : metric} | ${cells.join(' | ')} |`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** A line chart in [0, 1] per step, one line per algorithm, as a self-contained SVG; `steps` gives each point's step (default 1, 2, ...). */
export function linePlot(title: string, series: Record<string, number[]>, steps?: number[]): string {
  const W = 560, H = 300, P = 40;
  const at = (i: number) => steps?.[i] ?? i + 1;
  const last = Math.max(2, ...Object.values(series).map((s) => at(s.length - 1)));
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const x = (step: number) => P + ((W - 2 * P) * (step - 1)) / (last - 1);
  const y = (v: number) => H - P - (H - 2 * P) * v;
  const lines = Object.entries(series).map(([name, values], k) => {
    const points = values.map((v, i) => `${x(at(i)).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${colors[k % 4]}" stroke-width="2" points="${points}"/><text x="${W - P + 4}" y="${P + 14 * k}" fill="${colors[k % 4]}" font-size="11">${name}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W + 60}" height="${H}"><text x="${P}" y="20" font-size="13">${title}</text>
<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="#999"/><line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="#999"/>
<text x="${P - 30}" y="${y(1) + 4}" font-size="10">1.0</text><text x="${P - 30}" y="${y(0) + 4}" font-size="10">0.0</text><text x="${W / 2}" y="${H - 8}" font-size="10">step</text>
${lines.join('\n')}</svg>`;
}

/** Per algorithm, the mean over seeds of each point of a per-run curve (runs that stopped early count 0 after). */
function averageCurves(runs: LearningResult[], curve: (r: LearningResult) => number[]): Record<string, number[]> {
  const byAlgorithm = new Map<string, number[][]>();
  for (const r of runs) byAlgorithm.set(r.algorithm, [...(byAlgorithm.get(r.algorithm) ?? []), curve(r)]);
  return Object.fromEntries([...byAlgorithm].map(([name, curves]) => [name, curves[0].map((_, i) => meanStd(curves.map((c) => c[i] ?? 0)).mean)]));
}

/** Writes learning.{md,json} and each row's two plots under `out`; returns the table. */
export function writeLearningReport(out: string, results: LearningResult[], meta: Record<string, unknown>): string {
  mkdirSync(out, { recursive: true });
  for (const row of layout(results).rows) {
    const trained = results.filter((r) => r.row === row && r.algorithm !== 'base' && r.rewards);
    if (!trained.length) continue;
    const metric = ROW_METRIC[row] ?? 'success';
    const devSteps = trained[0].devEvaluations?.map((e) => e.step) ?? [];
    writeFileSync(join(out, `learning-${row}.svg`), linePlot(`${row}: mean training reward per step`, averageCurves(trained, (r) => r.rewards ?? [])));
    writeFileSync(join(out, `learning-${row}-dev.svg`), linePlot(`${row}: greedy ${metric} on the dev split during training`, averageCurves(trained, (r) => (r.devEvaluations ?? []).map((e) => e.metrics[metric] ?? 0)), devSteps));
  }
  const table = learningTable(results);
  writeFileSync(join(out, 'learning.json'), JSON.stringify({ ...meta, results }, null, 2));
  writeFileSync(join(out, 'learning.md'), table);
  return table;
}

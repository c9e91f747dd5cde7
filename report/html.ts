/**
 * A report page as one self-contained HTML file: uPlot (MIT, ~50 KB minified, canvas) and its CSS inlined,
 * the page's data as JSON in the file, and a short script that draws each chart. Every uPlot instance is kept in
 * `window.ratchetCharts[id]` so a test (or a reader's console) can check what each chart holds.
 */
import { readFileSync } from 'node:fs';
import type { Chart, Page, Table } from './page';

const UPLOT_JS = require.resolve('uplot/dist/uPlot.iife.min.js');
const UPLOT_CSS = require.resolve('uplot/dist/uPlot.min.css');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON that cannot close the <script> it sits in. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function tableHtml(table: Table): string {
  const head = table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const rows = table.rows.map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(String(cell))}</td>`).join('')}</tr>`).join('\n');
  return `<h3>${escapeHtml(table.title)}</h3>\n<table><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

const chartHtml = (chart: Chart) => `<figure class="chart" id="chart-${escapeHtml(chart.id)}" data-chart="${escapeHtml(chart.id)}"></figure>`;

/** Runs in the browser: one uPlot per chart; bar charts put their categories at x = 0, 1, 2 ... */
const DRAW = `
const page = JSON.parse(document.getElementById('report-data').textContent);
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
window.ratchetCharts = {};
for (const section of page.sections) for (const chart of section.charts || []) {
  const el = document.getElementById('chart-' + chart.id);
  const bar = chart.kind === 'bar';
  const labels = bar ? chart.x : null;
  const xs = bar ? chart.x.map((_, i) => i) : chart.x;
  const k = chart.series.length;
  const series = [{ label: chart.xLabel }].concat(chart.series.map((s, i) => ({
    label: s.name,
    stroke: colors[i % colors.length],
    fill: bar ? colors[i % colors.length] + '99' : undefined,
    width: bar ? 1 : 2,
    points: { show: true, size: 6 },
    // Two series side by side (left of the tick, right of it); more overlap at the tick.
    paths: bar ? uPlot.paths.bars(k === 2 ? { size: [0.4, 60], align: i === 0 ? -1 : 1 } : { size: [0.6, 80], align: 0 }) : undefined,
  })));
  const axes = [
    // Steps are whole numbers: no tick at 0.25.
    { label: chart.xLabel, ...(bar ? { splits: () => xs, values: (u, splits) => splits.map((v) => labels[v] ?? '') } : { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] }) },
    { label: chart.yLabel, size: 60, values: (u, splits) => splits.map((v) => (v == null ? '' : String(Number(v.toPrecision(3))))) },
  ];
  // Many categories (apps has 17 templates): a wider chart with slanted labels.
  const crowded = bar && xs.length > 6;
  if (crowded) Object.assign(axes[0], { rotate: -35, size: 110 });
  const scales = {
    x: { time: false, ...(bar ? { range: [-0.6, xs.length - 0.4] } : {}) },
    ...(chart.unit ? { y: { range: (u, min, max) => [Math.min(0, min), Math.max(1, max)] } } : {}),
  };
  const opts = { title: chart.title, width: crowded ? 1140 : 560, height: crowded ? 340 : 280, series, axes, scales, legend: { live: false } };
  window.ratchetCharts[chart.id] = new uPlot(opts, [xs].concat(chart.series.map((s) => s.values)), el);
}
`;

export function renderHtml(page: Page): string {
  const summary = page.summary.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
  const sections = page.sections
    .map((s) => {
      const parts = [`<section><h2>${escapeHtml(s.title)}</h2>`];
      if (s.note) parts.push(`<p class="note">${escapeHtml(s.note)}</p>`);
      if (s.charts?.length) parts.push(`<div class="charts">${s.charts.map(chartHtml).join('\n')}</div>`);
      for (const t of s.tables ?? []) parts.push(tableHtml(t));
      parts.push('</section>');
      return parts.join('\n');
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>
<style>${readFileSync(UPLOT_CSS, 'utf8')}
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td { white-space: pre-wrap; max-width: 60em; font-family: ui-monospace, monospace; font-size: 12px; }
.note { color: #666; }
</style></head>
<body>
<h1>${escapeHtml(page.title)}</h1>
<table class="summary">${summary}</table>
${sections}
<script id="report-data" type="application/json">${scriptJson(page)}</script>
<script>${readFileSync(UPLOT_JS, 'utf8')}</script>
<script>${DRAW}</script>
</body></html>
`;
}

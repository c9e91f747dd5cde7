/**
 * What a report page is made of, independent of where the numbers came from: line and bar charts (drawn by
 * uPlot in the browser, report/html.ts) and tables. `ratchet report` and bench:learning both build one.
 */

/** A chart's series share one x axis; `null` is a gap (a metric a step did not report). */
export interface Chart {
  id: string;
  title: string;
  kind: 'line' | 'bar';
  xLabel: string;
  yLabel: string;
  /** Numeric x values (steps), or category names for a bar chart (drawn at 0, 1, 2 ...). */
  x: number[] | string[];
  series: { name: string; values: (number | null)[] }[];
  /** A rate or reward in [0, 1]: the y axis shows at least 0 to 1, so a flat 0 does not fill the chart. */
  unit?: boolean;
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface Page {
  title: string;
  /** Label / value lines at the top. */
  summary: [string, string][];
  sections: { title: string; charts?: Chart[]; tables?: Table[]; note?: string }[];
}

/** The points a chart draws: per series, the values that are numbers. */
export function pointCounts(chart: Chart): number[] {
  return chart.series.map((s) => s.values.filter((v) => typeof v === 'number' && Number.isFinite(v)).length);
}

/** Drop the series with no point, and the chart when none is left (a metric this run never reported). */
export function withPoints(charts: Chart[]): Chart[] {
  return charts
    .map((c) => ({ ...c, series: c.series.filter((_, i) => pointCounts(c)[i] > 0) }))
    .filter((c) => c.series.length > 0);
}

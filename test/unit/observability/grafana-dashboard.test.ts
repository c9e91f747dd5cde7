/**
 * infra/grafana/ratchet.json parses, and every metric it queries is one the code exports: the training metrics
 * this repository registers, or the Temporal SDK metrics the metrics integration test sees on a worker.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { steps } from '../../../db/schema';
import { REPO_ROOT } from '../../../infra/paths';
import { SDK_METRICS } from '../../../workers/observability/sdk-metrics';
import { TrainingMetrics } from '../../../workers/observability/training-metrics';

interface Target {
  expr?: string;
  rawSql?: string;
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}

const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'infra', 'grafana', 'ratchet.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => t.expr).filter((e): e is string => !!e));
const sqls = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => t.rawSql).filter((s): s is string => !!s));

test('the dashboard has Prometheus panels for training and SDK metrics and a Postgres panel, each with a datasource variable', () => {
  expect(dashboard.uid).toBe('ratchet-training');
  expect(dashboard.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['prometheus', 'postgres', 'run']));
  for (const p of queryPanels) expect({ title: p.title, uid: p.datasource?.uid }).toEqual({ title: p.title, uid: expect.stringMatching(/^\$\{(prometheus|postgres)\}$/) });
  expect(exprs.some((e) => e.includes('ratchet_'))).toBe(true);
  expect(exprs.some((e) => e.includes('temporal_'))).toBe(true);
  expect(sqls.length).toBeGreaterThan(0);
});

test('every metric name in a Prometheus query is one the workers export', async () => {
  const training = new Set(await new TrainingMetrics(16, false).names());
  const sdk = new Set(SDK_METRICS);
  const used = new Set(exprs.flatMap((e) => e.match(/\b(?:ratchet|temporal)_[a-z_]+/g) ?? []));
  const unknown = [...used].filter((name) => (name.startsWith('ratchet_') ? !training.has(name) : !sdk.has(name.replace(/_(bucket|sum|count)$/, ''))));
  expect(unknown).toEqual([]);
  // And the dashboard shows every training metric.
  expect([...training].filter((name) => !used.has(name))).toEqual([]);
});

test('the Postgres queries read only columns of the steps table', () => {
  const columns = new Set(getTableConfig(steps).columns.map((c) => c.name));
  const sqlWords = new Set(['select', 'as', 'from', 'where', 'order', 'by', 'desc', 'asc', 'limit', 'and', 'time', 'steps', 'run']);
  for (const sql of sqls) {
    expect(sql).toMatch(/\bFROM steps\b/);
    const words = (sql.replace(/'[^']*'/g, '').toLowerCase().match(/[a-z_]+/g) ?? []).filter((w) => !sqlWords.has(w));
    expect(words.filter((w) => !columns.has(w))).toEqual([]);
  }
});

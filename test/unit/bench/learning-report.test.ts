import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { learningTable, writeLearningReport, type LearningResult } from '../../../bench/learning-report';
import { mergeLearningFiles, type LearningFile } from '../../../bench/learning-merge';

const apps = (seed: number, algorithm: string, success: number, extra: Partial<LearningResult> = {}): LearningResult => ({
  row: 'apps',
  seed,
  algorithm,
  eval: { test_normal: { success, sgc: success / 2, docsFirst: algorithm === 'base' ? 0.5 : null } },
  ...extra,
});
const options = { rows: 'apps', steps: '30', lr: '1e-4' };
const file = (name: string, results: LearningResult[], more: Record<string, unknown> = {}): LearningFile => ({ file: name, options: { ...options, ...more }, results });

describe('bench:learning report', () => {
  it('puts mean and sample standard deviation over seeds in each cell, the base first, and skips missing values', () => {
    const table = learningTable([apps(1, 'grpo', 0.667), apps(2, 'grpo', 0.363), apps(1, 'base', 0.31), apps(2, 'base', 0.25), apps(3, 'base', 0.393)]);
    const lines = table.trim().split('\n');
    expect(lines[0]).toBe('| row | split | metric | base | grpo |');
    // base: mean (0.31 + 0.25 + 0.393) / 3 = 0.317667; deviations -0.007667, -0.067667, 0.075333; sum of squares
    // 0.0000588 + 0.0045788 + 0.0056751 = 0.0103127; / 2 = 0.0051563; sqrt = 0.071808.
    // grpo: mean 0.515; deviations +-0.152; sum of squares 0.046208; / 1; sqrt = 0.214960.
    expect(lines[2]).toBe('| apps | test_normal | TGC | 0.318 ± 0.072 (n=3) | 0.515 ± 0.215 (n=2) |');
    // docsFirst is null for the trained runs (no episode called an API): a dash, not a zero.
    expect(lines[4]).toBe('| apps | test_normal | docsFirst | 0.500 ± 0.000 (n=3) | - |');
  });

  it('shows TGC per level after TGC, for the levels the evaluations report', () => {
    const levelled = (seed: number, algorithm: string, l2: number, l4: number): LearningResult => ({
      row: 'multi',
      seed,
      algorithm,
      eval: { 'multi/test': { em: (l2 + l4) / 2, f1: (l2 + l4) / 2, success_L2: l2, success_L4: l4 } },
    });
    const lines = learningTable([levelled(1, 'base', 0, 0), levelled(1, 'grpo', 0.5, 0.25)]).trim().split('\n');
    expect(lines.slice(2)).toEqual([
      '| multi | multi/test | em | 0.000 ± 0.000 (n=1) | 0.375 ± 0.000 (n=1) |',
      '| multi | multi/test | f1 | 0.000 ± 0.000 (n=1) | 0.375 ± 0.000 (n=1) |',
      '| multi | multi/test | TGC level 2 | 0.000 ± 0.000 (n=1) | 0.500 ± 0.000 (n=1) |',
      '| multi | multi/test | TGC level 4 | 0.000 ± 0.000 (n=1) | 0.250 ± 0.000 (n=1) |',
    ]);
  });

  it('writes the table, the results and the reward plot', () => {
    const out = mkdtempSync(join(tmpdir(), 'learning-report-'));
    const results = [apps(1, 'base', 0.3), apps(1, 'salt', 0.6, { rewards: [0.1, 0.4], devEvaluations: [{ step: 2, metrics: { success: 0.5 } }] })];
    writeLearningReport(out, results, { note: 'x' });
    expect(JSON.parse(readFileSync(join(out, 'learning.json'), 'utf8'))).toEqual({ note: 'x', results });
    expect(readFileSync(join(out, 'learning.md'), 'utf8')).toContain('| apps | test_normal | TGC | 0.300 ± 0.000 (n=1) | 0.600 ± 0.000 (n=1) |');
    // The page `ratchet report` draws: each row's reward and dev charts, with the trained run's points.
    const html = readFileSync(join(out, 'learning.html'), 'utf8');
    const page = JSON.parse(html.match(/<script id="report-data" type="application\/json">(.*?)<\/script>/s)?.[1] ?? '{}');
    expect(page.sections[0].charts.map((c: { id: string; series: unknown }) => [c.id, c.series])).toEqual([
      ['learning-apps', [{ name: 'salt', values: [0.1, 0.4] }]],
      ['learning-apps-dev', [{ name: 'salt', values: [0.5] }]],
    ]);
    expect(existsSync(join(out, 'learning-apps.svg'))).toBe(false);
  });
});

describe('bench:learning:merge', () => {
  it('keeps each base once, with the splits of every file, and every trained run', () => {
    const withChallenge = apps(2, 'base', 0.25);
    withChallenge.eval.test_challenge = { success: 0, sgc: 0, docsFirst: null };
    const merged = mergeLearningFiles([
      file('a.json', [apps(2, 'base', 0.25), apps(2, 'grpo', 0.363)], { seeds: '2', testSplits: 'test_normal' }),
      file('b.json', [withChallenge, apps(2, 'salt', 0.4)], { seeds: '2', algorithms: 'salt' }),
      file('c.json', [apps(3, 'base', 0.393), apps(3, 'grpo', 0.661)], { seeds: '3' }),
    ]);
    expect(merged.map((r) => `${r.seed} ${r.algorithm}`)).toEqual(['2 base', '2 grpo', '2 salt', '3 base', '3 grpo']);
    expect(Object.keys(merged[0].eval)).toEqual(['test_normal', 'test_challenge']);
    // Two seeds: mean (a + b) / 2, sample std |a - b| / sqrt 2: base 0.143 / 1.41421 = 0.1011, grpo 0.298 / 1.41421 = 0.2107.
    expect(learningTable(merged)).toContain('| apps | test_normal | TGC | 0.322 ± 0.101 (n=2) | 0.512 ± 0.211 (n=2) | 0.400 ± 0.000 (n=1) |');
  });

  it('refuses files made with other settings, a trained run twice, and one base evaluated two ways', () => {
    expect(() => mergeLearningFiles([file('a.json', [apps(1, 'base', 0.3)]), file('b.json', [apps(2, 'base', 0.3)], { lr: '3e-4' })])).toThrow('b.json was run with other settings than a.json: lr "3e-4" / "1e-4"');
    expect(() => mergeLearningFiles([file('a.json', [apps(1, 'grpo', 0.6)]), file('b.json', [apps(1, 'grpo', 0.5)])])).toThrow(/apps seed 1 grpo is in both a\.json and b\.json/);
    expect(() => mergeLearningFiles([file('a.json', [apps(1, 'base', 0.3)]), file('b.json', [apps(1, 'base', 0.31)])])).toThrow(/apps seed 1 base on test_normal: b\.json and a\.json evaluated different bases/);
  });
});

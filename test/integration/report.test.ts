/**
 * `ratchet report` on a real run: a short apps run (turn-by-turn trajectories, per-template success, PPO
 * metrics), then the CLI writes the HTML and the JSON, and headless Chromium opens the page: no console error,
 * every chart drew each of its points, and a screenshot is kept beside the other test files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from '../../report/build';
import { pointCounts } from '../../report/page';
import { appsTestConfig } from './support/apps';
import { ratchet } from './support/cli';
import { TEST_DIR } from './support/global-setup';
import { openHarness, runWorkers, testConfig, type Harness } from './support/harness';
import { findChromium, openReport } from './support/report-browser';

const chromium = findChromium();
if (!chromium) console.warn('report.test: no chromium (apt-get install chromium, or set CHROMIUM_PATH): the browser check is skipped');

let h: Harness;
const config = appsTestConfig({ evaluation: { every: 2, split: 'dev', tasks: 8, passK: 0 } });
const html = join(TEST_DIR, `report-${config.runId}.html`);
const json = join(TEST_DIR, `report-${config.runId}.json`);
let report: RunReport;

beforeAll(async () => {
  h = await openHarness();
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    await handle.result();
  } finally {
    await workers.stop();
  }
}, 600_000);
afterAll(async () => {
  await h?.close();
});

test('ratchet report writes the HTML and the JSON of a finished apps run', async () => {
  const env = { RATCHET_ARTIFACTS_DIR: h.env.artifactsDir };
  const written = await ratchet(['report', config.runId, '--out', html], 120_000, env);
  expect(written.stderr).toBe('');
  expect(written.stdout).toContain(`report written to ${html}`);
  expect((await ratchet(['report', config.runId, '--json', '--out', json], 120_000, env)).code).toBe(0);
  report = JSON.parse(readFileSync(json, 'utf8')) as RunReport;

  const charts = report.page.sections.flatMap((s) => s.charts ?? []);
  expect(charts.map((c) => c.id)).toEqual(['reward-success', 'evaluations', 'kl', 'entropy', 'clip-fraction', 'grad-norm', 'phase-ms', 'success-by-template', 'success-by-level']);
  const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
  expect(byId['reward-success'].x).toEqual([0, 1, 2]);
  expect(byId.evaluations.x).toEqual([2, 3]); // every 2 steps, and at the end
  expect(byId['phase-ms'].series.map((s) => s.name)).toEqual(expect.arrayContaining(['rolloutBatch', 'updatePolicy', 'syncWeights']));
  expect(byId['success-by-level'].x.length).toBeGreaterThan(1);

  const tables = report.page.sections.flatMap((s) => s.tables ?? []);
  const versions = tables.find((t) => t.title === 'Policy versions')!;
  expect(versions.rows.map((r) => r[0])).toEqual([0, 1, 2, 3]);
  for (const row of versions.rows) expect(row[2]).toMatch(/^[0-9a-f]{64}$/);

  // Sampled trajectories, turn by turn: the first step's and the last's; the last turn carries the reward and
  // PPO gives every turn with action tokens an advantage.
  const samples = tables.filter((t) => t.columns.join() === 'turn,action,observation,reward,advantage');
  expect(samples.length).toBeGreaterThanOrEqual(2);
  for (const t of samples) {
    expect(t.rows.length).toBeGreaterThan(0);
    expect(t.rows.every((r) => typeof r[4] === 'number')).toBe(true);
    expect(String(t.rows[0][1]).length).toBeGreaterThan(0);
  }
}, 300_000);

(chromium ? test : test.skip)('the page loads in headless Chromium with no console error and every chart has its points', async () => {
  const screenshot = join(TEST_DIR, `report-${config.runId}.png`);
  const rendered = await openReport(chromium!, html, screenshot);
  console.log(`report screenshot: ${screenshot}`);
  expect(rendered.errors).toEqual([]);
  const charts = report.page.sections.flatMap((s) => s.charts ?? []);
  expect(rendered.canvases).toBe(charts.length);
  expect(rendered.points).toEqual(Object.fromEntries(charts.map((c) => [c.id, pointCounts(c)])));
  for (const counts of Object.values(rendered.points)) for (const n of counts) expect(n).toBeGreaterThan(0);
}, 120_000);

test('a bandit run reports its one-turn trajectories with their advantages (--json to stdout)', async () => {
  const bandit = testConfig();
  const workers = await runWorkers(h, bandit.taskQueues);
  try {
    await (await h.client.workflow.start('trainingRun', { taskQueue: bandit.taskQueues.control, workflowId: `train-${bandit.runId}`, args: [bandit] })).result();
  } finally {
    await workers.stop();
  }
  const printed = await ratchet(['report', bandit.runId, '--json'], 120_000, { RATCHET_ARTIFACTS_DIR: h.env.artifactsDir });
  expect(printed.code).toBe(0);
  const { page } = JSON.parse(printed.stdout) as RunReport;
  const charts = page.sections.flatMap((s) => s.charts ?? []).map((c) => c.id);
  // The bandit's update reports no clip fraction or grad norm, and this config evaluates nothing.
  expect(charts).toEqual(expect.arrayContaining(['reward-success', 'kl', 'entropy', 'phase-ms', 'success-by-template']));
  expect(charts).not.toContain('clip-fraction');
  const samples = page.sections.flatMap((s) => s.tables ?? []).filter((t) => t.columns.includes('advantage'));
  expect(samples.length).toBeGreaterThanOrEqual(2);
  for (const t of samples) {
    expect(t.rows).toHaveLength(1);
    expect(t.rows[0][1]).toMatch(/^pull \d+$/);
    expect(typeof t.rows[0][4]).toBe('number');
  }
  // Within a group the advantages are not all 0 unless its rewards are all equal: some sample shows one.
  expect(samples.some((t) => t.rows[0][4] !== 0)).toBe(true);
}, 120_000);

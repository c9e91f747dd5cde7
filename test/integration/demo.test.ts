/**
 * `npm start` as a user runs it (`ratchet demo --down`, against the test server and database): it starts its
 * own workers, builds the deepsearch base by SFT, trains 16 GRPO steps, and prints the held-out greedy success
 * of the base and of the last version; the last must be higher. Then `ratchet report` on that run opens in
 * headless Chromium with every chart drawn. Minutes of CPU: the only test that builds a base inside a run.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from '../../report/build';
import { pointCounts } from '../../report/page';
import { ratchet } from './support/cli';
import { TEST_DIR } from './support/global-setup';
import { findChromium, openReport } from './support/report-browser';

const chromium = findChromium();
const dir = join(TEST_DIR, 'demo');
// The demo's workers and the report read artifacts from here (not the test workers' store).
const env = { RATCHET_DATA_DIR: dir, RATCHET_ARTIFACTS_DIR: join(dir, 'artifacts') };

test('npm start trains the text agent: held-out success rises, and its report renders', async () => {
  mkdirSync(dir, { recursive: true });
  const demo = await ratchet(['demo', '--down'], 900_000, env);
  expect({ code: demo.code, stderr: demo.stderr.slice(-2000) }).toMatchObject({ code: 0 });
  const runId = /run (agent-\d+) completed/.exec(demo.stdout)?.[1];
  const heldOut = /held-out \S+ \(40 tasks, greedy\): success ([\d.]+)% \(v0, step 0\) -> ([\d.]+)% \(v16, step 16\)/.exec(demo.stdout);
  console.log(demo.stdout.split('\n').filter((l) => /held-out|completed in|report:/.test(l)).join('\n'));
  expect(runId).toBeDefined();
  expect(heldOut).not.toBeNull();
  // Measured 0% -> 30% on 2 cores (tfjs-node); a visible rise, not noise: at least 10 points.
  expect(Number(heldOut![2]) - Number(heldOut![1])).toBeGreaterThanOrEqual(10);
  expect(demo.stdout).toContain(`npm run ratchet -- report ${runId}`);

  const html = join(dir, `report-${runId}.html`);
  const json = join(dir, `report-${runId}.json`);
  expect((await ratchet(['report', runId!, '--out', html], 120_000, env)).code).toBe(0);
  expect((await ratchet(['report', runId!, '--json', '--out', json], 120_000, env)).code).toBe(0);
  const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport;
  const charts = report.page.sections.flatMap((s) => s.charts ?? []);
  // The base's evaluation (step 0) and every 4 steps after.
  expect(charts.find((c) => c.id === 'evaluations')?.x).toEqual([0, 4, 8, 12, 16]);
  if (!chromium) return console.warn('demo.test: no chromium: the browser check is skipped');
  const rendered = await openReport(chromium, html, join(dir, `report-${runId}.png`));
  expect(rendered.errors).toEqual([]);
  expect(rendered.canvases).toBe(charts.length);
  expect(rendered.points).toEqual(Object.fromEntries(charts.map((c) => [c.id, pointCounts(c)])));
}, 1_200_000);

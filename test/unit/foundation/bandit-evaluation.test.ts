/** The bandit's held-out pass@k: evaluation.passN sampled attempts per task, scored with the unbiased estimator. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBanditActivities } from '../../../activities/bandit/bandit-activities';
import { getJson, LocalArtifactStore } from '../../../common/artifacts';
import { parseRunConfig } from '../../../config/run-config';
import type { Database } from '../../../db/client';
import { SoftmaxPolicy } from '../../../envs/bandit';

const dir = mkdtempSync(join(tmpdir(), 'ratchet-bandit-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const binomial = (n: number, k: number): number => (k < 0 || k > n ? 0 : k === 0 ? 1 : (binomial(n - 1, k - 1) * n) / k);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('pass@2 from passN = 8 attempts per task is 1 − C(8−c, 2)/C(8, 2), not "any of the attempts"', async () => {
  const store = new LocalArtifactStore(dir);
  // evaluatePolicy reads the store only.
  const activities = createBanditActivities({ db: undefined as unknown as Database, store });
  const config = parseRunConfig({ runId: 'bandit-pass-at-k', env: 'bandit', steps: 1, tasksPerStep: 2, rolloutShards: 1, bandit: { arms: 4, tasks: 6 }, evaluation: { passK: 2, passN: 8 } });
  // A uniform policy over 4 arms pulls the best arm in about a quarter of the attempts.
  const { key, sha256 } = await store.put('policy-v0.json', new TextEncoder().encode(new SoftmaxPolicy(4).toJSON()));

  const result = await activities.evaluatePolicy({ runId: config.runId, step: 0, config, policy: { version: 0, key, sha256 }, split: 'dev', tasks: 6, mode: 'pass@k', k: 2 });

  expect(result.episodes).toBe(6 * 8);
  const perTask = await getJson<{ attempts: { success: boolean }[] }[]>(store, result.details);
  const successes = perTask.map((t) => t.attempts.filter((a) => a.success).length);
  expect(perTask.map((t) => t.attempts.length)).toEqual(Array(6).fill(8));
  const unbiased = mean(successes.map((c) => 1 - binomial(8 - c, 2) / binomial(8, 2)));
  const anyOfAttempts = mean(successes.map((c) => (c > 0 ? 1 : 0)));
  expect(unbiased).toBeLessThan(anyOfAttempts - 0.05); // the case tells the two apart
  expect(result.metrics.passAtK).toBeCloseTo(unbiased, 12);
});

/**
 * Generated bad configs (test/support/bad-configs.ts) are all rejected by parseRunConfig, naming the broken field;
 * generated good ones are all accepted, so the first property cannot pass by rejecting everything.
 */
import fc from 'fast-check';
import { InvalidRunConfigError, parseRunConfig } from '../../../config/run-config';
import { BASE_NAMES, BASES, badConfigs, CATEGORIES, namesField, sampleBadConfigs, validConfigs, type BadConfig } from '../../support/bad-configs';

function rejection(config: unknown): InvalidRunConfigError | undefined {
  try {
    parseRunConfig(config);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidRunConfigError) return err;
    throw err;
  }
}

const tried = new Map<string, { tried: number; rejected: number }>();
function check(bad: BadConfig): void {
  const count = tried.get(bad.category) ?? { tried: 0, rejected: 0 };
  tried.set(bad.category, count);
  count.tried++;
  const err = rejection(bad.config);
  if (!err) throw new Error(`accepted (${bad.base}, ${bad.category}): ${bad.change}`);
  if (!namesField(err.issues, bad)) throw new Error(`(${bad.base}, ${bad.category}) ${bad.change}: expected ${bad.field}${bad.unknownKey !== undefined ? ` quoting ${JSON.stringify(bad.unknownKey)}` : ''}, got ${err.message.slice(0, 400)}`);
  count.rejected++;
}

afterAll(() => {
  const rows = [...tried].map(([category, c]) => `${category} ${c.rejected}/${c.tried}`);
  const total = [...tried.values()].reduce((sum, c) => ({ tried: sum.tried + c.tried, rejected: sum.rejected + c.rejected }), { tried: 0, rejected: 0 });
  console.log(`bad configs rejected by parseRunConfig, naming the field: ${total.rejected}/${total.tried} (${rows.join(', ')})`);
});

test('the base configs are valid', () => {
  for (const base of BASE_NAMES) expect(() => parseRunConfig(BASES[base])).not.toThrow();
});

test('every generated bad config is rejected, naming the broken field', () => {
  fc.assert(fc.property(badConfigs, (bad) => check(bad)), { numRuns: 500, seed: 28 });
});

test('every (base, category) pair breaks configs that are rejected, naming the field (the sample the integration test submits)', () => {
  const sample = sampleBadConfigs(BASE_NAMES.length * CATEGORIES.length * 4, 2028);
  for (const bad of sample) check(bad);
  expect(new Set(sample.map((b) => `${b.base}/${b.category}`)).size).toBe(BASE_NAMES.length * CATEGORIES.length);
});

test('generated valid configs are accepted and parse again to themselves', () => {
  fc.assert(
    fc.property(validConfigs, ({ config }) => {
      const parsed = parseRunConfig(config);
      expect(parseRunConfig(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
    }),
    { numRuns: 300, seed: 28 },
  );
});

test('a micro-batch is never larger than its minibatch, by default either', () => {
  const apps = { runId: 'micro', env: 'apps', steps: 1 };
  expect(parseRunConfig({ ...apps, agent: { ppo: { minibatchSegments: 4 } } }).agent.ppo).toMatchObject({ minibatchSegments: 4, microbatchSegments: 4 });
  expect(parseRunConfig(apps).agent.ppo).toMatchObject({ minibatchSegments: 32, microbatchSegments: 8 });
  expect(() => parseRunConfig({ ...apps, agent: { ppo: { minibatchSegments: 4, microbatchSegments: 8 } } })).toThrow(/agent\.ppo\.microbatchSegments: must be at most ppo\.minibatchSegments \(4\)/);
});

test('the issue\'s two examples: width 100 with 3 heads, and 100 tasks per step on apps', () => {
  const apps = { runId: 'issue-28', env: 'apps', steps: 1 };
  expect(() => parseRunConfig({ ...apps, agent: { model: { width: 100, heads: 3 } } })).toThrow(/agent\.model\.width: must be divisible by heads \(3\)/);
  expect(() => parseRunConfig({ ...apps, tasksPerStep: 100 })).toThrow(/tasksPerStep: must be at most the 72 tasks of the train split/);
});

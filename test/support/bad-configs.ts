/**
 * Generated invalid run configs (fast-check), each with the field its rejection must name. Every one starts from a
 * valid base config (bandit, apps, deepsearch, llm) and breaks one thing: a wrong type, an out-of-range value, an
 * unknown field, a missing field or section, a huge size, a path trick in an id or key, or a cross-field rule. The
 * scalar fields come from walking the schema itself, so a field added later is covered without a change here.
 * Shared by test/unit/foundation/bad-configs.test.ts (parseRunConfig) and test/integration/bad-configs.test.ts
 * (`ratchet start`, `temporal workflow start`, the Temporal client).
 */
import fc from 'fast-check';
import { z } from 'zod';
import { APPS_SPLIT_SIZES, DEEPSEARCH_SPLIT_SIZES, MAX_TURNS } from '../../config/env-limits';
import { RunConfigSchema } from '../../config/run-config';

export const BASE_NAMES = ['bandit', 'apps', 'deepsearch', 'llm'] as const;
export type BaseName = (typeof BASE_NAMES)[number];
type Json = Record<string, unknown>;

/** Valid configs, one per kind of run; each test mutates a deep copy. */
export const BASES: Record<BaseName, Json> = {
  bandit: { runId: 'bad-bandit', env: 'bandit', algorithm: 'grpo', steps: 4, tasksPerStep: 4, groupSize: 4, rolloutShards: 2, bandit: { arms: 6, tasks: 8 } },
  apps: {
    runId: 'bad-apps',
    env: 'apps',
    steps: 3,
    tasksPerStep: 8,
    agent: { model: { layers: 1, heads: 2, width: 64, contextLength: 512 }, sampling: { maxTurns: 10 } },
    evaluation: { split: 'dev', tasks: 8 },
  },
  deepsearch: {
    runId: 'bad-deepsearch',
    env: 'deepsearch',
    algorithm: 'loop',
    steps: 2,
    deepsearch: { family: 'multi', passages: 2000 },
    agent: { model: { layers: 1, heads: 2, width: 64, rotary: true }, sampling: { maxTurns: 4, maxActionTokens: 48 } },
  },
  llm: {
    runId: 'bad-llm',
    env: 'deepsearch',
    steps: 2,
    tasksPerStep: 4,
    rolloutShards: 1,
    agent: {
      policy: {
        kind: 'llm',
        model: 'smollm2-135m-instruct',
        lora: { rank: 4, alpha: 8 },
        sft: { steps: 2, tasks: 2 },
        // The openai engine (not the default onnx one), so its fields are walked too.
        rollout: { engine: 'openai', protocol: 'vllm', servers: [{ baseUrl: 'http://localhost:8000/v1', apiKeyEnv: 'VLLM_API_KEY' }], adapterPath: '/shared/adapters/{run}/v{version}' },
      },
      ppo: { microbatchSegments: 4 },
    },
    evaluation: { tasks: 2 },
  },
};

export type Category = 'wrong-type' | 'out-of-range' | 'unknown-field' | 'missing' | 'huge' | 'path-trick' | 'cross-field';
export const CATEGORIES: readonly Category[] = ['wrong-type', 'out-of-range', 'unknown-field', 'missing', 'huge', 'path-trick', 'cross-field'];

export interface BadConfig {
  category: Category;
  base: BaseName;
  /** What was broken, for a failure message. */
  change: string;
  config: unknown;
  /** The field (`agent.model.width`, `(root)`) that one of the rejection's issues must name. */
  field: string;
  /** For an unknown field: its name, which the issue's message must quote. */
  unknownKey?: string;
}

type Path = (string | number)[];

// --- Walking the schema --------------------------------------------------------------------------------------

interface Node {
  path: Path;
  /** The schema with default/optional/nullable/prefault/pipe wrappers removed. */
  schema: z.core.$ZodType;
  nullable: boolean;
  /** A union's option: the discriminator and its value (`agent.policy.kind`: `llm`) that select it. */
  option?: { key: string; value: string };
}

function unwrap(schema: z.core.$ZodType): { schema: z.core.$ZodType; nullable: boolean } {
  let nullable = false;
  for (;;) {
    const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.type === 'nullable') nullable = true;
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly'].includes(def.type)) schema = def.innerType;
    else if (def.type === 'pipe' && def.in) schema = def.in;
    else return { schema, nullable };
  }
}

const typeOf = (schema: z.core.$ZodType) => (schema._zod.def as { type: string }).type;

/** Every object section and scalar field under `schema`; a union follows the option the base's value picks. */
function walk(schema: z.core.$ZodType, value: unknown, path: Path, out: { sections: Node[]; scalars: Node[] }): void {
  const node = { path, ...unwrap(schema) };
  const type = typeOf(node.schema);
  const at = (key: string | number) => (value && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined);
  if (type === 'object') {
    out.sections.push(node);
    for (const [key, field] of Object.entries((node.schema as z.ZodObject).shape)) walk(field, at(key), [...path, key], out);
  } else if (type === 'union') {
    // A discriminated union (`kind`, `engine` ...): follow the option the base's value names, else the first one.
    const { options, discriminator: key } = node.schema._zod.def as unknown as { options: z.core.$ZodType[]; discriminator?: string };
    if (!key) throw new Error(`bad-configs: ${fieldName(path)} is a union without a discriminator; teach walk() its options`);
    const tag = (option: z.core.$ZodType) => String((unwrap((unwrap(option).schema as z.ZodObject).shape[key]).schema as z.ZodLiteral).value);
    const chosen = at(key);
    const option = options.find((o) => tag(o) === chosen) ?? options[0];
    const sections = out.sections.length;
    walk(option, value, path, out);
    out.sections[sections].option = { key, value: tag(option) };
  } else if (type === 'array') {
    out.scalars.push(node);
    walk((node.schema as z.ZodArray).element, at(0), [...path, 0], out);
  } else {
    out.scalars.push(node);
  }
}

const shapes = new Map<BaseName, { sections: Node[]; scalars: Node[] }>();
function nodesOf(base: BaseName) {
  let nodes = shapes.get(base);
  if (!nodes) {
    nodes = { sections: [], scalars: [] };
    walk(RunConfigSchema, BASES[base], [], nodes);
    shapes.set(base, nodes);
  }
  return nodes;
}

// --- Building a broken config --------------------------------------------------------------------------------

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const fieldName = (path: Path) => (path.length ? path.join('.') : '(root)');

/** A copy of `config` with `value` at `path` (creating the sections on the way; `undefined` deletes). */
function setAt(config: unknown, path: Path, value: unknown): unknown {
  if (!path.length) return value;
  const copy = clone(config) as Record<string | number, unknown>;
  let cursor = copy;
  path.slice(0, -1).forEach((key, i) => {
    if (!cursor[key] || typeof cursor[key] !== 'object') cursor[key] = typeof path[i + 1] === 'number' ? [] : {};
    cursor = cursor[key] as Record<string | number, unknown>;
  });
  const last = path[path.length - 1];
  if (value === undefined) delete cursor[last];
  else Object.defineProperty(cursor, last, { value, enumerable: true, writable: true, configurable: true }); // also for "__proto__"
  return copy;
}

const broken = (category: Category, base: BaseName, path: Path, value: unknown, field = fieldName(path)): BadConfig => ({
  category,
  base,
  change: `${fieldName(path)} = ${JSON.stringify(value)?.slice(0, 80) ?? 'undefined'}`,
  config: setAt(BASES[base], path, value),
  field,
});

/** Several changes at once (a cross-field rule needs its partners set). */
function patched(category: Category, base: BaseName, field: string, changes: [Path, unknown][]): BadConfig {
  let config: unknown = BASES[base];
  for (const [path, value] of changes) config = setAt(config, path, value);
  return { category, base, change: changes.map(([p, v]) => `${fieldName(p)} = ${JSON.stringify(v)}`).join(', '), config, field };
}

// --- Values of the wrong type, out of range, huge -------------------------------------------------------------

function wrongTypes(node: Node): unknown[] {
  const type = typeOf(node.schema);
  const values: unknown[] = [type === 'array' ? 'q_proj' : [], { value: 1 }];
  if (!node.nullable) values.push(null);
  if (type === 'number') values.push('5', true);
  else if (type === 'string') values.push(42, false);
  else if (type === 'boolean') values.push('true', 1);
  else if (type === 'enum' || type === 'literal') values.push(1, true);
  else if (type === 'array') values.push(7, true);
  return values;
}

interface NumberBounds {
  minValue: number | null;
  maxValue: number | null;
  isInt: boolean;
}

function outOfRange(node: Node): unknown[] {
  const type = typeOf(node.schema);
  if (type === 'number') {
    const { minValue, maxValue, isInt } = node.schema as unknown as NumberBounds;
    const values: unknown[] = [];
    const min = minValue ?? -Infinity;
    const max = maxValue ?? Infinity;
    if (Number.isFinite(min) && min > Number.MIN_SAFE_INTEGER) values.push(min - 1);
    if (Number.isFinite(max) && max < Number.MAX_SAFE_INTEGER) values.push(max + 1);
    if (isInt) values.push((Number.isFinite(min) ? Math.max(min, 0) : 0) + 1.5);
    return values;
  }
  if (type === 'string') {
    const { minLength, format } = node.schema as unknown as { minLength: number | null; format: string | null };
    return (minLength ?? 0) >= 1 || format === 'regex' ? [''] : [];
  }
  if (type === 'enum') return ['not-an-option', String((node.schema as z.ZodEnum).options[0]).toUpperCase()];
  if (type === 'literal') return ['not-a-kind'];
  if (type === 'array') {
    const { minLength } = node.schema as unknown as { minLength: number | null };
    return (minLength ?? 0) >= 1 ? [[]] : [];
  }
  return [];
}

const HUGE_STRING = 'x'.repeat(100_000);

function huge(node: Node): unknown[] {
  const type = typeOf(node.schema);
  if (type === 'number') {
    const { maxValue, isInt } = node.schema as unknown as NumberBounds;
    return Number.isFinite(maxValue ?? Infinity) || isInt ? [1e300, 2 ** 53 + 2, 1e21] : [];
  }
  if (type === 'string') {
    const { maxLength, format } = node.schema as unknown as { maxLength: number | null; format: string | null };
    return maxLength !== null || format === 'regex' ? [HUGE_STRING] : [];
  }
  if (type === 'array') {
    const { maxLength } = node.schema as unknown as { maxLength: number | null };
    return maxLength !== null ? [Array.from({ length: 10_000 }, (_, i) => `m${i}`)] : [];
  }
  return [];
}

const fromNodes = (category: Category, base: BaseName, values: (node: Node) => unknown[]): fc.Arbitrary<BadConfig>[] => {
  const cases = nodesOf(base).scalars.flatMap((node) => values(node).map((value) => [node.path, value] as const));
  return cases.length ? [fc.constantFrom(...cases).map(([path, value]) => broken(category, base, path, value))] : [];
};

// --- Unknown fields, missing fields -------------------------------------------------------------------------

const unknownKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'stepz', 'Steps', 'runID', 'timeout', 'extra', ''),
  fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,12}$/),
);

function unknownFields(base: BaseName): fc.Arbitrary<BadConfig> {
  const sections = nodesOf(base).sections;
  return fc
    .tuple(fc.constantFrom(...sections), unknownKey, fc.jsonValue({ maxDepth: 2 }))
    .filter(([section, key]) => !Object.prototype.hasOwnProperty.call((section.schema as z.ZodObject).shape, key))
    .map(([section, key, value]) => {
      const kind: [Path, unknown][] = section.option ? [[[...section.path, section.option.key], section.option.value]] : []; // keeps the union's option
      return { ...patched('unknown-field', base, fieldName(section.path), [...kind, [[...section.path, key], value]]), unknownKey: key };
    });
}

function missing(base: BaseName): fc.Arbitrary<BadConfig> {
  const cases: [Path, unknown, string][] = [
    [['runId'], undefined, 'runId'],
    [['env'], undefined, 'env'],
    [['steps'], undefined, 'steps'],
    [[], null, '(root)'],
    [[], [], '(root)'],
    [[], 'bandit', '(root)'],
    [[], 42, '(root)'],
    [[], {}, 'runId'],
    [['agent', 'base', 'habitFinetune'], {}, 'agent.base.habitFinetune.steps'],
    [['agent', 'base', 'habitFinetune'], { steps: 10 }, 'agent.base.habitFinetune.demoHabit'],
    [['agent', 'base', 'checkpoint'], { sha256: 'a'.repeat(64) }, 'agent.base.checkpoint.key'],
    [['agent', 'base', 'checkpoint'], { key: 'runs/x/checkpoints/v000000.ckpt' }, 'agent.base.checkpoint.sha256'],
    [['agent', 'policy'], {}, 'agent.policy.kind'],
    [['agent', 'policy'], { kind: 'llm' }, 'agent.policy.model'],
  ];
  // A section that is not an object at all: `null`, a list, a string, a number.
  for (const section of nodesOf(base).sections.filter((s) => s.path.length)) {
    for (const value of section.nullable ? [[], 'x', 0] : [null, [], 'x', 0]) cases.push([section.path, value, fieldName(section.path)]);
  }
  if (base === 'llm') cases.push([['agent', 'policy', 'model'], undefined, 'agent.policy.model']);
  return fc.constantFrom(...cases).map(([path, value, field]) => broken('missing', base, path, value, field));
}

// --- Path tricks in ids and keys ------------------------------------------------------------------------------

const ESCAPES = ['..', '../x', '../../etc/passwd', 'a/../../b', 'runs/../x', './a', 'a/.', '/etc/passwd', 'a//b', 'a\\..\\b', '%2e%2e%2f', '\u2025', 'a/b\u0000'];

function pathTricks(base: BaseName): fc.Arbitrary<BadConfig> {
  const cases: [Path, unknown][] = [
    ...['.', '-', 'A', 'x y', 'x\n', 'a'.repeat(64), ...ESCAPES].map((runId): [Path, unknown] => [['runId'], runId]),
    ...ESCAPES.map((key): [Path, unknown] => [['agent', 'base', 'checkpoint', 'key'], key]),
    ...['../train', 'dev/../../x', '/dev', 'train/..'].flatMap((split): [Path, unknown][] => [[['split'], split], [['evaluation', 'split'], split]]),
  ];
  const withSha = (path: Path) => (path[2] === 'checkpoint' ? [[['agent', 'base', 'checkpoint', 'sha256'], 'a'.repeat(64)] as [Path, unknown]] : []);
  if (base === 'llm') cases.push(...['../q_proj', 'q_proj/..', 'a/b'].map((m): [Path, unknown] => [['agent', 'policy', 'lora', 'targetModules'], [m]]));
  return fc.constantFrom(...cases).map(([path, value]) => {
    const field = path[path.length - 1] === 'targetModules' ? 'agent.policy.lora.targetModules.0' : fieldName(path);
    return patched('path-trick', base, field, [...withSha(path), [path, value]]);
  });
}

// --- Cross-field rules ----------------------------------------------------------------------------------------

/** Split names of another environment or family, or none at all. */
const FOREIGN_SPLITS: Record<BaseName, string[]> = {
  bandit: ['single/train', 'test_normal', 'Train'],
  apps: ['single/train', 'test', 'train '],
  deepsearch: ['train', 'single/train', 'multi/validation'], // its family is multi
  llm: ['train', 'multi/train', 'single/'],
};

const trainSplitSize = (base: BaseName) => (base === 'bandit' ? 8 : base === 'apps' ? APPS_SPLIT_SIZES.train : DEEPSEARCH_SPLIT_SIZES.train);
const evalSplitSize = (base: BaseName) => (base === 'bandit' ? 8 : base === 'apps' ? APPS_SPLIT_SIZES.dev : DEEPSEARCH_SPLIT_SIZES.dev);

function crossField(base: BaseName): fc.Arbitrary<BadConfig> {
  const text = base !== 'bandit';
  const builtin = base !== 'llm';
  const env = base === 'apps' ? 'apps' : 'deepsearch';
  const rules: fc.Arbitrary<BadConfig>[] = [
    // policy/model.ts: heads split the width; rotary rotates pairs within a head.
    fc.record({ heads: fc.integer({ min: 2, max: 32 }), k: fc.integer({ min: 1, max: 40 }), r: fc.integer({ min: 1, max: 31 }) })
      .filter(({ heads, k, r }) => r < heads && heads * k + r >= 8 && heads * k + r <= 1024)
      .map(({ heads, k, r }) => patched('cross-field', base, 'agent.model.width', [[['agent', 'model', 'heads'], heads], [['agent', 'model', 'width'], heads * k + r]])),
    fc.record({ heads: fc.constantFrom(1, 2, 4, 8), odd: fc.integer({ min: 1, max: 31 }).map((n) => 2 * n + 1) })
      .filter(({ heads, odd }) => heads * odd >= 8 && heads * odd <= 1024)
      .map(({ heads, odd }) => patched('cross-field', base, 'agent.model.rotary', [[['agent', 'model', 'heads'], heads], [['agent', 'model', 'width'], heads * odd], [['agent', 'model', 'rotary'], true]])),
    fc.integer({ min: trainSplitSize(base) + 1, max: 4096 }).map((n) => patched('cross-field', base, 'tasksPerStep', [[['tasksPerStep'], n]])),
    fc.integer({ min: evalSplitSize(base) + 1, max: 100_000 }).map((n) => patched('cross-field', base, 'evaluation.tasks', [[['evaluation', 'tasks'], n]])),
    fc.integer({ min: 1, max: 7 }).map((n) => patched('cross-field', base, 'dynamicSampling.maxGroups', [[['tasksPerStep'], 8], [['rolloutShards'], 1], [['dynamicSampling', 'maxGroups'], n]])),
    fc.integer({ min: 2, max: 64 }).map((n) => patched('cross-field', base, 'rolloutShards', [[['tasksPerStep'], 1], [['rolloutShards'], n]])),
    fc.integer({ min: 2, max: 16 }).map((k) => patched('cross-field', base, 'evaluation.passN', [[['evaluation', 'passK'], k], [['evaluation', 'passN'], k - 1]])),
    fc.constant(patched('cross-field', base, 'evaluation.passN', [[['evaluation', 'passN'], 4]])),
    fc.constant(patched('cross-field', base, 'agent.kl.targetKl', [[['agent', 'kl'], { mode: 'loss', targetKl: 0.1 }]])),
    fc.constant(patched('cross-field', base, 'agent.salt', [[['agent', 'salt'], true], [['agent', 'stepCredit'], 'gigpo']])),
    fc.constantFrom(...FOREIGN_SPLITS[base]).map((s) => patched('cross-field', base, 'split', [[['split'], s]])),
  ];
  if (builtin) {
    rules.push(
      fc.integer({ min: 32, max: 1024 }).chain((tokens) =>
        fc.integer({ min: 32, max: Math.min(4096, tokens + 1) }).map((context) =>
          patched('cross-field', base, 'agent.model.contextLength', [[['agent', 'sampling', 'maxActionTokens'], tokens], [['agent', 'model', 'contextLength'], context]]),
        ),
      ),
    );
  }
  if (base === 'bandit') {
    rules.push(
      fc.constantFrom('ppo', 'drgrpo', 'loop', 'reinforce_pp').map((a) => patched('cross-field', base, 'algorithm', [[['algorithm'], a]])),
      fc.constant(patched('cross-field', base, 'agent.policy.kind', [[['agent', 'policy'], { kind: 'llm', model: 'smollm2-135m-instruct' }]])),
      fc.integer({ min: 2, max: 7 }).map((n) => patched('cross-field', base, 'tasksPerStep', [[['bandit', 'tasks'], n], [['tasksPerStep'], n + 1], [['rolloutShards'], 1]])),
    );
  }
  if (text) {
    rules.push(
      fc.integer({ min: MAX_TURNS[env] + 1, max: 200 }).map((n) => patched('cross-field', base, 'agent.sampling.maxTurns', [[['agent', 'sampling', 'maxTurns'], n]])),
      fc.integer({ min: 1, max: 256 }).chain((mini) =>
        fc.integer({ min: mini + 1, max: 512 }).map((micro) => patched('cross-field', base, 'agent.ppo.microbatchSegments', [[['agent', 'ppo', 'minibatchSegments'], mini], [['agent', 'ppo', 'microbatchSegments'], micro]])),
      ),
      fc.integer({ min: 33, max: 512 }).map((micro) => patched('cross-field', base, 'agent.ppo.microbatchSegments', [[['agent', 'ppo', 'microbatchSegments'], micro]])), // the default minibatch is 32
      fc.constant(patched('cross-field', base, 'algorithm', [[['algorithm'], 'reinforce']])),
      fc.constantFrom('ppo', 'reinforce_pp').map((a) => patched('cross-field', base, 'dynamicSampling.refill', [[['algorithm'], a], [['agent', 'stepCredit'], 'none'], [['dynamicSampling', 'refill'], true]])),
      fc.constantFrom('ppo', 'reinforce_pp').map((a) => patched('cross-field', base, 'agent.stepCredit', [[['algorithm'], a], [['agent', 'stepCredit'], 'gigpo']])),
    );
  }
  if (env === 'deepsearch' && text) {
    rules.push(fc.integer({ min: 200, max: 999 }).map((n) => patched('cross-field', base, 'deepsearch.passages', [[['deepsearch', 'passages'], n]])));
  }
  if (base === 'llm') {
    rules.push(
      fc.integer({ min: DEEPSEARCH_SPLIT_SIZES.train + 1, max: 100_000 }).map((n) => patched('cross-field', base, 'agent.policy.sft.tasks', [[['agent', 'policy', 'sft', 'tasks'], n]])),
      fc.constant(patched('cross-field', base, 'agent.base.checkpoint', [[['agent', 'base', 'checkpoint'], { key: 'runs/x/checkpoints/v000000.ckpt', sha256: 'a'.repeat(64) }]])),
      // vLLM loads each version as a LoRA adapter, from a path per version.
      fc.constant(patched('cross-field', base, 'agent.policy.rollout.protocol', [[['agent', 'policy', 'lora'], null]])),
      fc.constant(patched('cross-field', base, 'agent.policy.rollout.adapterPath', [[['agent', 'policy', 'rollout', 'adapterPath'], undefined]])),
      fc.constantFrom('/shared/adapters/{run}', '/v{versions}').map((a) => patched('cross-field', base, 'agent.policy.rollout.adapterPath', [[['agent', 'policy', 'rollout', 'adapterPath'], a]])),
    );
  }
  return fc.oneof(...rules);
}

// --- The generators -------------------------------------------------------------------------------------------

function badConfigOf(base: BaseName, category: Category): fc.Arbitrary<BadConfig> {
  switch (category) {
    case 'wrong-type':
      return fc.oneof(...fromNodes(category, base, wrongTypes));
    case 'out-of-range':
      return fc.oneof(...fromNodes(category, base, outOfRange));
    case 'huge':
      return fc.oneof(...fromNodes(category, base, huge));
    case 'unknown-field':
      return unknownFields(base);
    case 'missing':
      return missing(base);
    case 'path-trick':
      return pathTricks(base);
    case 'cross-field':
      return crossField(base);
  }
}

/** Any one broken config: a base, a category, then a breakage of that category. */
export const badConfigs: fc.Arbitrary<BadConfig> = fc
  .tuple(fc.constantFrom(...BASE_NAMES), fc.constantFrom(...CATEGORIES))
  .chain(([base, category]) => badConfigOf(base, category));

/** `count` broken configs, the same ones for the same seed, spread over every (base, category) pair in turn. */
export function sampleBadConfigs(count: number, seed: number): BadConfig[] {
  const pairs = BASE_NAMES.flatMap((base) => CATEGORIES.map((category) => [base, category] as const));
  const perPair = Math.ceil(count / pairs.length);
  const samples = pairs.map(([base, category], i) => fc.sample(badConfigOf(base, category), { seed: seed + i, numRuns: perPair }));
  return Array.from({ length: perPair }, (_, round) => samples.map((s) => s[round])).flat().slice(0, count);
}

/** Whether a rejection's issues name the broken field (and, for an unknown field, quote its name). */
export function namesField(issues: readonly { field: string; message: string }[], bad: Pick<BadConfig, 'field' | 'unknownKey'>): boolean {
  return issues.some((issue) => issue.field === bad.field && (bad.unknownKey === undefined || issue.message.includes(JSON.stringify(bad.unknownKey))));
}

// --- Valid variations, so a generator that rejects everything cannot pass --------------------------------------

/** A valid config: a base with in-range values for fields the cross-field rules tie together. */
export const validConfigs: fc.Arbitrary<{ base: BaseName; config: Json }> = fc.constantFrom(...BASE_NAMES).chain((base) =>
  fc
    .record({
      seed: fc.integer({ min: 0, max: 2 ** 31 }),
      steps: fc.integer({ min: 1, max: 1_000_000 }),
      groupSize: fc.integer({ min: 1, max: 256 }),
      shards: fc.integer({ min: 1, max: 8 }),
      tasks: fc.integer({ min: 8, max: trainSplitSize(base) }),
      evalTasks: fc.integer({ min: 0, max: evalSplitSize(base) }),
      heads: fc.constantFrom(1, 2, 4, 8),
      headSize: fc.integer({ min: 1, max: 32 }).map((n) => 2 * n),
      rotary: fc.boolean(),
      maxActionTokens: fc.integer({ min: 1, max: 200 }),
      extraContext: fc.integer({ min: 2, max: 1000 }),
      maxTurns: fc.integer({ min: 1, max: base === 'apps' ? MAX_TURNS.apps : MAX_TURNS.deepsearch }),
      minibatch: fc.integer({ min: 1, max: 4096 }),
      microShare: fc.double({ min: 0, max: 1, noNaN: true }),
      learningRate: fc.double({ min: 1e-8, max: 100, noNaN: true }),
    })
    .filter(({ heads, headSize }) => heads * headSize >= 8)
    .map((v) => {
      const agent = {
        ...(BASES[base].agent as Json | undefined),
        model: { heads: v.heads, width: v.heads * v.headSize, rotary: v.rotary, contextLength: Math.max(32, Math.min(4096, v.maxActionTokens + v.extraContext)) },
        sampling: { maxActionTokens: v.maxActionTokens, ...(base === 'bandit' ? {} : { maxTurns: v.maxTurns }) },
        ppo: { minibatchSegments: v.minibatch, microbatchSegments: Math.max(1, Math.min(512, Math.round(v.minibatch * v.microShare))) },
      };
      const config = { ...BASES[base], seed: v.seed, steps: v.steps, groupSize: v.groupSize, rolloutShards: v.shards, tasksPerStep: v.tasks, learningRate: v.learningRate, agent };
      return { base, config: { ...config, evaluation: { ...(BASES[base].evaluation as Json | undefined), tasks: v.evalTasks } } };
    }),
);

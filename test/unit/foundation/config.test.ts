import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidRunConfigError, parseRunConfig } from '../../../config/run-config';
import { LOOP_LOSS } from '../../../rl/group-advantages';
import { splitIntoShards } from '../../../trainer/step';

const example = JSON.parse(readFileSync(join(__dirname, '../../../examples/bandit.json'), 'utf8'));

describe('run config', () => {
  it('accepts the example and fills defaults', () => {
    const config = parseRunConfig(example);
    expect(config.steps).toBeGreaterThanOrEqual(20);
    expect(config.taskQueues).toEqual({ control: 'ratchet-control', cpu: 'ratchet-cpu', gpu: 'ratchet-gpu' });
    expect(config.timeouts.kinds.update).toMatchObject({ startToClose: '30m', heartbeat: '30s', maximumAttempts: 20 });
  });

  it.each([
    [{ steps: 0 }, 'steps'],
    [{ env: 'chess' }, 'env'],
    [{ runId: 'Has Spaces' }, 'runId'],
    [{ learningRate: -1 }, 'learningRate'],
    [{ bandit: { arms: 1 } }, 'bandit.arms'],
    [{ tasksPerStep: 99 }, 'tasksPerStep'],
    [{ timeouts: { activityHeartbeat: 'soon' } }, 'timeouts.activityHeartbeat'],
    [{ stepz: 3 }, '(root)'],
    [{ algorithm: 'ppo' }, 'algorithm'],
    [{ algorithm: 'dpo' }, 'algorithm'],
    [{ split: 'single/train' }, 'split'],
    [{ evaluation: { split: 'holdout' } }, 'evaluation.split'],
    [{ evaluation: { passK: 17 } }, 'evaluation.passK'],
    [{ evaluation: { every: -1 } }, 'evaluation.every'],
    [{ apps: { seed: 1, extra: true } }, 'apps'],
    [{ deepsearch: { passages: 100 } }, 'deepsearch.passages'],
    [{ agent: { model: { layers: 0 } } }, 'agent.model.layers'],
    [{ agent: { base: { demoHabit: 1.5 } } }, 'agent.base.demoHabit'],
  ])('rejects %j naming %s', (patch, field) => {
    const attempt = () => parseRunConfig({ ...example, ...patch });
    expect(attempt).toThrow(InvalidRunConfigError);
    expect(attempt).toThrow(new RegExp(`${field.replace(/[.()]/g, '\\$&')}: `));
  });

  it('rejects a missing required field by name', () => {
    const { runId: _, ...rest } = example;
    expect(() => parseRunConfig(rest)).toThrow(/runId: /);
  });
});

describe('environment sections, splits and evaluation', () => {
  const load = (name: string) => JSON.parse(readFileSync(join(__dirname, '../../../examples', name), 'utf8'));

  it('fills the env sections, the agent settings and the evaluation defaults', () => {
    const config = parseRunConfig(example);
    expect(config.split).toBe('train');
    expect(config.evaluation).toEqual({ every: 0, split: 'dev', tasks: 0, passK: 0, passN: 0 });
    expect(config.apps).toEqual({ seed: 1 });
    expect(config.deepsearch).toEqual({ seed: 0, passages: 10_000, family: 'single' });
    expect(config.agent.kl.coef).toBeGreaterThanOrEqual(0);
  });

  it('defaults deepsearch splits to the family and checks them by env', () => {
    const base = { runId: 'ds', env: 'deepsearch', steps: 2 };
    expect(parseRunConfig(base)).toMatchObject({ split: 'single/train', evaluation: { split: 'single/dev' } });
    expect(parseRunConfig({ ...base, deepsearch: { family: 'multi' } })).toMatchObject({ split: 'multi/train', evaluation: { split: 'multi/dev' } });
    expect(() => parseRunConfig({ ...base, split: 'train' })).toThrow(/split: unknown deepsearch split "train"; expected one of single\/train/);
    expect(() => parseRunConfig({ ...base, algorithm: 'reinforce' })).toThrow(/algorithm: /);
    expect(parseRunConfig({ ...base, algorithm: 'reinforce_pp' }).algorithm).toBe('reinforce_pp');
  });

  it('accepts the apps examples with the sizes they promise', () => {
    const small = parseRunConfig(load('apps-small.json'));
    expect(small).toMatchObject({ env: 'apps', split: 'train', tasksPerStep: 8, groupSize: 4, steps: 3, evaluation: { split: 'dev', tasks: 8 } });
    expect(small.agent.model).toMatchObject({ layers: 1, heads: 2, width: 64, contextLength: 512 });
    expect(small.agent.base).toMatchObject({ sftSteps: 40, demosPerTask: 1 });
    expect(parseRunConfig(load('apps.json'))).toMatchObject({ env: 'apps', algorithm: 'grpo', tasksPerStep: 8, groupSize: 4, steps: 30, learningRate: 1e-4 }); // 1e-3 collapsed the apps policy in one step
  });

  it('a parsed config parses again to itself (the evaluation child re-validates it)', () => {
    const config = parseRunConfig(load('apps-small.json'));
    expect(parseRunConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });
});

describe('step credit (agent.stepCredit, formerly agent.salt)', () => {
  const apps = { runId: 'credit', env: 'apps', steps: 1 };
  const agentOf = (agent: object) => parseRunConfig({ ...apps, agent }).agent;

  it('defaults to none and maps the old salt flag onto it', () => {
    expect(agentOf({}).stepCredit).toBe('none');
    expect(agentOf({ salt: true })).toEqual(agentOf({ stepCredit: 'salt' }));
    expect(agentOf({ salt: false })).toEqual(agentOf({ stepCredit: 'none' }));
    expect(agentOf({ stepCredit: 'gigpo' })).toMatchObject({ stepCredit: 'gigpo', gigpo: { gamma: 0.95, stepWeight: 1, normalizeByStd: false } });
    expect(agentOf({ salt: true, stepCredit: 'salt' }).stepCredit).toBe('salt'); // both, agreeing
  });

  it('rejects salt and stepCredit that disagree', () => {
    expect(() => agentOf({ salt: true, stepCredit: 'gigpo' })).toThrow(/agent\.salt: .*stepCredit/);
    expect(() => agentOf({ salt: false, stepCredit: 'salt' })).toThrow(/agent\.salt: /);
  });

  it('refuses step credit where no group estimator gives a trajectory advantage to refine', () => {
    expect(() => parseRunConfig({ ...apps, algorithm: 'ppo', agent: { stepCredit: 'gigpo' } })).toThrow(/agent\.stepCredit: /);
    expect(() => parseRunConfig({ ...apps, algorithm: 'reinforce_pp', agent: { salt: true } })).toThrow(/agent\.salt: /);
    expect(parseRunConfig({ ...apps, algorithm: 'loop', agent: { stepCredit: 'gigpo' } }).agent.stepCredit).toBe('gigpo');
  });
});

describe('defaults by environment and algorithm (config/defaults.ts)', () => {
  const text = (env: 'apps' | 'deepsearch', extra: object = {}) => parseRunConfig({ runId: 'defaults', env, steps: 1, ...extra });

  it('gives each environment its measured learning rate, temperature and epochs', () => {
    expect(text('apps')).toMatchObject({ learningRate: 1e-4, agent: { sampling: { temperature: 0.6 }, ppo: { epochs: 2 } } });
    expect(text('deepsearch')).toMatchObject({ learningRate: 3e-4, agent: { sampling: { temperature: 1 }, ppo: { epochs: 1 } } });
    expect(parseRunConfig({ runId: 'b', env: 'bandit', steps: 1 }).learningRate).toBe(1);
  });

  it('keeps what the user set', () => {
    const config = text('apps', { learningRate: 5e-4, agent: { sampling: { temperature: 1 }, ppo: { epochs: 3 } } });
    expect(config).toMatchObject({ learningRate: 5e-4, agent: { sampling: { temperature: 1 }, ppo: { epochs: 3 } } });
  });

  it('trains loop with LOOP_LOSS when the ppo and kl settings are absent', () => {
    const { ppo, kl } = text('deepsearch', { algorithm: 'loop' }).agent;
    expect(ppo).toMatchObject({ clipLow: LOOP_LOSS.clipLow, clipHigh: LOOP_LOSS.clipHigh, dualClip: null, aggregation: LOOP_LOSS.aggregation });
    expect(ppo).toMatchObject({ epochs: LOOP_LOSS.epochs, minibatchSegments: LOOP_LOSS.miniBatchSize });
    expect(kl.mode).toBe('none');
    // The generic defaults stay for the other algorithms.
    expect(text('deepsearch', { algorithm: 'grpo' }).agent).toMatchObject({ ppo: { clipLow: 0.2, clipHigh: 0.28, dualClip: 3, aggregation: 'token-mean', epochs: 1 }, kl: { mode: 'loss' } });
  });

  it('keeps explicit ppo and kl values under loop, an explicit null dual clip elsewhere', () => {
    const ppo = { clipLow: 0.2, clipHigh: 0.3, dualClip: 4, aggregation: 'token-mean', epochs: 1, minibatchSegments: 8 };
    expect(text('apps', { algorithm: 'loop', agent: { ppo, kl: { mode: 'loss' } } }).agent).toMatchObject({ ppo, kl: { mode: 'loss', coef: 0.01 } });
    expect(text('apps', { agent: { ppo: { dualClip: null } } }).agent.ppo.dualClip).toBeNull();
  });

  it('a resolved config parses again to itself, for every env and algorithm', () => {
    for (const config of [text('apps', { algorithm: 'loop', agent: { salt: true } }), text('deepsearch'), parseRunConfig(example)]) {
      expect(parseRunConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    }
  });
});

describe('kl.targetKl (the adaptive controller of reward mode)', () => {
  const withKl = (kl: object) => parseRunConfig({ runId: 'kl', env: 'apps', steps: 1, agent: { kl } }).agent.kl;

  it('is accepted with reward mode, with verl\'s horizon by default', () => {
    expect(withKl({ mode: 'reward', targetKl: 0.1 })).toMatchObject({ mode: 'reward', targetKl: 0.1, horizon: 10_000 });
    expect(withKl({ mode: 'reward', targetKl: 0.1, horizon: 500 }).horizon).toBe(500);
  });

  it('is refused with a mode it does not adapt', () => {
    expect(() => withKl({ mode: 'loss', targetKl: 0.1 })).toThrow(/agent\.kl\.targetKl: .*reward/);
    expect(() => withKl({ targetKl: 0.1 })).toThrow(/agent\.kl\.targetKl: /);
  });
});

describe('dynamicSampling.refill (DAPO)', () => {
  const run = (env: string, algorithm: string) => parseRunConfig({ runId: 'refill', env, algorithm, steps: 1, tasksPerStep: 4, dynamicSampling: { refill: true } });

  it('is accepted for the group estimators, text agents and bandit alike', () => {
    for (const algorithm of ['grpo', 'drgrpo', 'rloo', 'loop']) expect(run('apps', algorithm).dynamicSampling.refill).toBe(true);
    for (const algorithm of ['grpo', 'rloo']) expect(run('bandit', algorithm).dynamicSampling.refill).toBe(true);
  });

  it('is refused, naming the field, where every group is trained on', () => {
    expect(() => run('apps', 'ppo')).toThrow(/dynamicSampling\.refill: .*ppo trains on every group/);
    expect(() => run('deepsearch', 'reinforce_pp')).toThrow(/dynamicSampling\.refill: .*reinforce_pp/);
    expect(() => run('bandit', 'reinforce')).toThrow(/dynamicSampling\.refill: .*reinforce/);
    const ppo = { runId: 'refill', env: 'apps', algorithm: 'ppo', steps: 1 };
    expect(parseRunConfig({ ...ppo, dynamicSampling: { refill: false, maxGroups: 16 } }).dynamicSampling.refill).toBe(false);
  });
});

describe('async (one-step-off-policy training)', () => {
  const text = { runId: 'async', env: 'deepsearch', steps: 3 };

  it('defaults to synchronous, and takes a staleness bound and importance cap for text agents', () => {
    expect(parseRunConfig(text).async).toEqual({ maxStaleness: 0, importanceCap: 5 });
    expect(parseRunConfig({ ...text, async: { maxStaleness: 2, importanceCap: 3 } }).async).toEqual({ maxStaleness: 2, importanceCap: 3 });
  });

  it('refuses the bandit, a cap of at most 1, and an inference server that would unload a version still rolled out', () => {
    expect(() => parseRunConfig({ ...example, async: { maxStaleness: 1 } })).toThrow(/async\.maxStaleness: asynchronous training needs a text agent/);
    expect(() => parseRunConfig({ ...text, async: { importanceCap: 1 } })).toThrow(/async\.importanceCap/);
    const rollout = { engine: 'openai', protocol: 'ratchet', servers: [{ baseUrl: 'http://localhost:8000/v1' }], keepVersions: 2 };
    const llm = { agent: { policy: { kind: 'llm', model: 'smollm2-135m-instruct', rollout } } };
    expect(parseRunConfig({ ...text, ...llm, async: { maxStaleness: 1 } }).async.maxStaleness).toBe(1);
    expect(() => parseRunConfig({ ...text, ...llm, async: { maxStaleness: 2 } })).toThrow(/agent\.policy\.rollout\.keepVersions: must be at least async\.maxStaleness \+ 1 \(3\)/);

    // The ONNX graphs a stale batch rolls out with must still be stored (keepExports, default 2; null keeps all).
    const onnx = (keepExports: number | null) => ({ agent: { policy: { kind: 'llm', model: 'smollm2-135m-instruct', keepExports } } });
    expect(parseRunConfig({ ...text, agent: { policy: { kind: 'llm', model: 'smollm2-135m-instruct' } } }).agent.policy).toMatchObject({ keepExports: 2 });
    expect(() => parseRunConfig({ ...text, ...onnx(2), async: { maxStaleness: 2 } })).toThrow(/agent\.policy\.keepExports: must be at least async\.maxStaleness \+ 1 \(3\)/);
    expect(parseRunConfig({ ...text, ...onnx(null), async: { maxStaleness: 2 } }).async.maxStaleness).toBe(2);
  });
});

describe('evaluation.passN (samples behind the pass@k estimate)', () => {
  const evaluation = (section: object) => parseRunConfig({ ...example, evaluation: section }).evaluation;

  it('defaults to passK and may be larger', () => {
    expect(evaluation({ passK: 4 })).toMatchObject({ passK: 4, passN: 4 });
    expect(evaluation({ passK: 4, passN: 16 })).toMatchObject({ passK: 4, passN: 16 });
  });

  it('must be at least passK, and needs passK', () => {
    expect(() => evaluation({ passK: 4, passN: 2 })).toThrow(/evaluation\.passN: /);
    expect(() => evaluation({ passN: 8 })).toThrow(/evaluation\.passN: /);
  });
});

describe('splitIntoShards', () => {
  it('covers every task once, contiguous, with global group numbers', () => {
    const ids = Array.from({ length: 7 }, (_, i) => `t${i}`);
    const shards = splitIntoShards(ids, 3);
    expect(shards.map((s) => s.taskIds.length)).toEqual([3, 2, 2]);
    expect(shards.flatMap((s) => s.taskIds)).toEqual(ids);
    expect(shards.map((s) => s.firstGroup)).toEqual([0, 3, 5]);
    expect(splitIntoShards(ids.slice(0, 2), 4)).toHaveLength(2);
  });
});

describe('agent.policy (builtin or a pretrained llm)', () => {
  const deepsearch = { runId: 'llm', env: 'deepsearch', steps: 3 };
  const llm = { kind: 'llm', model: 'smollm2-135m-instruct' };

  it('defaults to the built-in policy on the TypeScript gpu queue', () => {
    const config = parseRunConfig(deepsearch);
    expect(config.agent.policy).toEqual({ kind: 'builtin' });
    expect(config.taskQueues.gpu).toBe('ratchet-gpu');
  });

  it('examples/deepsearch-llm.json is a valid llm run', () => {
    const config = parseRunConfig(JSON.parse(readFileSync(join(__dirname, '../../../examples/deepsearch-llm.json'), 'utf8')));
    expect(config.agent.policy).toMatchObject({ kind: 'llm', model: 'smollm2-135m-instruct', shots: 2 });
    expect(config.taskQueues.gpu).toBe('ratchet-torch');
  });

  it('an llm policy gets LoRA on every linear layer and the Python worker queue unless told otherwise', () => {
    const config = parseRunConfig({ ...deepsearch, agent: { policy: llm } });
    expect(config.agent.policy).toEqual({
      ...llm,
      shots: 0,
      lora: { rank: 16, alpha: 32, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      rollout: { engine: 'onnx' },
      keepExports: 2,
    });
    expect(config.taskQueues.gpu).toBe('ratchet-torch');
    expect(parseRunConfig({ ...deepsearch, agent: { policy: llm }, taskQueues: { gpu: 'my-a100s' } }).taskQueues.gpu).toBe('my-a100s');
    expect(parseRunConfig({ ...deepsearch, agent: { policy: { ...llm, lora: null } } }).agent.policy).toMatchObject({ lora: null });
  });

  it('agent.policy.sft: absent by default (the few-shot base); {} fills the format-SFT defaults', () => {
    expect(parseRunConfig({ ...deepsearch, agent: { policy: llm } }).agent.policy).not.toHaveProperty('sft');
    expect(parseRunConfig({ ...deepsearch, agent: { policy: { ...llm, sft: {} } } }).agent.policy).toMatchObject({
      sft: { steps: 30, batchSize: 4, learningRate: 5e-4, demosPerTask: 1, demoNoise: 0, tasks: 0 },
    });
  });

  it('agent.policy.rollout: the openai engine fills its defaults', () => {
    const servers = [{ baseUrl: 'http://localhost:8000/v1' }];
    expect(parseRunConfig({ ...deepsearch, agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'ratchet', servers } } } }).agent.policy).toMatchObject({
      rollout: { engine: 'openai', protocol: 'ratchet', servers, concurrency: 16, timeoutMs: 300_000, maxRetries: 5, keepVersions: 2 },
    });
    const vllm = { engine: 'openai', protocol: 'vllm', servers, adapterPath: '/shared/{run}/v{version}' };
    expect(parseRunConfig({ ...deepsearch, agent: { policy: { ...llm, rollout: vllm } } }).agent.policy).toMatchObject({ rollout: vllm });
  });

  it('agent.policy.rollout: the gateway engine fills its defaults', () => {
    expect(parseRunConfig({ ...deepsearch, agent: { policy: { ...llm, rollout: { engine: 'gateway', url: 'http://127.0.0.1:8100/v1' } } } }).agent.policy).toMatchObject({
      rollout: { engine: 'gateway', url: 'http://127.0.0.1:8100/v1', reward: 'verifier', idleTimeoutMs: 600_000 },
    });
  });

  const servers = [{ baseUrl: 'http://localhost:8000/v1' }];
  it.each([
    [{ agent: { policy: { ...llm, rollout: { engine: 'vllm' } } } }, 'agent.policy.rollout.engine', /onnx|openai/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'tgi', servers } } } }, 'agent.policy.rollout.protocol', /.+/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'ratchet', servers: [] } } } }, 'agent.policy.rollout.servers', /.+/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'ratchet', servers: [{ baseUrl: 'ftp://x/v1' }] } } } }, 'agent.policy.rollout.servers.0.baseUrl', /http/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'ratchet', servers: [{ baseUrl: 'http://x/v1', apiKeyEnv: 'sk-123' }] } } } }, 'agent.policy.rollout.servers.0.apiKeyEnv', /environment variable/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'vllm', servers } } } }, 'agent.policy.rollout.adapterPath', /needs adapterPath/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'openai', protocol: 'vllm', servers, adapterPath: '/a/{run}' } } } }, 'agent.policy.rollout.adapterPath', /\{version\}/],
    [{ agent: { policy: { ...llm, lora: null, rollout: { engine: 'openai', protocol: 'vllm', servers, adapterPath: '/a/{version}' } } } }, 'agent.policy.rollout.protocol', /LoRA/],
    [{ agent: { policy: { ...llm, rollout: { engine: 'gateway', url: 'http://x/v1', reward: 'judge' } } } }, 'agent.policy.rollout.reward', /verifier|agent/],
    [
      { env: 'apps', tasks: { source: 'synthetic', seed: 9, pool: 40 }, agent: { policy: { ...llm, rollout: { engine: 'gateway', url: 'http://x/v1' } } } },
      'tasks.source',
      /agent builds from their ids/,
    ],
    [{ agent: { policy: { ...llm, sft: { steps: 0 } } } }, 'agent.policy.sft.steps', /.+/],
    [{ agent: { policy: { ...llm, sft: { demoNoise: 2 } } } }, 'agent.policy.sft.demoNoise', /.+/],
    [{ agent: { policy: { ...llm, sft: { epochs: 3 } } } }, 'agent.policy.sft', /epochs/],
    [{ env: 'bandit', agent: { policy: llm } }, 'agent.policy.kind', /bandit has no text agent/],
    [{ agent: { policy: { kind: 'gpt' } } }, 'agent.policy.kind', /builtin|llm/],
    [{ agent: { policy: { kind: 'llm' } } }, 'agent.policy.model', /string/],
    [{ agent: { policy: { ...llm, lora: { rank: 0 } } } }, 'agent.policy.lora.rank', /.+/],
    [{ agent: { policy: { ...llm, shots: 9 } } }, 'agent.policy.shots', /.+/],
    [{ agent: { policy: llm, base: { checkpoint: { key: 'k', sha256: 'a'.repeat(64) } } } }, 'agent.base.checkpoint', /llm starts from agent.policy.model/],
  ])('refuses %j at %s', (overrides, field, message) => {
    const err = (() => {
      try {
        parseRunConfig({ ...deepsearch, ...overrides });
      } catch (e) {
        return e;
      }
    })() as InvalidRunConfigError;
    expect(err).toBeInstanceOf(InvalidRunConfigError);
    expect(err.issues.map((i) => i.field)).toContain(field);
    expect(err.issues.find((i) => i.field === field)!.message).toMatch(message);
  });
});

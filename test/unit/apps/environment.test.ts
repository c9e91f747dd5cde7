import { APPS, allApis, createAppsEnvironment, randomAgent, sgc, tgc, CONTEXT_TURNS, TEMPLATES } from '../../../envs/apps';
import { parseCall } from '../../../envs/apps/protocol';
import { runEpisode, type Episode } from '../../../envs/types';

const env = createAppsEnvironment();

function expertRun(taskId: string, noise: number, seed = 0): Episode {
  return runEpisode(env.createEpisode(taskId, seed), env.expert(taskId, { noise, seed }));
}

describe('apps environment: structure', () => {
  it('has at least 6 apps with login, supervisor, api_docs and 50+ APIs', () => {
    const names = APPS.map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(['supervisor', 'api_docs']));
    const withLogin = APPS.filter((a) => a.apis.some((s) => s.name === 'login'));
    expect(withLogin.length).toBeGreaterThanOrEqual(6);
    expect(allApis().length).toBeGreaterThanOrEqual(50);
  });

  it('has the fixed splits with stable ids, levels and 3 variants per scenario', () => {
    expect(env.splits()).toEqual(['train', 'dev', 'test_normal', 'test_challenge']);
    const train = env.tasks('train');
    expect(train).toHaveLength(72);
    expect(train.filter((t) => t.level === 1)).toHaveLength(36);
    expect(train.filter((t) => t.level === 2)).toHaveLength(36);
    expect(env.tasks('dev')).toHaveLength(60);
    expect(env.tasks('test_normal')).toHaveLength(168);
    const challenge = env.tasks('test_challenge');
    expect(challenge).toHaveLength(99);
    const trainTemplates = new Set(train.map((t) => t.template));
    expect(env.tasks('test_normal').every((t) => trainTemplates.has(t.template))).toBe(true);
    expect(challenge.every((t) => t.level === 3 || !trainTemplates.has(t.template))).toBe(true);
    expect(TEMPLATES.length).toBeGreaterThanOrEqual(12);
    expect(new Set(TEMPLATES.map((t) => t.level))).toEqual(new Set([1, 2, 3]));
    for (const split of env.splits()) {
      const byScenario = new Map<string, number>();
      for (const t of env.tasks(split)) byScenario.set(t.scenario, (byScenario.get(t.scenario) ?? 0) + 1);
      expect([...byScenario.values()].every((n) => n === 3)).toBe(true);
    }
    expect(train[7].id).toBe('apps/train/0007');
    expect(env.task('apps/train/0007')).toEqual(train[7]);
  });

  it('refuses unknown splits, task ids and turn limits with clear errors', () => {
    expect(() => env.tasks('nope')).toThrow(/unknown apps split/);
    expect(() => env.task('apps/train/9999')).toThrow(/unknown apps task id/);
    expect(() => env.createEpisode('apps/train/0000', 0, { maxTurns: 0 })).toThrow(/maxTurns/);
    expect(() => env.expert('apps/train/0000', { noise: 2, seed: 0 })).toThrow(/noise/);
  });
});

describe('apps environment: expert and baselines', () => {
  it.each(['train', 'dev', 'test_normal', 'test_challenge'])('the expert reaches TGC 100%% on %s', (split) => {
    const results = env.tasks(split).map((t) => ({ scenario: t.scenario, success: expertRun(t.id, 0).score().success }));
    expect(tgc(results)).toBe(1);
    expect(sgc(results)).toBe(1);
  });

  it('the noisy expert is clearly imperfect but mostly right, and makes recoverable errors', () => {
    const tasks = env.tasks('train');
    const runs = tasks.map((t) => expertRun(t.id, 0.4, 5));
    const rate = tgc(runs.map((e) => e.score()));
    expect(rate).toBeLessThan(0.95);
    expect(rate).toBeGreaterThan(0.5);
    const errorsInSuccesses = runs.filter((e) => e.score().success).flatMap((e) => e.turns).filter((t) => t.error).length;
    expect(errorsInSuccesses).toBeGreaterThan(0);
  });

  it('with habit 1 stops one step short on every task of more than one step, and changes no other task', () => {
    let [questions, severalSteps] = [0, 0];
    for (const t of env.tasks('train')) {
      const clean = expertRun(t.id, 0).turns.map((u) => u.action);
      const habitual = runEpisode(env.createEpisode(t.id, 0), env.expert(t.id, { noise: 0, habit: 1, seed: 0 }));
      const actions = habitual.turns.map((u) => u.action);
      // the task's own calls: no doc look-ups, passwords, logins or completion
      const work = clean.filter((a) => !/^(api_docs\.|supervisor\.|\w+\.login\()/.test(a));
      const question = /answer=/.test(clean.at(-1)!);
      if (!question && work.length < 2) {
        expect(actions).toEqual(clean);
        continue;
      }
      if (question) {
        questions++;
        // everything up to the answer, then completed without it
        expect(actions.slice(0, -1)).toEqual(clean.slice(0, -1));
      } else {
        severalSteps++;
        // every move but the last change (the clean run's move before complete_task)
        expect(actions.slice(0, -1)).toEqual(clean.slice(0, -2));
      }
      expect(actions.at(-1)).toMatch(/^supervisor\.complete_task\(\)/);
      expect(habitual.score().success).toBe(false);
    }
    expect(questions).toBeGreaterThan(10);
    expect(severalSteps).toBeGreaterThan(15);
    expect(() => env.expert('apps/train/0000', { noise: 0, habit: -0.1, seed: 0 })).toThrow(/habit must be in \[0, 1\]/);
  });

  it('a random-action policy stays under 2% TGC', () => {
    const tasks = ['train', 'dev', 'test_normal', 'test_challenge'].flatMap((s) => env.tasks(s));
    const results = tasks.map((t, i) => runEpisode(env.createEpisode(t.id, i), randomAgent(1000 + i)).score());
    expect(tgc(results)).toBeLessThan(0.02);
  });

  it('keeps every expert context under 1,500 characters', () => {
    for (const split of env.splits()) {
      for (const t of env.tasks(split)) {
        const ep = env.createEpisode(t.id, 0);
        const expert = env.expert(t.id, { noise: 0, seed: 0 });
        while (!ep.done) {
          const context = ep.context();
          expect(context.length).toBeLessThan(1500);
          expect(context.startsWith(ep.initialObservation)).toBe(true);
          ep.step(expert.act(ep));
        }
      }
    }
    expect(CONTEXT_TURNS).toBe(5);
  });

  it('ends at the turn limit and answers after the end with an error, never throwing', () => {
    const ep = env.createEpisode('apps/dev/0000', 0, { maxTurns: 2 });
    ep.step('supervisor.show_profile()');
    const last = ep.step('supervisor.show_profile()');
    expect(last.done).toBe(true);
    expect(ep.finishReason).toBe('max_turns');
    expect(ep.step('supervisor.show_profile()')).toMatchObject({ done: true, error: true });
    expect(ep.score().success).toBe(false);
  });
});

describe('apps environment: learnable from what the model sees', () => {
  it('every value the expert types is in the context it conditions on', () => {
    for (const split of env.splits()) {
      for (const t of env.tasks(split)) {
        const ep = env.createEpisode(t.id, 0);
        const expert = env.expert(t.id, { noise: 0, seed: 0 });
        while (!ep.done) {
          const context = ep.context();
          const action = expert.act(ep);
          const call = parseCall(action);
          for (const [name, value] of Object.entries(call.args)) {
            // App and API names are vocabulary the model learns, not facts it must read off the context.
            if (call.app === 'api_docs' || name === 'page' || typeof value === 'boolean') continue;
            if (typeof value === 'number') {
              expect({ action, seen: context.includes(name.endsWith('_id') ? `id=${value}` : String(value)) })
                .toEqual({ action, seen: true });
              continue;
            }
            // Composite strings ("Prepare Dentist", "~/recycle_bin/") must be made of words in view.
            for (const word of String(value).split(' ')) {
              expect({ action, word, seen: context.includes(word.replace(/\/$/, '')) }).toEqual({ action, word, seen: true });
            }
          }
          ep.step(action);
        }
      }
    }
  });
});

describe('apps metrics', () => {
  it('computes TGC per task and SGC per scenario', () => {
    const r = [
      { scenario: 'a', success: true }, { scenario: 'a', success: true }, { scenario: 'a', success: false },
      { scenario: 'b', success: true }, { scenario: 'b', success: true }, { scenario: 'b', success: true },
    ];
    expect(tgc(r)).toBeCloseTo(5 / 6);
    expect(sgc(r)).toBe(0.5);
    expect(tgc([])).toBe(0);
  });
});

import { createAppsEnvironment, sgc, tgc, SkillLibrary, type AppsEpisode } from '../../../envs/apps';
import { parseCall } from '../../../envs/apps/protocol';
import { MAX_SKILLS } from '../../../envs/apps/skills';
import { runEpisode } from '../../../envs/types';
import { sageRewards } from '../../../rl';

const env = createAppsEnvironment();
const train = env.tasks('train');
const [first, second, third] = train.filter((t) => t.template === 'delete_done_todos');
const other = train.find((t) => t.scenario !== first.scenario)!;
const DEF = 'def done_todos(project): todo.list_tasks(project=project, done=true)';

/** An episode of a chain: the library the previous task returned, or a fresh one. */
function chainEpisode(taskId: string, skills?: SkillLibrary): AppsEpisode {
  return env.createEpisode(taskId, 0, skills ? { skills } : undefined);
}

function logIn(ep: AppsEpisode, app: string): void {
  ep.step('supervisor.show_account_passwords()');
  ep.step(`${app}.login(username="${ep.world.supervisor.email}", password="${ep.world.passwords[app]}")`);
}

/** Chains of every scenario of a split, in task order, run by the expert. */
function expertChains(split: string, opts: { noise: number; skills: boolean }): AppsEpisode[][] {
  const byScenario = new Map<string, string[]>();
  for (const t of env.tasks(split)) byScenario.set(t.scenario, [...(byScenario.get(t.scenario) ?? []), t.id]);
  return [...byScenario].map(([scenario, ids]) => {
    let library = SkillLibrary.empty(scenario);
    return ids.map((id, i) => {
      const ep = chainEpisode(id, library);
      runEpisode(ep, env.expert(id, { ...opts, seed: i }));
      library = ep.skills;
      return ep;
    });
  });
}

describe('apps skills: the library of a chain', () => {
  it('carries skills from one task of a scenario to the next, and credits their use', () => {
    expect(first.scenario).toBe(second.scenario);
    const one = chainEpisode(first.id);
    expect(one.skills).toMatchObject({ scope: first.scenario, position: 0, size: 0 });
    expect(one.step(DEF).error).toBe(false);
    const two = chainEpisode(second.id, one.skills);
    expect(two.skills.position).toBe(1);
    expect(two.context()).toMatch(/^skills: done_todos\(project\)$/m);
    logIn(two, 'todo');
    expect(two.step('skills.done_todos(project="work")').observation).toMatch(/^ok skill done_todos: 1 API call\ntotal=/);
    expect(two.skillUse).toEqual({ written: [], calls: [{ name: 'done_todos', ok: true, origin: 0 }] });
    expect(two.score().metrics).toMatchObject({ skills_written: 0, skill_calls: 1, skill_calls_ok: 1, library_skill_calls_ok: 1 });
    const three = chainEpisode(third.id, two.skills);
    expect(three.skills.get('done_todos')).toMatchObject({ origin: 0 });
  });

  it('never shares skills between chains, between rollouts from one library, or with episodes given none', () => {
    const start = chainEpisode(first.id);
    start.step(DEF);
    // Two rollouts of the next task from the same library: each works on its own copy.
    const a = chainEpisode(second.id, start.skills);
    const b = chainEpisode(second.id, start.skills);
    a.step('def only_a(): todo.list_tasks()');
    expect(a.skills.list().map((s) => s.name)).toEqual(['done_todos', 'only_a']);
    expect(b.skills.list().map((s) => s.name)).toEqual(['done_todos']);
    expect(start.skills.list().map((s) => s.name)).toEqual(['done_todos']);
    // Another chain of the same scenario starts from its own empty library.
    const otherChain = chainEpisode(first.id, SkillLibrary.empty(first.scenario));
    expect(otherChain.skills.size).toBe(0);
    expect(otherChain.step('skills.done_todos(project="work")').observation).toMatch(/^error: 404 unknown skill done_todos/);
    // No library given: a fresh one, whatever other episodes wrote.
    expect(chainEpisode(second.id).skills.size).toBe(0);
  });

  it('refuses a library from another scenario where the episode is created', () => {
    const one = chainEpisode(first.id);
    one.step(DEF);
    expect(() => chainEpisode(other.id, one.skills))
      .toThrow(`this skill library belongs to the chain of scenario ${first.scenario}; a task of scenario ${other.scenario} cannot use it`);
  });

  it('round-trips through JSON (how it would travel between activities), refusing malformed JSON', () => {
    const one = chainEpisode(first.id);
    one.step(DEF);
    const json = JSON.parse(JSON.stringify(one.skills.toJSON()));
    expect(json).toEqual({ scope: first.scenario, episodes: 1, skills: [{ source: DEF, origin: 0 }] });
    const two = chainEpisode(second.id, SkillLibrary.fromJSON(json));
    expect(two.skills.get('done_todos')).toMatchObject({ origin: 0, params: ['project'], source: DEF });
    expect(() => SkillLibrary.fromJSON({ ...json, episodes: -1 })).toThrow(/episodes/);
    expect(() => SkillLibrary.fromJSON({ ...json, skills: [{ source: DEF, origin: 1 }] })).toThrow(/origin 1/);
    expect(() => SkillLibrary.fromJSON({ ...json, skills: [{ source: 'def broken(', origin: 0 }] })).toThrow(/expected/);
    expect(() => SkillLibrary.empty('')).toThrow(/scope/);
  });

  it(`holds at most ${MAX_SKILLS} skills; redefining one still works when full`, () => {
    const ep = chainEpisode(first.id);
    for (let i = 0; i < MAX_SKILLS; i++) expect(ep.step(`def s${i}(): todo.list_tasks()`).error).toBe(false);
    expect(ep.step('def one_more(): todo.list_tasks()').observation).toBe(`error: 409 the skill library is full (${MAX_SKILLS} skills); redefine one instead`);
    expect(ep.step('def s0(): todo.list_tasks(done=true)').observation).toBe('ok skill replaced: s0()');
  });
});

describe('apps skills: the expert writes and uses skills', () => {
  it.each(['train', 'dev', 'test_normal', 'test_challenge'])('solves every %s task in skill mode, in chains, in fewer turns', (split) => {
    const chains = expertChains(split, { noise: 0, skills: true });
    const episodes = chains.flat();
    const results = episodes.map((ep) => ({ scenario: ep.task.scenario, success: ep.score().success }));
    expect(tgc(results)).toBe(1);
    expect(sgc(results)).toBe(1);
    const plainTurns = episodes.reduce((n, ep) => n + runEpisode(env.createEpisode(ep.task.id, 0), env.expert(ep.task.id, { noise: 0, seed: 0 })).turns.length, 0);
    expect(episodes.reduce((n, ep) => n + ep.turns.length, 0)).toBeLessThan(plainTurns);
    let chainsWithSkills = 0;
    for (const chain of chains) {
      const [head, ...rest] = chain;
      if (head.skillUse.written.length === 0) {
        // A template without a recipe is solved call by call all along the chain.
        expect(chain.every((ep) => ep.skillUse.calls.length === 0 && ep.skillUse.written.length === 0)).toBe(true);
        expect(sageRewards(chain.map((ep) => ({ ...ep.score(), skillCalls: ep.skillUse.calls }))).map((r) => r.total)).toEqual([1, 1, 1]);
        continue;
      }
      chainsWithSkills++;
      expect(head.skillUse).toEqual({ written: [head.task.template], calls: [{ name: head.task.template, ok: true, origin: 0 }] });
      for (const ep of rest) {
        expect(ep.skillUse).toEqual({ written: [], calls: [{ name: head.task.template, ok: true, origin: 0 }] });
        expect(ep.turns.some((t) => t.action.startsWith('api_docs.'))).toBe(false);
      }
      // Task 1 wrote it and task 2 used it (both pass); tasks 2 and 3 used a library skill.
      expect(sageRewards(chain.map((ep) => ({ ...ep.score(), skillCalls: ep.skillUse.calls }))).map((r) => r.total)).toEqual([2, 2, 2]);
    }
    expect(chainsWithSkills).toBeGreaterThan(0);
  });

  it('types only values it can read: every skill argument is in the context it acts from', () => {
    for (const split of ['train', 'test_challenge']) {
      const byScenario = new Map<string, string[]>();
      for (const t of env.tasks(split)) byScenario.set(t.scenario, [...(byScenario.get(t.scenario) ?? []), t.id]);
      for (const [scenario, ids] of byScenario) {
        let library = SkillLibrary.empty(scenario);
        for (const id of ids) {
          const ep = chainEpisode(id, library);
          const expert = env.expert(id, { noise: 0, seed: 0, skills: true });
          while (!ep.done) {
            const context = ep.context();
            const action = expert.act(ep);
            if (action.startsWith('skills.')) {
              for (const value of Object.values(parseCall(action).args)) {
                expect({ action, seen: context.includes(String(value)) }).toEqual({ action, seen: true });
              }
            }
            ep.step(action);
          }
          library = ep.skills;
        }
      }
    }
  });

  it('with noise, still mostly succeeds, and its misspelled skill calls are recorded as failed calls', () => {
    const episodes = expertChains('train', { noise: 0.3, skills: true }).flat();
    const rate = tgc(episodes.map((ep) => ep.score()));
    expect(rate).toBeGreaterThan(0.5);
    expect(rate).toBeLessThan(1);
    const failed = episodes.flatMap((ep) => ep.skillUse.calls.filter((c) => !c.ok));
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((c) => c.origin === undefined && c.name.endsWith('s'))).toBe(true);
  });

  it('leaves the expert without the skill option exactly as it was: no skill actions', () => {
    for (const ep of expertChains('train', { noise: 0, skills: false }).flat()) {
      expect(ep.turns.some((t) => /^(def |skills\.)/.test(t.action))).toBe(false);
      expect(ep.score().metrics).toMatchObject({ skills_written: 0, skill_calls: 0 });
    }
  });
});

import fc from 'fast-check';
import { createAppsEnvironment, type AppsEpisode } from '../../../envs/apps';
import { parseSkill } from '../../../envs/apps/skills-parser';
import { MAX_SKILL_API_CALLS } from '../../../envs/apps/skills-runtime';
import { rows } from '../../../envs/apps/world';

const env = createAppsEnvironment();
const textRelation = env.tasks('train').find((t) => t.template === 'text_relation')!;

/** An episode of `taskId` logged in to `apps`. */
function loggedIn(taskId: string, apps: string[] = ['phone']): AppsEpisode {
  const ep = env.createEpisode(taskId, 0);
  ep.step('supervisor.show_account_passwords()');
  for (const app of apps) {
    const r = ep.step(`${app}.login(username="${ep.world.supervisor.email}", password="${ep.world.passwords[app]}")`);
    expect(r.error).toBe(false);
  }
  return ep;
}

const TEXT_RELATION = 'def text_relation(relation, text): for c in phone.search_contacts(relation=relation) '
  + '{ phone.send_message(contact_id=c.id, text=text) }';

describe('apps skills: define, list, show, call', () => {
  it('a skill defined in one action solves a task in one more, as one turn each', () => {
    const ep = loggedIn(textRelation.id);
    const defined = ep.step(TEXT_RELATION);
    expect(defined).toEqual({ observation: 'ok skill defined: text_relation(relation, text)', done: false, error: false });
    const [, text, relation] = /"(.*)" to every contact who is my (\w+)/.exec(textRelation.instruction)!;
    const people = rows(ep.world, 'contacts').filter((c) => c.relation === relation).length;
    const turnsBefore = ep.turns.length;
    const called = ep.step(`skills.text_relation(relation="${relation}", text="${text}")`);
    expect(called.error).toBe(false);
    expect(called.observation.split('\n')[0]).toBe(`ok skill text_relation: ${1 + people} API call${people === 0 ? '' : 's'}`);
    expect(ep.turns.length).toBe(turnsBefore + 1);
    ep.step('supervisor.complete_task()');
    expect(ep.score()).toMatchObject({ success: true, metrics: { skills_written: 1, skill_calls: 1, skill_calls_ok: 1, library_skill_calls_ok: 0 } });
    expect(ep.skillUse).toEqual({ written: ['text_relation'], calls: [{ name: 'text_relation', ok: true, origin: 0 }] });
  });

  it('lists and shows skills, and the context names them once there are any', () => {
    const ep = loggedIn(textRelation.id);
    expect(ep.step('skills.list()').observation).toMatch(/^no skills yet/);
    expect(ep.context()).not.toMatch(/^skills:/m);
    ep.step(TEXT_RELATION);
    ep.step('def contacts(): phone.search_contacts()');
    expect(ep.step('skills.list()').observation).toBe('contacts()\ntext_relation(relation, text)');
    expect(ep.step('skills.show(name="text_relation")').observation).toBe(TEXT_RELATION);
    expect(ep.context()).toMatch(/^skills: contacts\(\) text_relation\(relation, text\)$/m);
    expect(ep.step('def contacts(query): phone.search_contacts(query=query)').observation).toBe('ok skill replaced: contacts(query)');
  });

  it('walks every page of a list, runs nested calls, and shows the last response', () => {
    const ep = loggedIn(textRelation.id);
    const contacts = rows(ep.world, 'contacts');
    expect(contacts.length).toBeGreaterThan(5); // two pages
    ep.step('def every_contact(): for c in phone.search_contacts() { phone.show_contact(contact_id=c.id) }');
    const r = ep.step('skills.every_contact()');
    const last = contacts[contacts.length - 1];
    expect(r.observation.split('\n')).toEqual([`ok skill every_contact: ${2 + contacts.length} API calls`, expect.stringContaining(`id=${last.id} name="${last.name}"`)]);
  });

  it('conditions on fields: == on text, > on numbers, in / not in on lists and text', () => {
    const ep = loggedIn(textRelation.id, ['phone', 'music']);
    const contact = rows(ep.world, 'contacts')[2];
    ep.step(`def one(name): for c in phone.search_contacts() { if c.name == name { phone.show_contact(contact_id=c.id) } }`);
    expect(ep.step(`skills.one(name="${contact.name}")`).observation.split('\n')[0]).toBe('ok skill one: 3 API calls');
    ep.step('def above(n): for c in phone.search_contacts() { if c.id > n { phone.show_contact(contact_id=c.id) } }');
    const count = rows(ep.world, 'contacts').length;
    expect(ep.step('skills.above(n=3)').observation.split('\n')[0]).toBe(`ok skill above: ${2 + count - 3} API calls`);
    const playlist = rows(ep.world, 'playlists')[0];
    const listed = (playlist.song_ids as number[]).length;
    ep.step('def in_first(pid): for p in music.list_playlists() { if p.id == pid { for s in music.search_songs() '
      + '{ if s.id in p.song_ids { music.show_playlist(playlist_id=p.id) } } } }');
    const songPages = Math.ceil(rows(ep.world, 'songs').length / 5);
    const playlistPages = Math.ceil(rows(ep.world, 'playlists').length / 5);
    expect(ep.step(`skills.in_first(pid=${playlist.id})`).observation.split('\n')[0])
      .toBe(`ok skill in_first: ${playlistPages + songPages + listed} API calls`);
    ep.step('def named(part): for c in phone.search_contacts() { if part not in c.name { phone.show_contact(contact_id=c.id) } }');
    const withoutA = rows(ep.world, 'contacts').filter((c) => !String(c.name).includes('a')).length;
    expect(ep.step('skills.named(part="a")').observation.split('\n')[0]).toBe(`ok skill named: ${2 + withoutA} API call${2 + withoutA === 1 ? '' : 's'}`);
  });

  it('skills call skills', () => {
    const ep = loggedIn(textRelation.id);
    expect(ep.step('def show_two(a, b): skills.show(id=a); skills.show(id=b)').observation).toMatch(/^error: 422 .*skills\.show/);
    ep.step('def one(id): phone.show_contact(contact_id=id)');
    ep.step('def two(a, b): skills.one(id=a); skills.one(id=b)');
    expect(ep.step('skills.two(a=1, b=2)').observation).toMatch(/^ok skill two: 2 API calls\nid=2 /);
  });
});

describe('apps skills: a broken skill is an error observation', () => {
  const cases: [string, RegExp][] = [
    ['def (x): phone.search_contacts()', /^error: 400 expected skill name/],
    ['def f(x) phone.search_contacts()', /^error: 400 expected ":"/],
    ['def f(): phone.search_contacts(', /^error: 400 /],
    ['def f(): phone.nope()', /^error: 404 unknown API phone\.nope/],
    ['def f(): nope.search()', /^error: 404 unknown API nope\.search/],
    ['def f(): phone.search_contacts(color="red")', /^error: 422 unknown argument color for phone\.search_contacts/],
    ['def f(): phone.search_contacts(query=q)', /^error: 422 unknown variable q/],
    ['def f(x, x): phone.search_contacts()', /^error: 422 duplicate parameter x/],
    ['def f(q): phone.search_contacts(query=q.name)', /^error: 422 parameter q is a value/],
    ['def f(): for c in phone.search_contacts() { phone.show_contact(contact_id=c) }', /^error: 422 loop variable c is a row/],
    ['def f(): supervisor.complete_task()', /^error: 422 a skill cannot complete the task/],
    ['def list(): phone.search_contacts()', /^error: 422 list is reserved/],
    ['def f(): skills.f()', /^error: 508 skill f calls itself/],
    ['def f(): skills.g()', /^error: 404 unknown skill g; define it first/],
    ['def f(): for c in skills.g() { phone.search_contacts() }', /^error: 422 a for loop runs over an API/],
    ['def f(): if 1 ~ 2 { phone.search_contacts() }', /^error: 400 unexpected character "~"/],
    [`def f(): phone.search_contacts(query="${'x'.repeat(1000)}")`, /^error: 400 skill longer than 1000/],
    ['skills.nope()', /^error: 404 unknown skill nope/],
    ['skills.show()', /^error: 422 missing argument name for skills\.show/],
    ['skills.list(x=1)', /^error: 422 unknown argument x for skills\.list/],
    ['skills.define(name="x")', /^error: 400 write a skill as one line/],
    ['skills.list(', /^error: 400 /],
  ];
  const labelled = cases.map(([action, expected]) => [action.length > 80 ? `${action.slice(0, 60)}...` : action, action, expected] as const);
  it.each(labelled)('%s', (_label, action, expected) => {
    const ep = loggedIn(textRelation.id);
    const r = ep.step(action);
    expect(r.error).toBe(true);
    expect(r.observation).toMatch(expected);
    expect(ep.done).toBe(false);
  });

  it('run-time failures name the skill and the call: bad argument, API error, missing field, non-list, not logged in', () => {
    const ep = loggedIn(textRelation.id);
    ep.step('def contact(id): phone.show_contact(contact_id=id)');
    expect(ep.step('skills.contact(id="three")').observation).toBe('error: 422 in skill contact, phone.show_contact: argument contact_id must be an integer');
    expect(ep.step('skills.contact(id=999)').observation).toBe('error: 404 in skill contact, phone.show_contact: contact 999 not found');
    expect(ep.step('skills.contact()').observation).toBe('error: 422 missing argument id for skills.contact');
    expect(ep.step('skills.contact(id=1, extra=2)').observation).toBe('error: 422 unknown argument extra for skills.contact');
    ep.step('def f(): for c in phone.search_contacts() { phone.show_contact(contact_id=c.age) }');
    expect(ep.step('skills.f()').observation).toMatch(/^error: 422 in skill f: row c has no field age \(it has id, name/);
    ep.step('def g(): for c in phone.show_contact(contact_id=1) { phone.show_contact(contact_id=c.id) }');
    expect(ep.step('skills.g()').observation).toBe('error: 422 in skill g: for needs a list result and phone.show_contact returned none');
    ep.step('def h(): for c in phone.search_contacts() { if c.name > 3 { phone.show_contact(contact_id=c.id) } }');
    expect(ep.step('skills.h()').observation).toMatch(/^error: 422 in skill h: > compares numbers/);
    ep.step('def n(): todo.list_tasks()');
    expect(ep.step('skills.n()').observation).toBe('error: 401 in skill n, todo.list_tasks: log in to todo before calling this skill');
    expect(ep.skillUse.calls.map((c) => c.ok)).toEqual([false, false, false, false, false, false, false, false]);
    expect(ep.score().metrics).toMatchObject({ skill_calls: 8, skill_calls_ok: 0 });
  });

  it(`stops a skill past ${MAX_SKILL_API_CALLS} API calls, keeping what it changed (like any sequence of calls)`, () => {
    const ep = loggedIn(textRelation.id);
    const contacts = rows(ep.world, 'contacts').length;
    const messages = rows(ep.world, 'messages').length;
    ep.step('def spam(): for c in phone.search_contacts() { phone.send_message(contact_id=c.id, text="hi"); '
      + 'phone.send_message(contact_id=c.id, text="hi"); phone.send_message(contact_id=c.id, text="hi") }');
    expect(2 + 3 * contacts).toBeGreaterThan(MAX_SKILL_API_CALLS);
    const r = ep.step('skills.spam()');
    expect(r.observation).toBe(`error: 429 in skill spam, phone.send_message: more than ${MAX_SKILL_API_CALLS} API calls in one skill action`);
    expect(rows(ep.world, 'messages').length).toBe(messages + MAX_SKILL_API_CALLS - 2);
  });

  it('catches recursion made by redefinition (a -> b -> a) when it runs', () => {
    const ep = loggedIn(textRelation.id);
    ep.step('def a(): phone.search_contacts()');
    ep.step('def b(): skills.a()');
    expect(ep.step('def a(): skills.b()').observation).toBe('ok skill replaced: a()');
    expect(ep.step('skills.a()').observation).toBe('error: 508 recursion: a -> b -> a');
    expect(ep.done).toBe(false);
  });

  it('never throws on 3,000 random skill actions', () => {
    const pieces = ['def ', 'skills.', 'f', '(', ')', ':', ' ', 'for ', 'c ', 'in ', 'if ', '{', '}', ';', '=', '==', '.', ',', '"x"', '3',
      'phone.search_contacts', 'phone.show_contact', 'contact_id', 'c.id', 'text_relation', 'relation', 'not ', 'true', '\\'];
    const actions = fc.sample(fc.tuple(fc.constantFrom('def ', 'skills.'), fc.array(fc.constantFrom(...pieces), { maxLength: 30 }))
      .map(([head, rest]) => head + rest.join('')), { seed: 7, numRuns: 3000 });
    let ep = loggedIn(textRelation.id);
    for (const [i, action] of actions.entries()) {
      if (i % 25 === 0) {
        ep = loggedIn(textRelation.id);
        ep.step(TEXT_RELATION);
      }
      const r = ep.step(action);
      expect(r.error ? r.observation : 'ok').toMatch(/^(ok|error: \d{3} )/);
      expect(ep.done).toBe(false);
    }
  });

  it('parses a skill back from its source alone (what the library stores)', () => {
    const skill = parseSkill(TEXT_RELATION);
    expect(skill).toMatchObject({ name: 'text_relation', params: ['relation', 'text'], source: TEXT_RELATION });
    expect(skill.body).toEqual([{
      kind: 'for', variable: 'c', source: { kind: 'call', app: 'phone', api: 'search_contacts', args: [['relation', { kind: 'var', name: 'relation' }]] },
      body: [{ kind: 'call', app: 'phone', api: 'send_message', args: [['contact_id', { kind: 'var', name: 'c', field: 'id' }], ['text', { kind: 'var', name: 'text' }]] }],
    }]);
  });
});

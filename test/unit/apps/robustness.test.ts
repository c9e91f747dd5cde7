import fc from 'fast-check';
import { Rng } from '../../../common/random';
import { createAppsEnvironment } from '../../../envs/apps';
import { randomCall, randomText } from '../../../envs/apps/random-agent';
import type { Episode } from '../../../envs/types';

const env = createAppsEnvironment();
const taskIds = env.tasks('dev').map((t) => t.id);

/** Steps actions through episodes, opening a new one whenever one ends. */
function stepper() {
  let k = 0;
  let ep: Episode = env.createEpisode(taskIds[0], 0);
  return (action: string) => {
    if (ep.done) ep = env.createEpisode(taskIds[++k % taskIds.length], k);
    return ep.step(action);
  };
}

describe('apps robustness', () => {
  it('answers 10,000 malformed action strings with error observations, never throwing', () => {
    const step = stepper();
    const texts = fc.sample(fc.oneof(fc.string({ maxLength: 80 }), fc.fullUnicodeString({ maxLength: 40 }),
      fc.constantFrom('', '\n', '()', 'phone.', 'phone.login(', '.login()', 'a.b(c=)', 'x.y(z="1",)')), { seed: 42, numRuns: 6000 });
    const rng = new Rng(9);
    for (let i = 0; i < 4000; i++) texts.push(randomText(rng, 80));
    expect(texts).toHaveLength(10_000);
    for (const text of texts) {
      const r = step(text);
      expect(r.error).toBe(true);
      expect(r.observation).toMatch(/^error: \d{3} /);
    }
  });

  it('survives 10,000 random well-formed and mutated calls; every error names its status', () => {
    const step = stepper();
    const rng = new Rng(11);
    let errors = 0;
    for (let i = 0; i < 10_000; i++) {
      let action = randomCall(rng);
      if (rng.bool(0.3)) {
        const at = rng.int(0, action.length);
        action = action.slice(0, at) + (rng.bool() ? randomText(rng, 3) : '') + action.slice(at + rng.int(0, 3));
      }
      const r = step(action);
      expect(typeof r.observation).toBe('string');
      if (r.error) {
        errors++;
        expect(r.observation).toMatch(/^error: (400|401|402|404|409|422) /);
      }
    }
    expect(errors).toBeGreaterThan(5000);
  });

  it('names the problem in each kind of API error', () => {
    const ep = env.createEpisode(taskIds[0], 0);
    expect(ep.step('mail.send()').observation).toMatch(/404 unknown app mail/);
    expect(ep.step('phone.call()').observation).toMatch(/404 unknown API phone.call/);
    expect(ep.step('phone.search_contacts(token="zzzzzz")').observation).toMatch(/401 invalid token for phone/);
    expect(ep.step('phone.login(username="x", password="y")').observation).toMatch(/401 unknown username/);
    expect(ep.step('phone.show_contact()').observation).toMatch(/422 missing argument (token|contact_id)/);
    expect(ep.step('phone.search_contacts(token="a", color="red")').observation).toMatch(/422 unknown argument color/);
    expect(ep.step('api_docs.show_api_doc(app_name="phone", api_name=3)').observation).toMatch(/422 argument api_name must be string/);
    expect(ep.step('phone.search_contacts(token="a"').observation).toMatch(/^error: 400 /);
  });

  it('documents every API through api_docs', () => {
    const ep = env.createEpisode(taskIds[0], 0, { maxTurns: 30 });
    const apps = ep.step('api_docs.show_app_descriptions()').observation;
    expect(apps).toMatch(/^api_docs: /m);
    expect(apps).toMatch(/^phone: /m);
    const list = ep.step('api_docs.show_api_descriptions(app_name="payments")').observation;
    expect(list).toMatch(/^approve_request: /m);
    const doc = ep.step('api_docs.show_api_doc(app_name="payments", api_name="approve_request")').observation;
    expect(doc).toMatch(/^payments\.approve_request\(token, request_id:int\)/);
  });

  it('paginates long lists and reports out-of-range pages as errors', () => {
    const ep = env.createEpisode(taskIds[0], 0) as import('../../../envs/apps').AppsEpisode;
    ep.step(`phone.login(username="${ep.world.supervisor.email}", password="${ep.world.passwords.phone}")`);
    const tok = ep.sessions.get('phone');
    expect(tok).toMatch(/^[a-z0-9]{6}$/);
    const first = ep.step(`phone.search_contacts(token="${tok}")`).observation.split('\n');
    expect(first[0]).toBe('total=8 page=0 pages=2');
    expect(first).toHaveLength(6);
    expect(ep.step(`phone.search_contacts(token="${tok}", page=1)`).observation.split('\n')).toHaveLength(4);
    expect(ep.step(`phone.search_contacts(token="${tok}", page=2)`).observation).toMatch(/422 page 2 out of range/);
  });
});

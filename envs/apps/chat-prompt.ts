/**
 * The apps environment's protocol for a chat LLM (issue 27): all of its prompt text, in one place. The shared
 * rendering (system, few-shot examples, task, turns) is policy/llm/chat-episode.ts.
 */
import { solvedExample, type ChatExample, type ChatPrompt } from '../../policy/llm/chat-episode';
import type { Environment } from '../types';
import { APPS } from './apis';
import type { AppsEpisode } from './episode';
import { createAppsEnvironment } from './index';
import { LOGIN_APPS } from './world';

/** Few-shot examples come from this environment seed's train split: other worlds than the default seed's. */
export const EXAMPLE_ENV_SEED = 27;
/**
 * Example templates, in order: a question (doc look-up, passwords, login, search, answer), then a change
 * (a search feeding a write, complete without an answer). Three of each, so the asked task can be skipped.
 */
const EXAMPLE_TEMPLATES = ['contact_phone', 'text_contact'];
const EXAMPLES_PER_TEMPLATE = 3;

const needsLogin = (app: string) => (LOGIN_APPS as readonly string[]).includes(app);

const SYSTEM = [
  "You are an assistant that does tasks on your supervisor's phone by calling its apps' APIs.",
  'Reply with exactly one API call on one line and nothing else, in this form: app.api(name="text", count=3, flag=true).',
  'Arguments are keyword arguments: strings in double quotes, integers and true/false bare.',
  'The next message is the API\'s response: key=value lines, or "error: <status> <message>". Lists show 5 rows a page; pass page=1, page=2, ... for more.',
  `Apps:\n${APPS.map((app) => `- ${app.name}: ${app.description}`).join('\n')}`,
  'Check how to call an API before using it: api_docs.show_api_descriptions(app_name="...") lists an app\'s APIs, api_docs.show_api_doc(app_name="...", api_name="...") shows one.',
  `Apps other than ${APPS.map((a) => a.name).filter((name) => !needsLogin(name)).join(' and ')} need a login: supervisor.show_account_passwords() shows the passwords, ` +
    `<app>.login(username="<your email>", password="...") returns a token, and each call to that app passes token="...".`,
  'When the task is done, call supervisor.complete_task(); when it asks a question, give the answer: supervisor.complete_task(answer="...").',
].join('\n');

function buildExamples(): ChatExample[] {
  const env: Environment = createAppsEnvironment({ seed: EXAMPLE_ENV_SEED });
  const train = env.tasks('train');
  const byTemplate = EXAMPLE_TEMPLATES.map((template) => train.filter((t) => t.template === template).slice(0, EXAMPLES_PER_TEMPLATE));
  // Interleaved (question, change, question, change ...) so the first two are one of each.
  return byTemplate[0].flatMap((_, k) => byTemplate.map((tasks) => tasks[k]).filter(Boolean)).map((t) => solvedExample(env, t.id));
}

let examples: ChatExample[] | undefined;

export const appsChatPrompt: ChatPrompt = {
  system: SYSTEM,
  actionStops: createAppsEnvironment().actionStops,
  examples: () => (examples ??= buildExamples()),
};

/** The skill protocol (envs/apps/skills-runtime.ts, skills-parser.ts) for runs whose agent keeps a skill library. */
const SKILLS = [
  'Skills: a skill is a named sequence of API calls that you write once and then run as one action. The skills written in earlier tasks of the same scenario stay in your library.',
  'Write one on one line: def name(param, ...): app.api(arg=param); for c in app.api(...) { app.api(arg=c.field) }; if c.field == "text" { ... }',
  'skills.list() lists your skills, skills.show(name="...") shows one, and skills.<name>(param="...") runs one. Inside a skill, a call to an app you logged into uses your token.',
].join('\n');

/**
 * The protocol with skills, for SAGE runs and chained evaluations: the system message adds the skill actions and
 * the task message lists the library the episode received (as the built-in policy's context shows it).
 */
export const appsSkillsChatPrompt: ChatPrompt = {
  ...appsChatPrompt,
  system: `${SYSTEM}\n${SKILLS}`,
  task(episode) {
    const skills = (episode as Partial<AppsEpisode>).skillsAtStart ?? [];
    return skills.length ? `${episode.initialObservation.trimEnd()}\nskills: ${skills.join(' ')}` : episode.initialObservation;
  },
};

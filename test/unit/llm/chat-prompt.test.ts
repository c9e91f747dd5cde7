/**
 * Chat prompts (issue 27): the environments' protocols as chat messages for a pretrained chat LLM
 * (policy/llm/chat-episode.ts, envs/apps/chat-prompt.ts, envs/deepsearch/chat-prompt.ts).
 *
 * - The protocol round-trips: the expert's actions, rendered through SmolLM2's chat template, tokenized, cut
 *   back out of the token IDs as a model's replies and parsed, drive every train task (and every other task) to
 *   the reward of the plain expert.
 * - Few-shot examples are solved train episodes of another world and never contain the task being asked.
 * - The rendering is deterministic and only appends.
 * - Token lengths stay under the budgets below (figures: bench/NOTES-llm.md, "Chat prompts").
 *
 * The tokenizer parts need SmolLM2's exported tokenizer (made with the Python venv, `npm run setup:python`):
 * skipped, saying so, when neither is here.
 */
import { createAppsEnvironment } from '../../../envs/apps';
import { appsChatPrompt, appsSkillsChatPrompt, EXAMPLE_ENV_SEED } from '../../../envs/apps/chat-prompt';
import type { AppsEpisode } from '../../../envs/apps/episode';
import { createDeepSearchEnvironment } from '../../../envs/deepsearch';
import { deepSearchChatPrompt, EXAMPLE_WORLD_SEED } from '../../../envs/deepsearch/chat-prompt';
import { runEpisode, type Environment, type Episode } from '../../../envs/types';
import { venvStatus } from '../../../infra/python';
import { actionFromReply, chatMessages, examplesFor, type ChatPrompt } from '../../../policy/llm/chat-episode';
import { resolveModelRef } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { LlmTokenizer, loadLlmTokenizer, tokenizerIsCurrent } from '../../../policy/llm/tokenizer';
import { TEST_CACHE_DIR } from '../deepsearch/helpers';

const NAME = 'smollm2-135m-instruct';

/**
 * Token budgets, each about 10% above what is measured today (bench/NOTES-llm.md), so that growth is a decision.
 * First turn: what a rollout prefills before the first action, by number of few-shot examples (index). Longest:
 * the context before the last action of the longest flawless-expert episode of any split, with 2 examples.
 * SmolLM2's window (8,192) is far off; what binds is the trainer's cost per row (~127 tokens/s forward + backward
 * with LoRA on 2 cores), to which two examples add ~520 tokens a row on deepsearch and ~770 on apps.
 */
const BUDGET = {
  apps: { firstTurn: [544, 960, 1408], longest: 2304 },
  deepsearch: { firstTurn: [224, 448, 800], longest: 1472 },
};

interface Subject {
  name: 'apps' | 'deepsearch';
  env: Environment;
  prompt: ChatPrompt;
  train: string[];
  /** A reply as a model may write it around the action: the text step() must still read as the action. */
  decorate: (action: string) => string;
}

let subjects: Subject[];
beforeAll(() => {
  const deepsearch = createDeepSearchEnvironment({ cacheDir: TEST_CACHE_DIR });
  subjects = [
    { name: 'apps', env: createAppsEnvironment(), prompt: appsChatPrompt, train: ['train'], decorate: (a) => ` ${a}\nphone.login()\n` },
    { name: 'deepsearch', env: deepsearch, prompt: deepSearchChatPrompt, train: ['single/train', 'multi/train'], decorate: (a) => `\n${a} <answer>x</answer>` },
  ];
}, 120_000);

const subject = (name: string) => subjects.find((s) => s.name === name)!;
const allTasks = (env: Environment) => env.splits().flatMap((split) => env.tasks(split));

/** Step an episode with each action passed through `reply` and back through actionFromReply. */
function replay(s: Subject, taskId: string, actions: readonly string[], reply: (action: string, i: number) => string): Episode {
  const episode = s.env.createEpisode(taskId, 0);
  actions.forEach((action, i) => {
    if (!episode.done) episode.step(actionFromReply(s.prompt, reply(action, i)));
  });
  return episode;
}

describe.each(['apps', 'deepsearch'])('%s chat prompt', (name) => {
  test('replies parse back to the action: the expert, noisy, drives every train task to its own reward', () => {
    const s = subject(name);
    let tasks = 0;
    for (const split of s.train) {
      for (const task of s.env.tasks(split)) {
        for (const noise of [0, 0.3]) {
          const plain = runEpisode(s.env.createEpisode(task.id, 0), s.env.expert(task.id, { noise, seed: 1 }));
          const actions = plain.turns.map((t) => t.action);
          const chat = replay(s, task.id, actions, s.decorate);
          expect({ task: task.id, noise, actions: chat.turns.map((t) => t.action), reward: chat.score().reward }).toEqual({
            task: task.id, noise, actions, reward: plain.score().reward,
          });
        }
        tasks++;
      }
    }
    expect(tasks).toBeGreaterThanOrEqual(name === 'apps' ? 72 : 2000);
  }, 300_000);

  test('a malformed reply reaches the environment as it is, and gets its error observation', () => {
    const s = subject(name);
    const episode = s.env.createEpisode(s.env.tasks(s.train[0])[0].id, 0);
    const reply = 'I would search for it. search: the capital';
    expect(actionFromReply(s.prompt, reply)).toBe(reply);
    expect(episode.step(actionFromReply(s.prompt, reply)).error).toBe(true);
  });

  test('the messages: system, examples, task, then alternating actions and observations', () => {
    const s = subject(name);
    const task = s.env.tasks(s.train[0])[0];
    const episode = s.env.createEpisode(task.id, 0);
    const expert = s.env.expert(task.id, { noise: 0, seed: 0 });
    episode.step(expert.act(episode));
    const messages = chatMessages(s.prompt, episode, { shots: 1 });
    const example = examplesFor(s.prompt, episode, 1)[0].messages;
    expect(messages.map((m) => m.role)).toEqual(['system', ...example.map((m) => m.role), 'user', 'assistant', 'user']);
    expect(messages[0].content).toBe(s.prompt.system);
    expect(messages.slice(-3).map((m) => m.content)).toEqual([episode.initialObservation.trim(), episode.turns[0].action, episode.turns[0].observation.trim()]);
    // An example is a whole solved episode: task, then actions and observations, ending on its last action.
    expect(example[0].role).toBe('user');
    expect(example.at(-1)!.role).toBe('assistant');
    expect(example.slice(1).every((m, i) => m.role === (i % 2 ? 'user' : 'assistant'))).toBe(true);
  });

  test('few-shot examples: solved train episodes of another world, never the task being asked', () => {
    const s = subject(name);
    const examples = s.prompt.examples();
    expect(examples.length).toBeGreaterThanOrEqual(4);
    expect(examples.every((e) => /\/train\//.test(e.taskId))).toBe(true);
    for (const task of allTasks(s.env)) {
      const episode = s.env.createEpisode(task.id, 0);
      for (const example of examplesFor(s.prompt, episode, 2)) {
        expect(example.messages.some((m) => m.content.includes(task.instruction))).toBe(false);
      }
    }
    // A task whose question is an example's is given the next examples instead.
    const [first, second, third] = examples;
    const asked = first.messages[0].content.match(/(?:Task|Question): (.*)/)![1];
    const clash = { ...s.env.createEpisode(s.env.tasks(s.train[0])[0].id, 0), task: { ...s.env.tasks(s.train[0])[0], instruction: asked } } as Episode;
    expect(examplesFor(s.prompt, clash, 2).map((e) => e.taskId)).toEqual([second.taskId, third.taskId]);
    expect(() => examplesFor(s.prompt, clash, examples.length)).toThrow(/usable/);
  }, 120_000);
});

test('the examples come from worlds other than the default ones', () => {
  expect(EXAMPLE_ENV_SEED).not.toBe(1); // apps' DEFAULT_SEED
  expect(EXAMPLE_WORLD_SEED).not.toBe(0); // deepsearch's default seed
  const exampleQuestions = new Set(deepSearchChatPrompt.examples().map((e) => e.messages[0].content));
  const asked = allTasks(subject('deepsearch').env).filter((t) => [...exampleQuestions].some((q) => q.includes(`Question: ${t.instruction}`)));
  expect(asked).toEqual([]);
});

test('actionFromReply: from the first non-blank character to the end of the first action stop', () => {
  expect(actionFromReply(appsChatPrompt, '\n  phone.login(username="a")  \nmore\n')).toBe('phone.login(username="a")');
  expect(actionFromReply(deepSearchChatPrompt, 'I need X. <search>x</search> then <answer>y</answer>')).toBe('I need X. <search>x</search>');
  expect(actionFromReply(deepSearchChatPrompt, '<answer>y</answer><search>x</search>')).toBe('<answer>y</answer>');
  expect(actionFromReply(deepSearchChatPrompt, '  <search>unclosed ')).toBe('<search>unclosed');
});

test('the rendering is deterministic: a fresh load of the prompts, asked in another order, gives the same messages', () => {
  const taskIds = (s: Subject) => [s.env.tasks(s.train[0])[0].id, s.env.tasks(s.train.at(-1)!)[5].id];
  const render = (prompts: Record<string, ChatPrompt>, reverse: boolean) =>
    subjects.flatMap((s) => {
      const ids = reverse ? taskIds(s).reverse() : taskIds(s);
      const out = ids.map((id) => JSON.stringify(chatMessages(prompts[s.name], s.env.createEpisode(id, 0), { shots: 2 })));
      return reverse ? out.reverse() : out;
    });
  let fresh: Record<string, ChatPrompt> = {};
  jest.isolateModules(() => {
    fresh = {
      apps: (require('../../../envs/apps/chat-prompt') as typeof import('../../../envs/apps/chat-prompt')).appsChatPrompt,
      deepsearch: (require('../../../envs/deepsearch/chat-prompt') as typeof import('../../../envs/deepsearch/chat-prompt')).deepSearchChatPrompt,
    };
  });
  expect(fresh.apps).not.toBe(appsChatPrompt);
  expect(render(fresh, true)).toEqual(render({ apps: appsChatPrompt, deepsearch: deepSearchChatPrompt }, false));
}, 120_000);

/** Two tasks of one scenario played by the skill-writing expert, the second with the library the first ended with. */
function skillChain(): AppsEpisode[] {
  const apps = createAppsEnvironment();
  const train = apps.tasks('train');
  const head = train.find((t) => t.template === 'delete_done_todos')!;
  const [first, second] = train.filter((t) => t.scenario === head.scenario);
  const one = apps.createEpisode(first.id, 0);
  runEpisode(one, apps.expert(first.id, { noise: 0, seed: 0, skills: true }));
  const two = apps.createEpisode(second.id, 0, { skills: one.skills });
  runEpisode(two, apps.expert(second.id, { noise: 0, seed: 0, skills: true }));
  return [one, two];
}

test('apps with skills: the system message adds the skill actions; the task message lists the library received', () => {
  const [one, two] = skillChain();
  expect(one.skillUse.written.length).toBeGreaterThan(0);
  expect(two.skillsAtStart).toEqual(one.skills.list().map((k) => `${k.name}(${k.params.join(', ')})`));
  const withSkills = chatMessages(appsSkillsChatPrompt, two);
  expect(withSkills[0].content.startsWith(appsChatPrompt.system)).toBe(true);
  expect(withSkills[0].content).toMatch(/skills\.list\(\)/);
  expect(withSkills[1].content).toBe(`${two.initialObservation.trim()}\nskills: ${two.skillsAtStart.join(' ')}`);
  // The first task of a chain starts from an empty library: the same task message as without skills.
  expect(chatMessages(appsSkillsChatPrompt, one)[1]).toEqual(chatMessages(appsChatPrompt, one)[1]);
  expect(chatMessages(appsChatPrompt, two)[1].content).toBe(two.initialObservation.trim());
});

const model = resolveModelRef(NAME);
const venv = venvStatus();
const haveTokenizer = tokenizerIsCurrent(model) || venv.ready;
if (!haveTokenizer) {
  console.warn(`skipping the chat prompt token tests: no exported tokenizer and no Python venv (${venv.reason}); run \`npm run setup:python\` to enable them`);
}

(haveTokenizer ? describe : describe.skip)("through SmolLM2's chat template and tokenizer", () => {
  let tok: LlmTokenizer;
  let imStart: number;
  let imEnd: number;
  let assistant: number[];
  const figures: Record<string, Record<string, number | string>> = {};

  beforeAll(async () => {
    if (!tokenizerIsCurrent(model)) await pullModel(NAME);
    tok = loadLlmTokenizer(model);
    [imStart, imEnd] = [tok.tokenToId('<|im_start|>')!, tok.tokenToId('<|im_end|>')!];
    assistant = tok.encode('assistant\n');
  }, 600_000);
  afterAll(() => console.log(`chat prompt token lengths: ${JSON.stringify(figures)}`));

  /** The token IDs of each assistant message in a rendered chat: what a model would have sampled, stop excluded. */
  function replies(ids: readonly number[]): { start: number; ids: number[] }[] {
    const out: { start: number; ids: number[] }[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== imStart || !assistant.every((id, k) => ids[i + 1 + k] === id)) continue;
      const start = i + 1 + assistant.length;
      const end = ids.indexOf(imEnd, start);
      out.push({ start, ids: ids.slice(start, end) });
    }
    return out;
  }

  test.each(['apps', 'deepsearch'])(
    '%s: every task of every split, rendered, tokenized and cut back into replies, replays to the expert\'s reward; the longest context is within budget',
    (name) => {
      const s = subject(name);
      let longest = { tokens: 0, task: '' };
      for (const task of allTasks(s.env)) {
        const plain = runEpisode(s.env.createEpisode(task.id, 0), s.env.expert(task.id, { noise: 0, seed: 0 }));
        const ids = tok.encodeChat(chatMessages(s.prompt, plain, { shots: 2 }));
        const own = replies(ids).slice(-plain.turns.length);
        const chat = replay(s, task.id, own.map((r) => tok.decode(r.ids)), (reply) => reply);
        expect({ task: task.id, actions: chat.turns.map((t) => t.action), reward: chat.score().reward }).toEqual({
          task: task.id, actions: plain.turns.map((t) => t.action), reward: plain.score().reward,
        });
        // The context the model reads before its last action: everything up to that reply.
        if (own.at(-1)!.start > longest.tokens) longest = { tokens: own.at(-1)!.start, task: task.id };
      }
      const withoutExamples = runEpisode(s.env.createEpisode(longest.task, 0), s.env.expert(longest.task, { noise: 0, seed: 0 }));
      const longest0 = replies(tok.encodeChat(chatMessages(s.prompt, withoutExamples))).at(-1)!.start;
      figures[name] = { ...figures[name], longestContext0Shots: longest0, longestContext2Shots: longest.tokens, longestTask: longest.task };
      expect(longest.tokens).toBeLessThanOrEqual(BUDGET[s.name].longest);
    },
    600_000,
  );

  test.each(['apps', 'deepsearch'])('%s: the first-turn prompt with 0, 1 and 2 examples is within budget on every task', (name) => {
    const s = subject(name);
    const tasks = allTasks(s.env);
    // The examples are the same for every task (bar a clash), so the task message decides the longest prompt.
    const taskTokens = tasks.map((t) => tok.encode(s.env.createEpisode(t.id, 0).initialObservation.trim()).length);
    const longestTask = tasks[taskTokens.indexOf(Math.max(...taskTokens))];
    const lengths = [0, 1, 2].map((shots) => {
      const first = tok.encodeChat(chatMessages(s.prompt, s.env.createEpisode(longestTask.id, 0), { shots }), { addGenerationPrompt: true });
      expect(first.length).toBeLessThanOrEqual(BUDGET[s.name].firstTurn[shots]);
      return first.length;
    });
    figures[name] = { ...figures[name], firstTurn0: lengths[0], firstTurn1: lengths[1], firstTurn2: lengths[2] };
    expect(lengths[0]).toBeLessThan(lengths[1]);
    expect(lengths[1]).toBeLessThan(lengths[2]);
  }, 300_000);

  test('apps with skills: a chain that writes a skill and uses it, cut back into replies, replays to the same rewards and library', () => {
    const apps = createAppsEnvironment();
    let library: AppsEpisode['skills'] | undefined;
    for (const plain of skillChain()) {
      const own = replies(tok.encodeChat(chatMessages(appsSkillsChatPrompt, plain))).slice(-plain.turns.length);
      const chat = apps.createEpisode(plain.task.id, 0, { skills: library });
      for (const reply of own) if (!chat.done) chat.step(actionFromReply(appsSkillsChatPrompt, tok.decode(reply.ids)));
      expect({ actions: chat.turns.map((t) => t.action), reward: chat.score().reward, calls: chat.skillUse.calls }).toEqual({
        actions: plain.turns.map((t) => t.action), reward: plain.score().reward, calls: plain.skillUse.calls,
      });
      library = chat.skills;
    }
    expect(library!.size).toBeGreaterThan(0);
  }, 120_000);

  test.each(['apps', 'deepsearch'])('%s: the rendering only appends, in text and in token IDs, turn by turn', (name) => {
    const s = subject(name);
    for (const task of s.env.tasks(s.train.at(-1)!).slice(0, 10)) {
      const episode = s.env.createEpisode(task.id, 0);
      const expert = s.env.expert(task.id, { noise: 0.3, seed: 2 });
      let before = tok.renderChat(chatMessages(s.prompt, episode, { shots: 1 }), { addGenerationPrompt: true });
      while (!episode.done) {
        episode.step(expert.act(episode));
        const after = tok.renderChat(chatMessages(s.prompt, episode, { shots: 1 }), { addGenerationPrompt: !episode.done });
        expect(after.startsWith(before)).toBe(true);
        const [a, b] = [tok.encode(before), tok.encode(after)];
        expect(b.slice(0, a.length)).toEqual(a);
        before = after;
      }
    }
  }, 120_000);
});

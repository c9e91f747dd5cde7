/**
 * An LLM's format-SFT data (trainer/llm-demonstrations.ts): the expert's episodes as whole chats, tokenized as
 * the rollouts tokenize them, with the expert's replies marked as targets.
 *
 * - Every train task of both environments gives one sequence per episode (no per-turn fallback), whose marked
 *   spans are the expert's replies, each ending on the end-of-turn token, and whose prefix before each span is
 *   exactly the prompt a rollout would have prefilled at that turn (llmPromptTokens), with or without few-shot
 *   examples.
 * - Deterministic from the seed; the noise setting reaches the expert.
 *
 * Needs SmolLM2's exported tokenizer (made with the Python venv): skipped, saying so, without either.
 */
import { createAppsEnvironment } from '../../../envs/apps';
import { appsChatPrompt, appsSkillsChatPrompt } from '../../../envs/apps/chat-prompt';
import type { AppsEpisode } from '../../../envs/apps/episode';
import { createDeepSearchEnvironment } from '../../../envs/deepsearch';
import { deepSearchChatPrompt } from '../../../envs/deepsearch/chat-prompt';
import type { Environment } from '../../../envs/types';
import { venvStatus } from '../../../infra/python';
import { actionFromReply, type ChatPrompt } from '../../../policy/llm/chat-episode';
import { resolveModelRef } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { type LlmTokenizer, loadLlmTokenizer, tokenizerIsCurrent } from '../../../policy/llm/tokenizer';
import { withStop } from '../../../trainer/demonstrations';
import { demonstrationSeed, llmDemonstrations } from '../../../trainer/llm-demonstrations';
import { llmPromptTokens } from '../../../trainer/llm-rollout';
import { TEST_CACHE_DIR } from '../deepsearch/helpers';

const model = resolveModelRef('smollm2-135m-instruct');
const venv = venvStatus();
const haveTokenizer = tokenizerIsCurrent(model) || venv.ready;
if (!haveTokenizer) console.warn(`skipping the LLM demonstration tests: no exported tokenizer and no Python venv (${venv.reason})`);

(haveTokenizer ? describe : describe.skip)('LLM demonstrations', () => {
  let tok: LlmTokenizer;
  let endOfTurn: number;
  /** A reply's text as the rollout reads it: decoded without its end-of-turn token, then actionFromReply. */
  const reply = (prompt: ChatPrompt, ids: number[]) => actionFromReply(prompt, tok.decode(ids.filter((id) => !tok.stopIds.includes(id))));
  let subjects: Record<'apps' | 'deepsearch', { env: Environment; prompt: ChatPrompt; split: string }>;

  beforeAll(async () => {
    if (!tokenizerIsCurrent(model)) await pullModel('smollm2-135m-instruct');
    tok = loadLlmTokenizer(model);
    endOfTurn = tok.tokenToId('<|im_end|>')!;
    subjects = {
      apps: { env: createAppsEnvironment(), prompt: appsChatPrompt, split: 'train' },
      deepsearch: { env: createDeepSearchEnvironment({ cacheDir: TEST_CACHE_DIR }), prompt: deepSearchChatPrompt, split: 'single/train' },
    };
  }, 600_000);

  const options = { perTask: 1, noise: 0, seed: 7, shots: 0, contextLength: 8192 };

  test.each(['apps', 'deepsearch'] as const)('%s: one sequence per episode of every train task, spans = the expert actions', (name) => {
    const { env, prompt, split } = subjects[name];
    const taskIds = env.tasks(split).map((t) => t.id);
    const demos = llmDemonstrations(env, tok, prompt, taskIds, options);
    expect(demos.episodes).toBe(taskIds.length);
    expect(demos.sequences.map((s) => s.taskId)).toEqual(taskIds);
    expect(demos.expertSuccess).toBe(1);
    let turns = 0;
    demos.sequences.forEach((s, i) => {
      const episode = env.createEpisode(taskIds[i], demonstrationSeed(options.seed, taskIds[i], 0));
      let end = 0;
      for (const [start, length] of s.actions) {
        expect(start).toBeGreaterThanOrEqual(end); // spans in order, apart
        end = start + length;
        expect(s.tokens[end - 1]).toBe(endOfTurn);
        episode.step(reply(prompt, s.tokens.slice(start, end)));
      }
      expect(end).toBe(s.tokens.length);
      expect(episode.score().success).toBe(true); // the replies, read as a rollout reads them, solve the task
      turns += s.actions.length;
    });
    expect(demos.actionTokens).toBe(demos.sequences.reduce((n, s) => n + s.actions.reduce((m, [, l]) => m + l, 0), 0));
    console.log(`${name}: ${demos.sequences.length} episodes, ${turns} replies, ${demos.actionTokens} action tokens, ${demos.sequences.reduce((n, s) => n + s.tokens.length, 0)} tokens`);
  }, 300_000);

  test.each(['apps', 'deepsearch'] as const)('%s: the prefix before each reply is the rollout prompt of that turn (2 shots)', (name) => {
    const { env, prompt, split } = subjects[name];
    const taskIds = env.tasks(split).slice(0, 6).map((t) => t.id);
    const demos = llmDemonstrations(env, tok, prompt, taskIds, { ...options, shots: 2, noise: 0.3 });
    expect(demos.sequences).toHaveLength(taskIds.length);
    demos.sequences.forEach((s, i) => {
      // Replay the episode with the spans' actions: each turn's prompt must be the sequence up to its span.
      const episode = env.createEpisode(taskIds[i], demonstrationSeed(options.seed, taskIds[i], 0));
      for (const [start, length] of s.actions) {
        expect(llmPromptTokens({ tokenizer: tok }, prompt, episode, 2)).toEqual(s.tokens.slice(0, start));
        episode.step(reply(prompt, s.tokens.slice(start, start + length)));
      }
      expect(episode.done).toBe(true);
    });
  }, 300_000);

  test('deterministic from the seed; noise reaches the expert', () => {
    const { env, prompt, split } = subjects.apps;
    const taskIds = env.tasks(split).slice(0, 8).map((t) => t.id);
    const a = llmDemonstrations(env, tok, prompt, taskIds, { ...options, noise: 0.5 });
    expect(llmDemonstrations(env, tok, prompt, taskIds, { ...options, noise: 0.5 })).toEqual(a);
    expect(llmDemonstrations(env, tok, prompt, taskIds, options)).not.toEqual(a);
    // The actions are the expert's, stop included.
    const first = env.createEpisode(taskIds[0], demonstrationSeed(options.seed, taskIds[0], 0));
    const [start, length] = a.sequences[0].actions[0];
    expect(reply(prompt, a.sequences[0].tokens.slice(start, start + length))).toBe(actionFromReply(prompt, withStop(env, env.expert(taskIds[0], { noise: 0.5, seed: demonstrationSeed(options.seed, taskIds[0], 0) }).act(first))));
  }, 300_000);

  test('apps with skills: the expert writes a skill in one task and calls it in the next of its scenario; the chats show the library', () => {
    const env = createAppsEnvironment();
    const train = env.tasks('train');
    const scenario = train.find((t) => t.template === 'delete_done_todos')!.scenario;
    const taskIds = train.filter((t) => t.scenario === scenario).slice(0, 2).map((t) => t.id);
    const demos = llmDemonstrations(env, tok, appsSkillsChatPrompt, taskIds, { ...options, skills: true });
    expect(demos.expertSuccess).toBe(1);
    const text = demos.sequences.map((s) => tok.decode(s.tokens));
    expect(text[0]).toMatch(/\ndef \w+\(/); // the first task writes a skill
    expect(text[1]).toMatch(/\nskills: \w+\(/); // the second's task message lists it
    expect(text[1]).toMatch(/\nskills\.\w+\(/); // and calls it
    // Replayed as a chain, the replies solve both tasks; without skills the same tasks write none.
    let library: AppsEpisode['skills'] | undefined;
    demos.sequences.forEach((s, i) => {
      const episode = env.createEpisode(taskIds[i], demonstrationSeed(options.seed, taskIds[i], 0), { skills: library });
      for (const [start, length] of s.actions) {
        expect(llmPromptTokens({ tokenizer: tok }, appsSkillsChatPrompt, episode)).toEqual(s.tokens.slice(0, start));
        episode.step(reply(appsSkillsChatPrompt, s.tokens.slice(start, start + length)));
      }
      expect(episode.score().success).toBe(true);
      library = episode.skills;
    });
    expect(llmDemonstrations(env, tok, appsChatPrompt, taskIds, options).sequences.some((s) => /\ndef /.test(tok.decode(s.tokens)))).toBe(false);
  }, 300_000);

  test('a chat longer than the context is refused, non-retryably, with the task named', () => {
    const { env, prompt, split } = subjects.deepsearch;
    const taskId = env.tasks(split)[0].id;
    expect(() => llmDemonstrations(env, tok, prompt, [taskId], { ...options, contextLength: 64 })).toThrow(new RegExp(`${taskId}.*64-token context`));
    try {
      llmDemonstrations(env, tok, prompt, [taskId], { ...options, contextLength: 64 });
    } catch (err) {
      expect((err as Error).name).toBe('InvalidRunConfig'); // non-retryable: a retry cannot make it fit
    }
  });
});

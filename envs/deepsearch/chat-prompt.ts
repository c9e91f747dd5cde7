/**
 * The deepsearch environment's protocol for a chat LLM (issue 27): all of its prompt text, in one place. The
 * system message follows Search-R1's prompt (its `<search>` / `<information>` / `<answer>` tags), less the
 * `<think>` step: the scripted expert, whose episodes are the few-shot examples and the SFT data, does not think
 * aloud, and the parser reads the first complete tag whatever comes before it. The shared rendering (system,
 * few-shot examples, task, turns) is policy/llm/chat-episode.ts.
 */
import { solvedExample, type ChatExample, type ChatPrompt } from '../../policy/llm/chat-episode';
import { UNANSWERABLE_ANSWER } from './answers';
import { createDeepSearchEnvironment } from './environment';
import { ACTION_STOPS } from './protocol';

/** Few-shot examples come from a small world of their own (the default environment's seed is 0). */
export const EXAMPLE_WORLD_SEED = 27;
const EXAMPLE_PASSAGES = 400;
/** Three of each kind, so the asked task can be skipped. */
const EXAMPLES_PER_KIND = 3;

const SYSTEM = [
  'Answer the given question using a search engine over an encyclopedia.',
  'Each reply is exactly one action:',
  '- <search>query</search> calls the search engine; the top results come back between <information> and </information>.',
  '- <answer>text</answer> gives the final answer, without explanation: a name, number or short phrase, for example <answer>Beijing</answer>.',
  'Search as many times as you need; a question about a chain of facts needs one search for each, using what the previous search found.',
  `If the documents do not tell, answer <answer>${UNANSWERABLE_ANSWER}</answer>.`,
].join('\n');

function buildExamples(): ChatExample[] {
  const sizes = { train: 30, dev: 1, test: 1 };
  const env = createDeepSearchEnvironment({ seed: EXAMPLE_WORLD_SEED, passages: EXAMPLE_PASSAGES, cacheDir: null, questions: { sizes: { single: sizes, multi: sizes } } });
  const answerable = (split: string) => env.tasks(split).filter((t) => env.record(t.id).answerable);
  // A single search, then a two-hop chain: interleaved, so any two examples show one of each.
  const single = answerable('single/train').slice(0, EXAMPLES_PER_KIND);
  const twoHop = answerable('multi/train').filter((t) => t.level === 2).slice(0, EXAMPLES_PER_KIND);
  return single.flatMap((t, k) => [t, twoHop[k]]).filter(Boolean).map((t) => solvedExample(env, t.id));
}

let examples: ChatExample[] | undefined;

export const deepSearchChatPrompt: ChatPrompt = {
  system: SYSTEM,
  actionStops: ACTION_STOPS,
  examples: () => (examples ??= buildExamples()),
};

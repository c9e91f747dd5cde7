/**
 * The tokenizer parity corpus: the texts an LLM policy will tokenize in both languages, plus fuzzed unicode.
 *
 * - apps and deepsearch: every task's instruction and first observation, and for each turn of one noisy-expert
 *   episode per task the context the policy conditions on, the action and the observation;
 * - chats: those turns as chat conversations (system, user, assistant, ...), rendered through the chat template;
 * - fuzz: deterministic random strings over emoji (ZWJ sequences, skin tones, flags), CJK, Hangul, RTL scripts,
 *   combining marks, control characters, long whitespace runs, other scripts' digits, special-token look-alikes.
 *
 * Lone surrogates are left out: they are not text (UTF-8 cannot carry them) and Python cannot encode them.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAppsEnvironment } from '../../../envs/apps';
import { createDeepSearchEnvironment } from '../../../envs/deepsearch';
import type { Environment } from '../../../envs/types';
import type { ChatMessage } from '../../../policy/llm/tokenizer';
import { mulberry32 } from '../../support/mulberry32';

export interface ParityCorpus {
  texts: { source: string; text: string }[];
  chats: { source: string; messages: ChatMessage[]; addGenerationPrompt: boolean }[];
}

const SYSTEM_PROMPT = 'You are an agent. Answer with exactly one action per turn, in the protocol the user describes.';

interface EnvSample {
  name: string;
  env: Environment;
  splits: string[];
  tasksPerSplit: number;
}

function environmentTexts(sample: EnvSample, corpus: ParityCorpus, maxTurnChats: number): void {
  let chats = 0;
  for (const split of sample.splits) {
    const tasks = sample.env.tasks(split).slice(0, sample.tasksPerSplit);
    for (const [k, task] of tasks.entries()) {
      const episode = sample.env.createEpisode(task.id, k);
      const expert = sample.env.expert(task.id, { noise: 0.3, seed: k });
      corpus.texts.push({ source: `${sample.name}/instruction`, text: task.instruction });
      corpus.texts.push({ source: `${sample.name}/prompt`, text: episode.initialObservation });
      const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: episode.initialObservation }];
      while (!episode.done) {
        const context = episode.context();
        const action = expert.act(episode);
        const result = episode.step(action);
        corpus.texts.push({ source: `${sample.name}/context`, text: context });
        corpus.texts.push({ source: `${sample.name}/action`, text: action });
        corpus.texts.push({ source: `${sample.name}/observation`, text: result.observation });
        messages.push({ role: 'assistant', content: action }, { role: 'user', content: result.observation });
        if (chats < maxTurnChats) {
          // The rollout's shape: the context as one user turn, the action to generate after the template's prompt.
          corpus.chats.push({ source: `${sample.name}/turn`, messages: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: context }], addGenerationPrompt: true });
          chats++;
        }
      }
      // Whole episodes as multi-turn chats; every other one without a system message (the template adds its own).
      corpus.chats.push({ source: `${sample.name}/episode`, messages: k % 2 ? messages : messages.slice(1), addGenerationPrompt: k % 3 === 0 });
    }
  }
}

const RANGES: [number, number][] = [
  [0x20, 0x7e], // ASCII
  [0xa0, 0xff], // Latin-1
  [0x100, 0x17f], // Latin Extended-A
  [0x370, 0x3ff], // Greek
  [0x400, 0x4ff], // Cyrillic
  [0x590, 0x5ff], // Hebrew
  [0x600, 0x6ff], // Arabic (with Arabic-Indic digits)
  [0x900, 0x97f], // Devanagari
  [0xe00, 0xe7f], // Thai
  [0x3040, 0x30ff], // Hiragana, Katakana
  [0x4e00, 0x9fff], // CJK
  [0xac00, 0xd7a3], // Hangul
  [0xff01, 0xff5e], // fullwidth forms (fullwidth digits)
  [0x1d400, 0x1d7ff], // mathematical alphanumerics (astral)
  [0x1f300, 0x1faff], // emoji (astral)
  [0x20000, 0x2a6df], // CJK extension B (astral)
];
const COMBINING: [number, number] = [0x300, 0x36f];
const CONTROLS = [...Array(32).keys(), 0x7f, ...Array.from({ length: 32 }, (_, i) => 0x80 + i)];
const SPACES = [' ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u2000', '\u2003', '\u2009', '\u200b', '\u3000', '\u2028', '\u000b', '\u000c'];
const SNIPPETS = [
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|im_start', 'im_end|>', '<repo_name>', '<filename>',
  '👨‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', '🇫🇷', '❤️', '1️⃣', 'é', 'e\u0301', 'ﬁ', 'ß', 'İ', 'Ω', 'Å',
  "'s", "'LL", "n't", "I'M", '1234567890', '٣٤٥', '１２３', '3.14159', '-0.5e-10', '$1,234.56', '2024-01-31T12:00:00Z',
  '{"key": [1, 2, 3]}', '    ', '\t\t', '\n\n\n', '<search>', '</search>', '<answer>', '</answer>', '<information>',
  'http://example.com/a?b=c&d=e', 'x = f(y) + 2 * z', '\\u0000', '\u0000', '\ufeff', '\ufffd', '\u202e', '\u200d',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function codePoint(r: () => number, [lo, hi]: [number, number]): string {
  return String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
}

export function fuzzStrings(count: number, seed = 27): string[] {
  const r = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    const length = 1 + Math.floor(r() * (r() < 0.1 ? 200 : 24));
    for (let j = 0; j < length; j++) {
      const x = r();
      if (x < 0.35) parts.push(codePoint(r, pick(r, RANGES)));
      else if (x < 0.45) parts.push(codePoint(r, COMBINING));
      else if (x < 0.5) parts.push(String.fromCharCode(pick(r, CONTROLS)));
      else if (x < 0.62) parts.push(pick(r, SPACES).repeat(r() < 0.2 ? 1 + Math.floor(r() * 300) : 1 + Math.floor(r() * 4)));
      else if (x < 0.75) parts.push(pick(r, SNIPPETS));
      else if (x < 0.88) parts.push(String(Math.floor(r() * 10 ** (1 + Math.floor(r() * 12)))));
      else parts.push(pick(r, ['the', ' word', 'Word', ' CamelCase', 'snake_case', ' über', ' naïve', ' café', '東京', ' Москва', 'مرحبا', 'שלום']));
    }
    out.push(parts.join(''));
  }
  return out;
}

/** The whole corpus; `scale` (0, 1] takes fewer tasks per split for a quicker run. */
export function buildParityCorpus(opts: { scale?: number; fuzz?: number } = {}): ParityCorpus {
  const scale = opts.scale ?? 1;
  const corpus: ParityCorpus = { texts: [], chats: [] };
  const apps = createAppsEnvironment({ seed: 1 });
  environmentTexts({ name: 'apps', env: apps, splits: apps.splits(), tasksPerSplit: Math.ceil(60 * scale) }, corpus, 300);
  const deepsearch = createDeepSearchEnvironment({ seed: 3, passages: 2000, cacheDir: join(tmpdir(), 'ratchet-deepsearch-test-cache') });
  environmentTexts({ name: 'deepsearch', env: deepsearch, splits: deepsearch.splits(), tasksPerSplit: Math.ceil(120 * scale) }, corpus, 300);
  const fuzz = fuzzStrings(opts.fuzz ?? 3000);
  for (const text of fuzz) corpus.texts.push({ source: 'fuzz', text });
  // Fuzz inside chat messages too: specials, controls and whitespace next to the template's own tokens.
  for (let i = 0; i + 1 < Math.min(fuzz.length, 400); i += 2) {
    corpus.chats.push({ source: 'fuzz/chat', messages: [{ role: 'user', content: fuzz[i] }, { role: 'assistant', content: fuzz[i + 1] }], addGenerationPrompt: i % 4 === 0 });
  }
  // Each distinct text once.
  const seen = new Set<string>();
  corpus.texts = corpus.texts.filter(({ text }) => (seen.has(text) ? false : (seen.add(text), true)));
  return corpus;
}

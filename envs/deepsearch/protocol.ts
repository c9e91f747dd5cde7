/**
 * The Search-R1 text protocol: how actions are parsed and how observations are written.
 *
 * The agent may write free text, then `<search>query</search>` or `<answer>text</answer>`; the first complete
 * tag decides the action (as in Search-R1's `generation.py`). Search results come back as
 * `<information>Doc 1 (Title: T) snippet ...</information>`. Each document is shown as a query-focused snippet
 * (its sentences that share the most words with the query, in passage order, at most `snippetChars`
 * characters) so that three results fit a small model's context.
 */
import { SearchHit } from './search';
import { UNANSWERABLE_ANSWER } from './answers';

export const ACTION_STOPS = ['</search>', '</answer>'] as const;

export type ParsedAction =
  | { kind: 'search'; query: string }
  | { kind: 'answer'; answer: string }
  | { kind: 'invalid'; reason: string };

const ACTION_TAG = /<(search|answer)>([\s\S]*?)<\/\1>/;
const MAX_QUERY_CHARS = 200;

export function parseAction(text: string): ParsedAction {
  const match = ACTION_TAG.exec(text);
  if (!match) {
    const reason = /<(search|answer)>/.test(text) ? 'the tag is not closed' : 'no <search> or <answer> tag';
    return { kind: 'invalid', reason };
  }
  const content = match[2].trim();
  if (match[1] === 'answer') {
    // Should one action hold several answers, the last one counts (Search-R1's extract_solution).
    const all = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
    return { kind: 'answer', answer: all[all.length - 1][1].trim() };
  }
  if (content.length === 0) return { kind: 'invalid', reason: 'the search query is empty' };
  return { kind: 'search', query: content.slice(0, MAX_QUERY_CHARS) };
}

export function invalidActionObservation(reason: string): string {
  return (
    `\nInvalid action: ${reason}. ` +
    `Write <search>query</search> to search or <answer>text</answer> to answer.\n`
  );
}

export function promptFor(question: string): string {
  const q = question.trim().endsWith('?') ? question.trim() : `${question.trim()}?`;
  return (
    `Answer the question. Search with <search>query</search>, answer with <answer>text</answer>; ` +
    `answer ${UNANSWERABLE_ANSWER} if the documents do not tell.\nQuestion: ${q}\n`
  );
}

const WORD = /[\p{L}\p{N}]+/gu;

function wordsOf(text: string): Set<string> {
  return new Set((text.toLowerCase().match(WORD) ?? []).filter((w) => w.length > 1));
}

/** The passage's sentences ranked by words shared with the query, kept in passage order, within `maxChars`. */
export function snippet(text: string, query: string, maxChars: number): string {
  const sentences = text.match(/[^.!?]+[.!?]*/g)?.map((s) => s.replace(/\s+/g, ' ').trim()).filter(Boolean) ?? [];
  if (sentences.length === 0) return '';
  const queryWords = wordsOf(query);
  const ranked = sentences
    .map((sentence, position) => {
      let overlap = 0;
      for (const w of wordsOf(sentence)) if (queryWords.has(w)) overlap++;
      return { sentence, position, overlap };
    })
    .sort((a, b) => b.overlap - a.overlap || a.position - b.position);
  const chosen: typeof ranked = [];
  let length = 0;
  for (const candidate of ranked) {
    if (chosen.length > 0 && length + candidate.sentence.length + 1 > maxChars) break;
    chosen.push(candidate);
    length += candidate.sentence.length + 1;
  }
  const joined = chosen
    .sort((a, b) => a.position - b.position)
    .map((c) => c.sentence)
    .join(' ');
  return joined.length > maxChars ? `${joined.slice(0, maxChars - 3)}...` : joined;
}

export function informationBlock(hits: readonly SearchHit[], query: string, snippetChars: number): string {
  if (hits.length === 0) return '\n<information>No documents found.</information>\n';
  const docs = hits.map((h, i) => `Doc ${i + 1} (Title: ${h.passage.title}) ${snippet(h.passage.text, query, snippetChars)}`);
  return `\n<information>${docs.join('\n')}</information>\n`;
}

/** A shorter form of an older information block: only its first document, for context compaction. */
export function firstDocumentOnly(observation: string): string {
  const m = /^(\n?<information>)([^\n]*?)(\n[\s\S]*)?(<\/information>\n?)$/.exec(observation);
  if (!m || !m[3]) return observation;
  return `${m[1]}${m[2]}${m[4]}`;
}

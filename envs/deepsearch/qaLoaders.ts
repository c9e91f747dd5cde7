/**
 * Loaders for the public QA JSONL formats, into `QaRecord`s the environment can serve:
 * - Search-R1 / FlashRAG: `{"id", "question", "golden_answers": [...]}` (single-hop family; no decomposition);
 * - MuSiQue: `{"id", "question", "answer", "answer_aliases", "answerable", "question_decomposition", "paragraphs"}`
 *   (multi-hop family; hop count from the decomposition; `#k` back-references resolved into hop queries).
 * Unanswerable MuSiQue rows (`"answerable": false`, from musique_full) get the golden answer "unknown".
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UNANSWERABLE_ANSWER } from './answers';
import { stripBom } from './corpus';
import { Hop, QaRecord, QuestionFamily } from './questions';

const SearchR1Row = z.object({
  id: z.union([z.string(), z.number()]).optional(),
  question: z.string().min(1),
  golden_answers: z.array(z.union([z.string(), z.number()])).min(1),
});

const MusiqueRow = z.object({
  id: z.string(),
  question: z.string().min(1),
  answer: z.string(),
  answer_aliases: z.array(z.string()).default([]),
  answerable: z.boolean().default(true),
  question_decomposition: z
    .array(z.object({ question: z.string(), answer: z.string(), paragraph_support_idx: z.number().nullable().optional() }))
    .min(1),
  paragraphs: z.array(z.object({ idx: z.number(), title: z.string(), paragraph_text: z.string() })).default([]),
});

function parseLines<T>(text: string, schema: z.ZodType<T>, format: string): T[] {
  const rows: T[] = [];
  stripBom(text).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new Error(`${format} JSONL line ${i + 1}: not JSON (${(err as Error).message})`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new Error(`${format} JSONL line ${i + 1}: ${z.prettifyError(parsed.error)}`);
    rows.push(parsed.data);
  });
  return rows;
}

/** `split` names the records' split (e.g. `single/test`); ids become `deepsearch/<split>/<row id>`. */
export function parseSearchR1Jsonl(text: string, split = 'single/test'): QaRecord[] {
  const family = familyOf(split, 'single');
  return parseLines(text, SearchR1Row, 'Search-R1').map((row, i) => ({
    id: `deepsearch/${split}/${row.id ?? i}`,
    question: row.question.trim(),
    goldenAnswers: row.golden_answers.map(String),
    answerable: true,
    family,
    hopCount: 1,
    template: 'loaded:search-r1',
    subject: String(row.id ?? i),
    hops: [],
  }));
}

/**
 * MuSiQue decomposition steps read `Green >> performer` or `Who founded #1?`; `#k` is hop k's answer. A missing or
 * empty bridge answer leaves `#k` in place: dropping it would turn `#1 >> spouse` into the wrong query `spouse`.
 */
function resolveHopQuery(question: string, answers: string[]): string {
  return question
    .replace(/#(\d+)/g, (whole, k: string) => answers[Number(k) - 1]?.trim() || whole)
    .replace(/\s*>>\s*/g, ' ')
    .trim();
}

export function parseMusiqueJsonl(text: string, split = 'multi/test'): QaRecord[] {
  const family = familyOf(split, 'multi');
  return parseLines(text, MusiqueRow, 'MuSiQue').map((row) => {
    const answers = row.question_decomposition.map((d) => d.answer);
    const hops: Hop[] = row.question_decomposition.map((d) => ({
      query: resolveHopQuery(d.question, answers),
      answer: d.answer,
      ...(d.paragraph_support_idx != null ? { passageId: `${row.id}/${d.paragraph_support_idx}` } : {}),
    }));
    const shape = /^(\d)hop\d?__/.exec(row.id);
    return {
      id: `deepsearch/${split}/${row.id}`,
      question: row.question.trim(),
      goldenAnswers: row.answerable ? [row.answer, ...row.answer_aliases] : [UNANSWERABLE_ANSWER],
      answerable: row.answerable,
      family,
      hopCount: shape ? Number(shape[1]) : hops.length,
      template: `loaded:musique:${row.id.split('__')[0]}`,
      subject: row.id,
      hops,
    };
  });
}

/** MuSiQue rows carry their own paragraphs; these become passages with ids `<row id>/<idx>`. */
export function musiqueParagraphs(text: string): { id: string; title: string; text: string }[] {
  return parseLines(text, MusiqueRow, 'MuSiQue').flatMap((row) =>
    row.paragraphs.map((p) => ({ id: `${row.id}/${p.idx}`, title: p.title, text: p.paragraph_text })),
  );
}

function familyOf(split: string, fallback: QuestionFamily): QuestionFamily {
  const head = split.split('/')[0];
  return head === 'single' || head === 'multi' ? head : fallback;
}

export const loadSearchR1Jsonl = (path: string, split?: string) => parseSearchR1Jsonl(readFileSync(path, 'utf8'), split);
export const loadMusiqueJsonl = (path: string, split?: string) => parseMusiqueJsonl(readFileSync(path, 'utf8'), split);
export const loadMusiqueParagraphs = (path: string) => musiqueParagraphs(readFileSync(path, 'utf8'));

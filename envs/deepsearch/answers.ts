/**
 * Answer scoring as in the official SQuAD v1.1 script and Search-R1's `qa_em.py`:
 * lower case, drop ASCII punctuation (Python's `string.punctuation`), drop the articles a/an/the, collapse
 * whitespace. EM and F1 take the best score over all golden answers; cover-EM is Search-R1's `subem_check`
 * (a normalised golden answer appears inside the normalised prediction).
 */

/** The golden answer of every question the corpus cannot answer (MuSiQue-full style "unanswerable"). */
export const UNANSWERABLE_ANSWER = 'unknown';

const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
// Python's `\b` is Unicode-aware; JavaScript's is ASCII-only, so word boundaries are spelled out with \p{L}/\p{N}
// to keep "éthe" intact exactly as the Python reference does.
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu;

export function normalizeAnswer(text: string): string {
  const lower = text.toLowerCase();
  const noPunctuation = lower.replace(ASCII_PUNCTUATION, '');
  const noArticles = noPunctuation.replace(ARTICLES, ' ');
  return noArticles.split(/\s+/).filter(Boolean).join(' ');
}

function asList(golden: string | readonly string[]): readonly string[] {
  return typeof golden === 'string' ? [golden] : golden;
}

/** 1 when the prediction equals any golden answer after normalisation, else 0. */
export function exactMatch(prediction: string, golden: string | readonly string[]): number {
  const normalized = normalizeAnswer(prediction);
  return asList(golden).some((g) => normalizeAnswer(g) === normalized) ? 1 : 0;
}

/** 1 when any normalised golden answer is a substring of the normalised prediction, else 0. */
export function coverEm(prediction: string, golden: string | readonly string[]): number {
  const normalized = normalizeAnswer(prediction);
  return asList(golden).some((g) => {
    const gold = normalizeAnswer(g);
    return gold.length > 0 && normalized.includes(gold);
  })
    ? 1
    : 0;
}

function tokenF1(prediction: string, gold: string): number {
  const predTokens = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const goldTokens = normalizeAnswer(gold).split(' ').filter(Boolean);
  const goldCounts = new Map<string, number>();
  for (const t of goldTokens) goldCounts.set(t, (goldCounts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of predTokens) {
    const left = goldCounts.get(t) ?? 0;
    if (left > 0) {
      same++;
      goldCounts.set(t, left - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / predTokens.length;
  const recall = same / goldTokens.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Token-level F1 (SQuAD v1.1), the maximum over golden answers. */
export function f1(prediction: string, golden: string | readonly string[]): number {
  return Math.max(0, ...asList(golden).map((g) => tokenF1(prediction, g)));
}

/**
 * One DeepSearch episode: the question, the agent's searches, and its final answer.
 *
 * Context policy (what `context()` returns): the prompt, then every action followed by its observation.
 * Observations are already compact (top-k snippets); when the whole text would still exceed
 * `maxContextChars`, the oldest information blocks are cut to their first document, oldest first, and after
 * that to an empty `<information>...</information>`. The newest block is never shortened.
 * `segments()` returns the same text split into prompt / action / observation pieces, so a trainer can keep
 * observation tokens out of the loss.
 */
import { Episode, FinishReason, Score, StepResult, TaskInfo, Turn } from '../types';
import { UNANSWERABLE_ANSWER, coverEm, exactMatch, f1, normalizeAnswer } from './answers';
import { firstDocumentOnly, informationBlock, invalidActionObservation, parseAction, promptFor } from './protocol';
import { QaRecord } from './questions';
import { Bm25Index } from './search';

export interface EpisodeSettings {
  maxTurns: number;
  topK: number;
  snippetChars: number;
  maxContextChars: number;
  /** Subtracted from the reward (floored at 0) when any action was malformed or no answer was given. */
  formatPenalty: number;
}

export type SegmentKind = 'prompt' | 'action' | 'observation';
export interface Segment {
  kind: SegmentKind;
  text: string;
}

const ELIDED_INFORMATION = '\n<information>...</information>\n';

export class DeepSearchEpisode implements Episode {
  readonly initialObservation: string;
  private readonly history: Turn[] = [];
  private finished = false;
  private reason: FinishReason = 'running';
  private answer: string | null = null;
  private readonly retrieved = new Set<string>();

  constructor(
    readonly task: TaskInfo,
    readonly record: QaRecord,
    private readonly index: Bm25Index,
    readonly settings: EpisodeSettings,
  ) {
    this.initialObservation = promptFor(record.question);
  }

  get turns(): readonly Turn[] {
    return this.history;
  }
  get done(): boolean {
    return this.finished;
  }
  get finishReason(): FinishReason {
    return this.reason;
  }
  /** The last answer given, or null. */
  get finalAnswer(): string | null {
    return this.answer;
  }

  step(action: string): StepResult {
    if (this.finished) return { observation: 'The episode has ended.', done: true, error: true };
    const text = typeof action === 'string' ? action : String(action);
    const parsed = parseAction(text);
    let observation: string;
    let error = false;
    if (parsed.kind === 'answer') {
      this.answer = parsed.answer;
      observation = '';
      this.finish('completed');
    } else if (parsed.kind === 'search') {
      const hits = this.index.query(parsed.query, this.settings.topK);
      for (const h of hits) this.retrieved.add(h.passage.id);
      observation = informationBlock(hits, parsed.query, this.settings.snippetChars);
    } else {
      observation = invalidActionObservation(parsed.reason);
      error = true;
    }
    this.history.push({ action: text, observation, error });
    if (!this.finished && this.history.length >= this.settings.maxTurns) this.finish('max_turns');
    return { observation, done: this.finished, error };
  }

  private finish(reason: FinishReason): void {
    this.finished = true;
    this.reason = reason;
  }

  score(): Score {
    const golden = this.record.goldenAnswers;
    const answered = this.answer !== null;
    const prediction = this.answer ?? '';
    const em = answered ? exactMatch(prediction, golden) : 0;
    const errors = this.history.filter((t) => t.error).length;
    const formatOk = errors === 0 && answered;
    const reward = formatOk ? em : Math.max(0, em - this.settings.formatPenalty);
    const goldPassages = this.record.hops.map((h) => h.passageId).filter((id): id is string => id !== undefined);
    const goldFound = goldPassages.filter((id) => this.retrieved.has(id)).length;
    return {
      reward,
      success: em === 1,
      metrics: {
        em,
        f1: answered ? f1(prediction, golden) : 0,
        cover_em: answered ? coverEm(prediction, golden) : 0,
        answered: answered ? 1 : 0,
        answerable: this.record.answerable ? 1 : 0,
        said_unknown: answered && normalizeAnswer(prediction) === UNANSWERABLE_ANSWER ? 1 : 0,
        format_ok: formatOk ? 1 : 0,
        turns: this.history.length,
        searches: this.history.filter((t) => !t.error && parseAction(t.action).kind === 'search').length,
        errors,
        hops: this.record.hopCount,
        // Not applicable (left out, not 0) where the record names no supporting passage: Search-R1 rows, unanswerable ones.
        ...(goldPassages.length > 0 ? { gold_passage_recall: goldFound / goldPassages.length } : {}),
      },
    };
  }

  segments(): Segment[] {
    const observations = this.history.map((t) => t.observation);
    const assemble = (): Segment[] => {
      const out: Segment[] = [{ kind: 'prompt', text: this.initialObservation }];
      this.history.forEach((t, i) => {
        out.push({ kind: 'action', text: t.action });
        if (observations[i]) out.push({ kind: 'observation', text: observations[i] });
      });
      return out;
    };
    const length = () => assemble().reduce((n, s) => n + s.text.length, 0);
    const last = observations.length - 1;
    for (const shorten of [firstDocumentOnly, (o: string) => (o.includes('<information>') ? ELIDED_INFORMATION : o)]) {
      for (let i = 0; i < last && length() > this.settings.maxContextChars; i++) observations[i] = shorten(observations[i]);
    }
    return assemble();
  }

  context(): string {
    return this.segments()
      .map((s) => s.text)
      .join('');
  }
}


/**
 * The DeepSearch environment: a generated encyclopedia (or a loaded corpus), a BM25 search tool, and fixed
 * question splits `single/{train,dev,test}` and `multi/{train,dev,test}`.
 *
 * Turn budget: Search-R1's `max_turns` counts searches and then allows one last answer-only generation; here
 * every action counts, so the default `maxTurns` of 5 is 4 searches + the answer (what a 4-hop chain needs).
 */
import { z } from 'zod';
import { Agent, Environment, ExpertOptions, TaskInfo } from '../types';
import { Passage, RenderedCorpus, renderCorpus } from './corpus';
import { DeepSearchEpisode, EpisodeSettings } from './episode';
import { ExpertPools, scriptedExpert } from './expert';
import { ACTION_STOPS } from './protocol';
import { QaRecord, QuestionOptions, generateQuestions } from './questions';
import { Bm25Index, DEFAULT_CACHE_DIR, SearchHit } from './search';
import { SyntheticQuestionStream, hopsLabel, parseSyntheticDeepSearchId, taskInfoOf, type SyntheticSource } from './synthetic';
import { World, generateWorld } from './world';

const OptionsSchema = z.object({
  seed: z.number().int().default(0),
  passages: z.number().int().min(200).max(15_000).default(10_000), // the name lists run out above 15,000
  /** Where the BM25 index is cached; null keeps it in memory only. */
  cacheDir: z.string().nullable().default(DEFAULT_CACHE_DIR),
  topK: z.number().int().min(1).max(20).default(3),
  maxTurns: z.number().int().min(1).max(50).default(5),
  snippetChars: z.number().int().min(20).default(120),
  maxContextChars: z.number().int().min(200).default(1500),
  formatPenalty: z.number().min(0).max(1).default(0),
});

export type DeepSearchOptions = z.input<typeof OptionsSchema> & {
  questions?: QuestionOptions;
  /** A loaded corpus and question splits (see corpus.ts / qaLoaders.ts) instead of the generated world. */
  data?: { passages: Passage[]; splits: Record<string, QaRecord[]> };
};

export interface DeepSearchEnvironment extends Environment {
  readonly world: World | null;
  readonly corpus: readonly Passage[];
  readonly index: Bm25Index;
  /** The full question record behind a task (golden answers, decomposition, answerable flag). */
  record(taskId: string): QaRecord;
  search(query: string, k?: number): SearchHit[];
  createEpisode(taskId: string, seed: number, opts?: { maxTurns?: number }): DeepSearchEpisode;
  /**
   * The first `count` questions of generated stream `seed` with chains of `hops` hops (synthetic.ts): each solved
   * by the expert through search. Their ids resolve like a split's (task, record, episodes, expert) in any process.
   */
  syntheticTasks(seed: number, count: number, hops: readonly number[]): TaskInfo[];
}

export function createDeepSearchEnvironment(options: DeepSearchOptions = {}): DeepSearchEnvironment {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`deepsearch options: ${z.prettifyError(parsed.error)}`);
  const opts = parsed.data;

  let world: World | null = null;
  let rendered: RenderedCorpus | null = null;
  let passages: Passage[];
  let splits: Map<string, QaRecord[]>;
  if (options.data) {
    passages = options.data.passages;
    splits = new Map(Object.entries(options.data.splits));
  } else {
    world = generateWorld(opts.seed, opts.passages);
    rendered = renderCorpus(world);
    passages = rendered.passages;
    splits = generateQuestions(world, rendered, options.questions);
  }
  const index = Bm25Index.open(passages, opts.cacheDir);

  const records = new Map<string, { record: QaRecord; info: TaskInfo }>();
  const infos = new Map<string, TaskInfo[]>();
  for (const [split, list] of splits) {
    const tasks = list.map((record) => {
      if (records.has(record.id)) throw new Error(`deepsearch: duplicate task id ${record.id}`);
      const info: TaskInfo = {
        id: record.id,
        split,
        template: record.template,
        level: record.hopCount,
        scenario: record.subject,
        instruction: record.question,
      };
      records.set(record.id, { record, info });
      return info;
    });
    infos.set(split, tasks);
  }

  // Generated questions live apart from the splits' records, so the noisy expert's pools (below) never see them.
  const streams = new Map<string, SyntheticQuestionStream>();
  const generated = new Map<string, { record: QaRecord; info: TaskInfo }>();
  const streamFor = (seed: number, hops: readonly number[]): SyntheticQuestionStream => {
    if (!world || !rendered) throw new Error('deepsearch: synthetic questions need the generated world; a loaded corpus has none');
    const key = `${seed}/${hopsLabel(hops)}`;
    let stream = streams.get(key);
    if (!stream) {
      const exclude = new Set([...records.values()].map((r) => r.record.question));
      const source: SyntheticSource = { world, corpus: rendered, index, exclude, settings };
      streams.set(key, (stream = new SyntheticQuestionStream(source, seed, hops)));
    }
    return stream;
  };
  const remember = (record: QaRecord) => {
    let found = generated.get(record.id);
    if (!found) generated.set(record.id, (found = { record, info: taskInfoOf(record) }));
    return found;
  };

  const entry = (taskId: string) => {
    const found = records.get(taskId) ?? generated.get(taskId);
    if (found) return found;
    const synthetic = parseSyntheticDeepSearchId(taskId);
    if (synthetic) {
      const record = streamFor(synthetic.seed, synthetic.hops).at(synthetic.index);
      if (!record) throw new Error(`deepsearch: task ${JSON.stringify(taskId)} was discarded at generation (its walk dead-ended, repeated a question, or the expert could not solve it)`);
      return remember(record);
    }
    throw new Error(`deepsearch: unknown task id ${JSON.stringify(taskId)} (ids look like deepsearch/single/train/0007 or deepsearch/synthetic/g0h1/00012)`);
  };

  // Wrong answers and wrong bridges for the noisy expert come from the same question family.
  const pools = new Map<string, ExpertPools>();
  const poolsFor = (record: QaRecord): ExpertPools => {
    let pool = pools.get(record.family);
    if (!pool) {
      const family = [...records.values()].map((r) => r.record).filter((r) => r.family === record.family && r.answerable);
      pool = {
        answers: [...new Set(family.map((r) => r.goldenAnswers[0]))],
        bridges: [...new Set(family.flatMap((r) => r.hops.slice(0, -1).map((h) => h.answer)))],
      };
      if (pool.bridges.length === 0) pool.bridges = pool.answers;
      pools.set(record.family, pool);
    }
    return pool;
  };

  const settings: EpisodeSettings = {
    maxTurns: opts.maxTurns,
    topK: opts.topK,
    snippetChars: opts.snippetChars,
    maxContextChars: opts.maxContextChars,
    formatPenalty: opts.formatPenalty,
  };

  return {
    name: 'deepsearch',
    maxTurns: opts.maxTurns,
    actionStops: ACTION_STOPS,
    world,
    corpus: passages,
    index,
    splits: () => [...infos.keys()],
    tasks(split: string): TaskInfo[] {
      const list = infos.get(split);
      if (!list) throw new Error(`deepsearch: unknown split ${JSON.stringify(split)}; splits are ${[...infos.keys()].join(', ')}`);
      return list;
    },
    task: (taskId: string) => entry(taskId).info,
    record: (taskId: string) => entry(taskId).record,
    search: (query: string, k = opts.topK) => index.query(query, k),
    createEpisode(taskId: string, _seed: number, episodeOpts?: { maxTurns?: number }): DeepSearchEpisode {
      const { record, info } = entry(taskId);
      const maxTurns = episodeOpts?.maxTurns ?? opts.maxTurns;
      if (!Number.isInteger(maxTurns) || maxTurns < 1 || maxTurns > opts.maxTurns) {
        throw new Error(`deepsearch: maxTurns must be an integer in [1, ${opts.maxTurns}], got ${maxTurns}`);
      }
      // Search is deterministic, so the episode seed changes nothing here; it is accepted for the interface.
      return new DeepSearchEpisode(info, record, index, { ...settings, maxTurns });
    },
    syntheticTasks: (seed, count, hops) => streamFor(seed, hops).first(count).records.map((r) => remember(r).info),
    expert(taskId: string, expertOpts: ExpertOptions): Agent {
      const { record } = entry(taskId);
      return scriptedExpert(record, expertOpts, poolsFor(record));
    },
  };
}

/** DeepSearch agentic-RAG environment (DESIGN section 6): public API. */
export { createDeepSearchEnvironment } from './environment';
export type { DeepSearchEnvironment, DeepSearchOptions } from './environment';
export { UNANSWERABLE_ANSWER, coverEm, exactMatch, f1, normalizeAnswer } from './answers';
export { generateWorld, RELATIONS } from './world';
export type { Entity, EntityKind, Relation, World } from './world';
export { corpusHash, loadCorpusJsonl, parseCorpusJsonl, parseCorpusLine, renderCorpus, toCorpusJsonl } from './corpus';
export type { Passage, RenderedCorpus } from './corpus';
export { generateQuestions, DEFAULT_SPLIT_SIZES } from './questions';
export type { Hop, QaRecord, QuestionFamily, QuestionOptions, SplitSizes } from './questions';
export {
  loadMusiqueJsonl,
  loadMusiqueParagraphs,
  loadSearchR1Jsonl,
  musiqueParagraphs,
  parseMusiqueJsonl,
  parseSearchR1Jsonl,
} from './qaLoaders';
export { Bm25Index, DEFAULT_CACHE_DIR } from './search';
export type { IndexStats, SearchHit } from './search';
export { ACTION_STOPS, parseAction, promptFor, snippet } from './protocol';
export type { ParsedAction } from './protocol';
export { DeepSearchEpisode } from './episode';
export type { EpisodeSettings, Segment, SegmentKind } from './episode';
export { randomAgent, scriptedExpert } from './expert';
export type { ExpertPools } from './expert';
export { OpenAiCompatibleJudge, judgeEpisode, judgePrompt } from './judge';
export type { OpenAiJudgeOptions, SemanticJudge, SemanticJudgeInput } from './judge';
export { generateDeepSearchQuestions, syntheticSourceOf, SYNTHETIC_SPLIT } from './synthetic';
export type { SyntheticQuestions, SyntheticSource } from './synthetic';

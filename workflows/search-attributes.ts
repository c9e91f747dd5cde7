/**
 * The custom search attributes every training run carries, so the Temporal UI can filter and sort runs.
 * The dev server's SQLite visibility allows at most 10 Keyword, 3 Int, 3 Double and 3 Bool attributes.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RatchetRunId = defineSearchAttributeKey('RatchetRunId', SearchAttributeType.KEYWORD);
export const RatchetEnv = defineSearchAttributeKey('RatchetEnv', SearchAttributeType.KEYWORD);
export const RatchetAlgorithm = defineSearchAttributeKey('RatchetAlgorithm', SearchAttributeType.KEYWORD);
export const RatchetStep = defineSearchAttributeKey('RatchetStep', SearchAttributeType.INT);
export const RatchetPolicyVersion = defineSearchAttributeKey('RatchetPolicyVersion', SearchAttributeType.INT);
export const RatchetMeanReward = defineSearchAttributeKey('RatchetMeanReward', SearchAttributeType.DOUBLE);
export const RatchetSuccessRate = defineSearchAttributeKey('RatchetSuccessRate', SearchAttributeType.DOUBLE);
export const RatchetPaused = defineSearchAttributeKey('RatchetPaused', SearchAttributeType.BOOL);

export const RATCHET_SEARCH_ATTRIBUTES = [
  RatchetRunId,
  RatchetEnv,
  RatchetAlgorithm,
  RatchetStep,
  RatchetPolicyVersion,
  RatchetMeanReward,
  RatchetSuccessRate,
  RatchetPaused,
] as const;

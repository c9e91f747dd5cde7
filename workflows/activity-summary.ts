/**
 * One line per activity call for the Temporal UI's event list (the activity's user-metadata summary), so each
 * row says which step, shard and policy version it belongs to: "step 12/30 · rolloutBatch shard 1/2 · v11".
 * Step numbers count from 1, like RatchetStep and the workflow's details once the step is done.
 */
import type { RunConfig } from '../config/run-config';

type Fields = {
  step?: number;
  shard?: number;
  round?: number;
  status?: string;
  stepsCompleted?: number;
  policy?: { version?: number };
  policyVersion?: number;
  checkpoint?: { version?: number };
  split?: string;
  mode?: string;
  k?: number;
};

export function activitySummary(name: string, input: object, config: RunConfig): string {
  const f = input as Fields;
  const version = f.policy?.version ?? f.policyVersion;
  const parts: string[] = [];
  if (name === 'evaluatePolicy' || name === 'recordEvaluation') {
    if (f.step !== undefined) parts.push(`after step ${f.step}/${config.steps}`);
    parts.push([name, f.split, f.mode === 'pass@k' ? `pass@${f.k}` : f.mode].filter(Boolean).join(' '));
  } else if (name === 'recordRun') {
    parts.push(`recordRun ${f.status ?? ''}`.trim(), `${f.stepsCompleted ?? 0}/${config.steps} steps`);
  } else {
    if (f.step !== undefined) parts.push(`step ${f.step + 1}/${config.steps}`);
    let what = name;
    if (f.shard !== undefined) what += ` shard ${f.shard + 1}${f.shard < config.rolloutShards ? `/${config.rolloutShards}` : ''}`;
    if (f.round) what += ` round ${f.round + 1}`;
    parts.push(what);
  }
  if (name === 'updatePolicy' && version !== undefined) parts.push(`v${version} → v${version + 1}`);
  else if (name === 'syncWeights' && f.checkpoint?.version !== undefined) parts.push(`publish v${f.checkpoint.version}`);
  else if (version !== undefined) parts.push(`v${version}`);
  return parts.join(' · ');
}

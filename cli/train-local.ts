/** `ratchet train-local <config>`: the same run without Temporal or Postgres (trainer/in-process.ts). */
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { trainInProcess } from '../trainer/in-process';
import type { RunConfig } from '../config/run-config';
import { learningWarnings, nextFlatSteps } from '../workflows/learning-warnings';

export async function trainLocal(config: RunConfig): Promise<void> {
  let flatSteps = 0;
  const result = await trainInProcess(config, artifactStoreFromEnv(), {
    log: (line) => console.log(line),
    onStep: (s) => {
      flatSteps = nextFlatSteps(flatSteps, s);
      console.log(
        `step ${s.step + 1}/${config.steps}  v${s.policyVersion}  reward ${s.meanReward.toFixed(3)}  success ${(100 * s.successRate).toFixed(1)}%  ` +
          `entropy ${s.entropy.toFixed(3)}  clip ${s.clipFraction.toFixed(3)}  ${Object.entries(s.phaseMs)
            .map(([k, v]) => `${k} ${v}ms`)
            .join(' ')}`,
      );
      // The same warning the workflow shows when no group has a signal (workflows/learning-warnings.ts).
      for (const warning of learningWarnings(flatSteps, config.steps, s)) console.log(`warning: ${warning}`);
    },
  });
  console.log(`final policy v${result.policy.version}: ${result.policy.key} (${result.policy.sha256})`);
}

/**
 * updatePolicy's domain half: PPO epochs over the step's turn segments. The actor's loss is rl/'s
 * `ppoActorLoss` (clipped ratio, entropy bonus, KL to the reference); the critic's is `clippedValueLoss`.
 *
 * A minibatch row is one turn (prompt ++ action), so the seq-mean aggregation modes average over turns.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../common/random';
import { logProbsAndEntropyAt, valuesAt } from '../policy/heads';
import type { Model } from '../policy/model';
import { AdamW, optimizerStep } from '../policy/optim';
import { clippedValueLoss, Matrix, ppoActorLoss } from '../rl';
import type { Advantages } from './advantages';
import type { AgentTraining } from './config';
import type { Scores } from './score';
import { buildSegments, segmentBatch, toSegments } from './segments';
import type { Trajectory } from './trajectory';

export interface UpdateModels {
  policy: Model;
  policyOptimizer: AdamW;
  critic?: Model;
  criticOptimizer?: AdamW;
}

export interface UpdateMetrics {
  policyLoss: number;
  clipFraction: number;
  /** k1 estimate of KL(π_old‖π_θ) over the last minibatch. */
  ppoKl: number;
  /** KL(π_θ‖π_ref) term (when the reference is used as a loss). */
  refKl: number;
  entropy: number;
  gradNorm: number;
  valueLoss: number;
  optimizerSteps: number;
  trainedTokens: number;
}

export interface UpdateOptions {
  settings: Pick<AgentTraining, 'ppo' | 'kl'>;
  learningRate: number;
  seed: number;
  /** Called after every optimizer step (activities heartbeat here and honour cancellation). */
  onProgress?: (done: number, total: number) => void | Promise<void>;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export async function ppoUpdate(
  models: UpdateModels,
  trajectories: readonly Trajectory[],
  scores: Scores,
  advantages: Advantages,
  opts: UpdateOptions,
): Promise<UpdateMetrics> {
  const { ppo, kl } = opts.settings;
  const keep = new Set(advantages.keep);
  const segments = buildSegments(trajectories).filter((s) => keep.has(s.trajectory));
  const rng = new Rng(opts.seed).fork('ppo/minibatches');
  const useRefKl = kl.mode === 'loss' && kl.coef > 0 && scores.refLogProbs !== undefined;
  const minibatches = Math.ceil(segments.length / ppo.minibatchSegments);
  const total = ppo.epochs * minibatches;
  const history = { policyLoss: [] as number[], clip: [] as number[], ppoKl: [] as number[], refKl: [] as number[], entropy: [] as number[], grad: [] as number[], value: [] as number[] };
  let trainedTokens = 0;
  let done = 0;

  for (let epoch = 0; epoch < ppo.epochs; epoch++) {
    const order = rng.shuffle(segments);
    for (let m = 0; m < minibatches; m++) {
      const part = order.slice(m * ppo.minibatchSegments, (m + 1) * ppo.minibatchSegments);
      const batch = segmentBatch(part);
      const rows = (x: Matrix) => tf.tensor2d(toSegments(x, part), undefined, 'float32');
      const mask = tf.tensor2d(batch.mask, undefined, 'float32');
      const oldLogProbs = rows(scores.oldLogProbs);
      const adv = rows(advantages.advantages);
      const refLogProbs = useRefKl ? rows(scores.refLogProbs!) : undefined;

      let stats: number[] = [];
      const step = optimizerStep(
        models.policy,
        models.policyOptimizer,
        () => {
          const { logProbs, entropy } = logProbsAndEntropyAt(models.policy, batch); // [B,A]
          const out = ppoActorLoss(
            { logProbs, oldLogProbs, advantages: adv, mask, entropy, refLogProbs },
            {
              clipLow: ppo.clipLow,
              clipHigh: ppo.clipHigh,
              dualClip: ppo.dualClip,
              aggregation: ppo.aggregation,
              entropyCoef: ppo.entropyCoef,
              klCoef: useRefKl ? kl.coef : 0,
              klEstimator: kl.estimator,
            },
          );
          stats = [out.policyLoss, out.clipFraction, out.ppoKl, out.kl, out.entropy].map((s) => s.dataSync()[0]);
          return out.loss;
        },
        { learningRate: opts.learningRate, maxGradNorm: ppo.maxGradNorm },
      );
      history.policyLoss.push(stats[0]);
      history.clip.push(stats[1]);
      history.ppoKl.push(stats[2]);
      history.refKl.push(stats[3]);
      history.entropy.push(stats[4]);
      history.grad.push(step.gradNorm);

      if (models.critic && models.criticOptimizer && advantages.returns && scores.values) {
        const returns = rows(advantages.returns);
        const oldValues = rows(scores.values);
        const critic = models.critic;
        const valueStep = optimizerStep(
          critic,
          models.criticOptimizer,
          () => clippedValueLoss({ values: valuesAt(critic, batch), oldValues, returns, mask }, { clipRange: ppo.valueClip, aggregation: ppo.aggregation }).loss,
          { learningRate: ppo.criticLearningRate, maxGradNorm: ppo.maxGradNorm },
        );
        history.value.push(valueStep.loss);
        tf.dispose([returns, oldValues]);
      }
      tf.dispose([mask, oldLogProbs, adv, ...(refLogProbs ? [refLogProbs] : [])]);
      trainedTokens += batch.tokens;
      done++;
      await opts.onProgress?.(done, total);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return {
    policyLoss: mean(history.policyLoss),
    clipFraction: mean(history.clip),
    ppoKl: history.ppoKl.at(-1) ?? 0,
    refKl: mean(history.refKl),
    entropy: mean(history.entropy),
    gradNorm: mean(history.grad),
    valueLoss: mean(history.value),
    optimizerSteps: done,
    trainedTokens,
  };
}

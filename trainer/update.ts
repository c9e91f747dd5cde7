/**
 * updatePolicy's domain half: PPO epochs over the step's turn segments. The actor's loss is rl/'s
 * `ppoActorLoss` (clipped ratio, entropy bonus, KL to the reference); the critic's is `clippedValueLoss`.
 *
 * A minibatch row is one turn (prompt ++ action), but a sequence of the seq-mean aggregation modes is one
 * trajectory: all the action tokens of its turns in the minibatch. So seq-mean-token-mean averages each
 * trajectory's loss over its own action tokens (LOOP), and a trajectory does not weigh by its number of turns.
 * Every normaliser (tokens, trajectories, each trajectory's tokens, Dr.GRPO's C = `ppo.normLength`) is counted
 * over the whole minibatch before it is split into micro-batches, so the loss, the accumulated gradient and
 * every metric are the same however it is split.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../common/random';
import { logProbsAndEntropyAt, valuesAt } from '../policy/heads';
import { lossTemperature } from '../policy/temperature';
import type { Model } from '../policy/model';
import { AdamW, clipByGlobalNorm, gradients } from '../policy/optim';
import { AggregationOptions, aggregationForParts, clippedValueLoss, Matrix, ppoActorLoss } from '../rl';
import type { Advantages } from './advantages';
import type { AgentTraining } from '../config/agent';
import type { Scores } from './score';
import { buildSegments, byLength, Segment, segmentBatch, toSegments } from './segments';
import type { Trajectory } from './trajectory';

export interface UpdateModels {
  policy: Model;
  policyOptimizer: AdamW;
  critic?: Model;
  criticOptimizer?: AdamW;
}

/** Each a mean over the update's minibatches of the minibatch's value (ppoKl: the last one's). */
export interface UpdateMetrics {
  /** pg_loss, aggregated with `ppo.aggregation`. */
  policyLoss: number;
  /** Share of action tokens where the clipped branch is active. */
  clipFraction: number;
  /** k1 estimate of KL(π_old‖π_θ), token mean over the last minibatch. */
  ppoKl: number;
  /** The KL(π_θ‖π_ref) loss term, aggregated with `ppo.aggregation` (0 unless the reference is used as a loss). */
  refKl: number;
  /** The entropy term, aggregated with `ppo.aggregation`. */
  entropy: number;
  gradNorm: number;
  valueLoss: number;
  optimizerSteps: number;
  trainedTokens: number;
}

export interface UpdateOptions {
  settings: Pick<AgentTraining, 'ppo' | 'kl' | 'sampling'>;
  learningRate: number;
  seed: number;
  /** Called after every optimizer step (activities heartbeat here and honour cancellation). */
  onProgress?: (done: number, total: number) => void | Promise<void>;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const read = (x: tf.Scalar) => x.dataSync()[0];
const chunk = <T>(xs: T[], size: number): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

/** Row-space numbers as [b,A] tensors for some segments, and their action mask. Call inside a tape/tidy. */
function inputsOf(segments: Segment[], mask: number[][]) {
  return {
    mask: tf.tensor2d(mask, undefined, 'float32'),
    rows: (x: Matrix) => tf.tensor2d(toSegments(x, segments), undefined, 'float32'),
  };
}

/** A micro-batch's aggregation options, from counts over its whole minibatch; a sequence is one trajectory. */
function minibatchAggregation(part: Segment[], normLength: number): (piece: Segment[]) => AggregationOptions {
  const forParts = aggregationForParts(part.map((s) => s.trajectory), part.map((s) => s.actionLength), normLength);
  return (piece) => forParts(piece.map((s) => s.trajectory));
}

/** Σ over micro-batches of ∇loss, by weight name (each loss already carries the minibatch normalisation). */
function accumulate(model: Model, micro: Segment[][], loss: (piece: Segment[]) => tf.Scalar): Record<string, tf.Tensor> {
  let total: Record<string, tf.Tensor> = {};
  for (const piece of micro) {
    const { grads } = gradients(model, () => loss(piece));
    const summed = Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, total[name] ? tf.add(total[name], g) : g.clone()]));
    tf.dispose([...Object.values(total), ...Object.values(grads)]);
    total = summed;
  }
  return total;
}

/** Global-norm clipping, then one AdamW step; returns the norm before clipping. */
function applyGradients(model: Model, optimizer: AdamW, grads: Record<string, tf.Tensor>, learningRate: number, maxGradNorm: number): number {
  const { grads: clipped, norm } = clipByGlobalNorm(grads, maxGradNorm);
  optimizer.apply(clipped, learningRate);
  tf.dispose([...Object.values(grads), ...Object.values(clipped)]);
  return norm;
}

export async function ppoUpdate(
  models: UpdateModels,
  trajectories: readonly Trajectory[],
  scores: Scores,
  advantages: Advantages,
  opts: UpdateOptions,
): Promise<UpdateMetrics> {
  const { ppo, kl } = opts.settings;
  const temperature = lossTemperature(opts.settings.sampling.temperature);
  const keep = new Set(advantages.keep);
  const segments = buildSegments(trajectories).filter((s) => keep.has(s.trajectory));
  const rng = new Rng(opts.seed).fork('ppo/minibatches');
  const useRefKl = kl.mode === 'loss' && kl.coef > 0 && scores.refLogProbs !== undefined;
  const minibatches = Math.ceil(segments.length / ppo.minibatchSegments);
  const total = ppo.epochs * minibatches;
  const history = { policyLoss: [] as number[], clipFraction: [] as number[], ppoKl: [] as number[], refKl: [] as number[], entropy: [] as number[], grad: [] as number[], value: [] as number[] };
  let trainedTokens = 0;
  let done = 0;

  for (let epoch = 0; epoch < ppo.epochs; epoch++) {
    const order = rng.shuffle(segments);
    for (let m = 0; m < minibatches; m++) {
      const part = order.slice(m * ppo.minibatchSegments, (m + 1) * ppo.minibatchSegments);
      // One optimizer step per minibatch, its gradient accumulated over micro-batches (memory stays bounded:
      // attention is [micro, heads, T, T]); losses are normalised by the whole minibatch's counts.
      const aggregationOf = minibatchAggregation(part, ppo.normLength);
      const micro = chunk(byLength(part), ppo.microbatchSegments); // similar lengths share a micro-batch: less padding
      // Each micro-batch's loss and metrics are its additive share of the minibatch's (whole-minibatch counts).
      const sums = { policyLoss: 0, clipFraction: 0, ppoKl: 0, refKl: 0, entropy: 0 };
      const actorGrads = accumulate(models.policy, micro, (piece) => {
        const batch = segmentBatch(piece);
        const t = inputsOf(piece, batch.mask);
        const { logProbs, entropy } = logProbsAndEntropyAt(models.policy, batch, temperature); // [b,A]
        const out = ppoActorLoss(
          {
            logProbs,
            oldLogProbs: t.rows(scores.oldLogProbs),
            advantages: t.rows(advantages.advantages),
            mask: t.mask,
            entropy,
            refLogProbs: useRefKl ? t.rows(scores.refLogProbs!) : undefined,
            behaviorWeights: scores.behaviorWeights && t.rows(scores.behaviorWeights),
          },
          {
            clipLow: ppo.clipLow,
            clipHigh: ppo.clipHigh,
            dualClip: ppo.dualClip,
            aggregation: ppo.aggregation,
            aggregationOptions: aggregationOf(piece),
            entropyCoef: ppo.entropyCoef,
            klCoef: useRefKl ? kl.coef : 0,
            klEstimator: kl.estimator,
          },
        );
        sums.policyLoss += read(out.policyLoss);
        sums.clipFraction += read(out.clipFraction);
        sums.ppoKl += read(out.ppoKl);
        sums.refKl += read(out.kl);
        sums.entropy += read(out.entropy);
        return out.loss;
      });
      history.grad.push(applyGradients(models.policy, models.policyOptimizer, actorGrads, opts.learningRate, ppo.maxGradNorm));
      for (const key of Object.keys(sums) as (keyof typeof sums)[]) history[key].push(sums[key]);

      if (models.critic && models.criticOptimizer && advantages.returns && scores.values) {
        const critic = models.critic;
        let valueLoss = 0;
        const criticGrads = accumulate(critic, micro, (piece) => {
          const batch = segmentBatch(piece);
          const t = inputsOf(piece, batch.mask);
          const loss = clippedValueLoss(
            { values: valuesAt(critic, batch), oldValues: t.rows(scores.values!), returns: t.rows(advantages.returns!), mask: t.mask },
            { clipRange: ppo.valueClip, aggregation: ppo.aggregation, aggregationOptions: aggregationOf(piece) },
          ).loss;
          valueLoss += read(loss);
          return loss;
        });
        applyGradients(critic, models.criticOptimizer, criticGrads, ppo.criticLearningRate, ppo.maxGradNorm);
        history.value.push(valueLoss);
      }
      trainedTokens += part.reduce((n, s) => n + s.actionLength, 0);
      done++;
      await opts.onProgress?.(done, total);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return {
    policyLoss: mean(history.policyLoss),
    clipFraction: mean(history.clipFraction),
    ppoKl: history.ppoKl.at(-1) ?? 0,
    refKl: mean(history.refKl),
    entropy: mean(history.entropy),
    gradNorm: mean(history.grad),
    valueLoss: mean(history.value),
    optimizerSteps: done,
    trainedTokens,
  };
}

/**
 * updatePolicy's domain half: PPO epochs over the step's turn segments. The actor's loss is rl/'s
 * `ppoActorLoss` (clipped ratio, entropy bonus, KL to the reference); the critic's is `clippedValueLoss`.
 *
 * A minibatch row is one turn (prompt ++ action), so the seq-mean aggregation modes average over turns.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../common/random';
import { logProbsAndEntropyAt, valuesAt } from '../policy/heads';
import { lossTemperature } from '../policy/temperature';
import type { Model } from '../policy/model';
import { AdamW, clipByGlobalNorm, gradients } from '../policy/optim';
import { clippedValueLoss, Matrix, ppoActorLoss } from '../rl';
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
  settings: Pick<AgentTraining, 'ppo' | 'kl' | 'sampling'>;
  learningRate: number;
  seed: number;
  /** Called after every optimizer step (activities heartbeat here and honour cancellation). */
  onProgress?: (done: number, total: number) => void | Promise<void>;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const chunk = <T>(xs: T[], size: number): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

/** Row-space numbers as [b,A] tensors for some segments, and their action mask. Call inside a tape/tidy. */
function inputsOf(segments: Segment[], mask: number[][]) {
  return {
    mask: tf.tensor2d(mask, undefined, 'float32'),
    rows: (x: Matrix) => tf.tensor2d(toSegments(x, segments), undefined, 'float32'),
  };
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
  const history = { policyLoss: [] as number[], clip: [] as number[], ppoKl: [] as number[], refKl: [] as number[], entropy: [] as number[], grad: [] as number[], value: [] as number[] };
  let trainedTokens = 0;
  let done = 0;

  for (let epoch = 0; epoch < ppo.epochs; epoch++) {
    const order = rng.shuffle(segments);
    for (let m = 0; m < minibatches; m++) {
      const part = order.slice(m * ppo.minibatchSegments, (m + 1) * ppo.minibatchSegments);
      // One optimizer step per minibatch, its gradient accumulated over micro-batches (memory stays bounded:
      // attention is [micro, heads, T, T]); losses are normalised by the whole minibatch's counts.
      const aggregationOptions = { tokenCount: part.reduce((n, s) => n + s.actionLength, 0), sequenceCount: part.length };
      const micro = chunk(byLength(part), ppo.microbatchSegments); // similar lengths share a micro-batch: less padding
      const stats = [0, 0, 0, 0, 0];
      const actorGrads = accumulate(models.policy, micro, (piece) => {
        const batch = segmentBatch(piece);
        const t = inputsOf(piece, batch.mask);
        const { logProbs, entropy } = logProbsAndEntropyAt(models.policy, batch, temperature); // [b,A]
        const out = ppoActorLoss(
          { logProbs, oldLogProbs: t.rows(scores.oldLogProbs), advantages: t.rows(advantages.advantages), mask: t.mask, entropy, refLogProbs: useRefKl ? t.rows(scores.refLogProbs!) : undefined },
          {
            clipLow: ppo.clipLow,
            clipHigh: ppo.clipHigh,
            dualClip: ppo.dualClip,
            aggregation: ppo.aggregation,
            aggregationOptions,
            entropyCoef: ppo.entropyCoef,
            klCoef: useRefKl ? kl.coef : 0,
            klEstimator: kl.estimator,
          },
        );
        // Sums over micro-batches: the loss terms are already scaled by the minibatch's counts; the
        // per-token rates (clip fraction, KL, entropy) are weighted by the micro-batch's share of tokens.
        const share = batch.tokens / aggregationOptions.tokenCount;
        [out.policyLoss, out.clipFraction, out.ppoKl, out.kl, out.entropy].forEach((x, i) => (stats[i] += i === 0 ? x.dataSync()[0] : share * x.dataSync()[0]));
        return out.loss;
      });
      history.grad.push(applyGradients(models.policy, models.policyOptimizer, actorGrads, opts.learningRate, ppo.maxGradNorm));
      history.policyLoss.push(stats[0]);
      history.clip.push(stats[1]);
      history.ppoKl.push(stats[2]);
      history.refKl.push(stats[3]);
      history.entropy.push(stats[4]);

      if (models.critic && models.criticOptimizer && advantages.returns && scores.values) {
        const critic = models.critic;
        let valueLoss = 0;
        const criticGrads = accumulate(critic, micro, (piece) => {
          const batch = segmentBatch(piece);
          const t = inputsOf(piece, batch.mask);
          const loss = clippedValueLoss(
            { values: valuesAt(critic, batch), oldValues: t.rows(scores.values!), returns: t.rows(advantages.returns!), mask: t.mask },
            { clipRange: ppo.valueClip, aggregation: ppo.aggregation, aggregationOptions },
          ).loss;
          valueLoss += loss.dataSync()[0];
          return loss;
        });
        applyGradients(critic, models.criticOptimizer, criticGrads, ppo.criticLearningRate, ppo.maxGradNorm);
        history.value.push(valueLoss);
      }
      trainedTokens += aggregationOptions.tokenCount;
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

import { artifactKeys } from '../../../common/artifact-keys';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore, sha256 } from '../../../common/artifacts';
import { initBackend } from '../../../policy/backend';
import {
  Checkpoint,
  CheckpointIntegrityError,
  deserializeCheckpoint,
  loadCheckpoint,
  modelState,
  restoreModel,
  saveCheckpoint,
  serializeCheckpoint,
} from '../../../policy/checkpoint';
import { createCritic, createPolicy, getWeights, Model, tokenLogProbs } from '../../../policy/model';
import { AdamW, optimizerStep } from '../../../policy/optim';
import { makeSftBatch } from '../../../policy/sft';
import { copyLookupExamples } from '../../../policy/synthetic';
import { TINY } from './helpers';

const examples = copyLookupExamples(16, 3);

function trainSteps(model: Model, optimizer: AdamW, from: number, to: number): void {
  for (let step = from; step < to; step++) {
    const batch = makeSftBatch(examples.slice((step * 4) % 16, (step * 4) % 16 + 4), TINY.contextLength);
    optimizerStep(model, optimizer, () => tf.tidy(() => tokenLogProbs(model, batch.inputs, batch.targets).mean().neg() as tf.Scalar), {
      learningRate: 1e-2,
      maxGradNorm: 1,
    });
  }
}

describe('checkpoints', () => {
  let dir: string;
  let store: LocalArtifactStore;
  beforeAll(async () => {
    await initBackend({ quiet: true });
    dir = mkdtempSync(join(tmpdir(), 'ratchet-ckpt-'));
    store = new LocalArtifactStore(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function snapshot(policy: Model, optimizer: AdamW, step: number): Checkpoint {
    const critic = createCritic(TINY, 2);
    return { step, models: { policy: modelState(policy, optimizer), critic: modelState(critic) }, rng: { seed: 5 }, meta: { run: 'r1', note: 'x' } };
  }

  test('serialization is deterministic and round-trips every tensor, the optimiser and the step', () => {
    const policy = createPolicy(TINY, 1);
    const optimizer = new AdamW(policy.weights);
    trainSteps(policy, optimizer, 0, 2);
    const bytes = serializeCheckpoint(snapshot(policy, optimizer, 2));
    expect(sha256(serializeCheckpoint(snapshot(policy, optimizer, 2)))).toBe(sha256(bytes));
    const back = deserializeCheckpoint(bytes);
    expect(back.step).toBe(2);
    expect(back.rng).toEqual({ seed: 5 });
    expect(back.models.policy.optimizer!.step).toBe(2);
    expect(Buffer.from(serializeCheckpoint(back)).equals(Buffer.from(bytes))).toBe(true);
    expect(Array.from(back.models.policy.weights['h.1.mlp.w2'].data)).toEqual(Array.from(getWeights(policy)['h.1.mlp.w2'].data));
  });

  test('resuming from a checkpoint gives bit-identical weights to an uninterrupted run', async () => {
    const straight = createPolicy(TINY, 1);
    const straightOpt = new AdamW(straight.weights);
    trainSteps(straight, straightOpt, 0, 4);

    const first = createPolicy(TINY, 1);
    const firstOpt = new AdamW(first.weights);
    trainSteps(first, firstOpt, 0, 2);
    const ref = await saveCheckpoint(store, artifactKeys.checkpoint('resume', 2), snapshot(first, firstOpt, 2));
    expect(ref.key).toBe('runs/resume/checkpoints/v000002.ckpt');
    const loaded = await loadCheckpoint(store, ref);
    const { model: resumed, optimizer: resumedOpt } = restoreModel(loaded.models.policy);
    trainSteps(resumed, resumedOpt!, loaded.step, 4);

    const a = serializeCheckpoint({ step: 4, models: { policy: modelState(straight, straightOpt) }, rng: null });
    const b = serializeCheckpoint({ step: 4, models: { policy: modelState(resumed, resumedOpt) }, rng: null });
    expect(sha256(b)).toBe(sha256(a));
  });

  test('a checkpoint whose hash does not match is refused with a clear error', async () => {
    const policy = createPolicy(TINY, 1);
    const ref = await saveCheckpoint(store, artifactKeys.checkpoint('tamper', 1), { step: 1, models: { policy: modelState(policy) }, rng: null });
    // wrong expected hash
    await expect(loadCheckpoint(store, { key: ref.key, sha256: '0'.repeat(64) })).rejects.toThrow(CheckpointIntegrityError);
    // bytes changed on disk behind the store's back
    const file = join(dir, ...ref.key.split('/'));
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(loadCheckpoint(store, ref)).rejects.toThrow(/sha256 .* does not match the expected .*refusing to load it/);
    await expect(loadCheckpoint(store, { key: ref.key })).rejects.toThrow(CheckpointIntegrityError);
    // damaged bytes given directly: the header's own data hash catches it
    expect(() => deserializeCheckpoint(new Uint8Array(bytes))).toThrow(/tensor data sha256/);
    expect(() => deserializeCheckpoint(new Uint8Array([1, 2, 3]))).toThrow(/not a Ratchet checkpoint/);
  });
});

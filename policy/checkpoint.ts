/**
 * Checkpoints: the models of a run (policy, critic, ...) with their optimiser state, the RNG state and the step,
 * as one deterministic byte string (same state -> same bytes -> same sha256) in an ArtifactStore.
 *
 * Layout: magic `RATCHETCKPT1\n`, a uint32 (LE) header length, the header as canonical JSON (sorted keys), then
 * every tensor's float32 little-endian bytes in header order. The header carries the sha256 of the tensor bytes,
 * so a damaged file is refused even without the store's hash; a store read whose sha256 differs from the
 * expected one is refused too.
 */
import { ArtifactIntegrityError, ArtifactRef, ArtifactStore, sha256 } from '../common/artifacts';
import { concatTyped } from '../common/arrays';
import { getWeights, Model, ModelConfig, ModelKind, modelFromWeights, WeightArrays, weightShapes } from './model';
import { AdamW, OptimizerState } from './optim';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ModelState {
  kind: ModelKind;
  config: ModelConfig;
  weights: WeightArrays;
  optimizer?: OptimizerState;
}

export interface Checkpoint {
  step: number;
  /** By role: `policy`, `critic`, ... */
  models: Record<string, ModelState>;
  /**
   * RNG state as JSON. common/random.ts streams are derived, not stored: a trainer that draws from
   * `new Rng(seed).fork(step)` resumes exactly from `{ seed }` and `step`.
   */
  rng: JsonValue;
  meta?: JsonValue;
}

export class CheckpointIntegrityError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`checkpoint ${key}: ${detail}; refusing to load it`);
    this.name = 'CheckpointIntegrityError';
  }
}

const MAGIC = 'RATCHETCKPT1\n';

/** JSON with object keys sorted at every level, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

/** A model's weights (and optimiser state, when given) for a checkpoint. */
export function modelState(model: Model, optimizer?: AdamW): ModelState {
  return { kind: model.kind, config: { ...model.config }, weights: getWeights(model), optimizer: optimizer?.getState() };
}

/** Rebuild a trainable model and, when the checkpoint has one, its optimiser. */
export function restoreModel(state: ModelState): { model: Model; optimizer?: AdamW } {
  const model = modelFromWeights(state.config, state.kind, state.weights);
  if (!state.optimizer) return { model };
  const optimizer = new AdamW(model.weights, state.optimizer.config);
  optimizer.setState(state.optimizer);
  return { model, optimizer };
}

interface TensorEntry {
  name: string;
  shape: number[];
}

export function serializeCheckpoint(ckpt: Checkpoint): Uint8Array {
  const tensors: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  const add = (name: string, array: { shape: number[]; data: Float32Array }) => {
    tensors.push({ name, shape: array.shape });
    chunks.push(array.data);
  };
  const models: Record<string, JsonValue> = {};
  for (const role of Object.keys(ckpt.models).sort()) {
    const state = ckpt.models[role];
    const names = Object.keys(weightShapes(state.config, state.kind));
    for (const name of names) add(`${role}/weights/${name}`, state.weights[name]);
    if (state.optimizer) {
      for (const name of names) add(`${role}/adam.m/${name}`, state.optimizer.firstMoment[name]);
      for (const name of names) add(`${role}/adam.v/${name}`, state.optimizer.secondMoment[name]);
    }
    const optimizer = state.optimizer ? { step: state.optimizer.step, config: { ...state.optimizer.config } } : null;
    models[role] = { kind: state.kind, config: { ...state.config }, optimizer };
  }
  const data = concatBytes(chunks.map(littleEndianBytes));
  const header = canonicalJson({ format: 1, step: ckpt.step, rng: ckpt.rng, meta: ckpt.meta ?? null, models, tensors, dataSha256: sha256(data) });
  const headerBytes = new TextEncoder().encode(header);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, headerBytes.length, true);
  return concatBytes([new TextEncoder().encode(MAGIC), length, headerBytes, data]);
}

export function deserializeCheckpoint(bytes: Uint8Array, key = '(bytes)'): Checkpoint {
  const magic = new TextEncoder().encode(MAGIC);
  if (bytes.length < magic.length + 4 || !magic.every((b, i) => bytes[i] === b)) throw new CheckpointIntegrityError(key, 'not a Ratchet checkpoint');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset + magic.length, 4).getUint32(0, true);
  const headerStart = magic.length + 4;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength)));
  const data = bytes.subarray(headerStart + headerLength);
  const actual = sha256(data);
  if (actual !== header.dataSha256) throw new CheckpointIntegrityError(key, `tensor data sha256 ${actual} does not match its header's ${header.dataSha256}`);

  const arrays: Record<string, { shape: number[]; data: Float32Array }> = {};
  let offset = 0;
  for (const { name, shape } of header.tensors as TensorEntry[]) {
    const count = shape.reduce((a, b) => a * b, 1);
    const view = new DataView(data.buffer, data.byteOffset + offset, count * 4);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
    arrays[name] = { shape, data: values };
    offset += count * 4;
  }
  const models: Record<string, ModelState> = {};
  for (const [role, info] of Object.entries(header.models as Record<string, { kind: ModelKind; config: ModelConfig; optimizer: { step: number; config: OptimizerState['config'] } | null }>)) {
    const pick = (section: string): WeightArrays =>
      Object.fromEntries(Object.keys(weightShapes(info.config, info.kind)).map((name) => [name, arrays[`${role}/${section}/${name}`]]));
    models[role] = { kind: info.kind, config: info.config, weights: pick('weights') };
    if (info.optimizer) {
      models[role].optimizer = { ...info.optimizer, firstMoment: pick('adam.m'), secondMoment: pick('adam.v') };
    }
  }
  return { step: header.step, models, rng: header.rng, meta: header.meta ?? undefined };
}

export async function saveCheckpoint(store: ArtifactStore, key: string, ckpt: Checkpoint): Promise<ArtifactRef> {
  return store.put(key, serializeCheckpoint(ckpt));
}

/** Load and verify; a sha256 that differs from `ref.sha256` (or from the stored hash) is refused. */
export async function loadCheckpoint(store: ArtifactStore, ref: { key: string; sha256?: string }): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(ref.key, ref.sha256);
  } catch (err) {
    if (err instanceof ArtifactIntegrityError) {
      throw new CheckpointIntegrityError(ref.key, `sha256 ${err.actual} does not match the expected ${err.expected} (corrupted or replaced)`);
    }
    throw err;
  }
  return deserializeCheckpoint(bytes, ref.key);
}

function littleEndianBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  return concatTyped(parts, (n) => new Uint8Array(n));
}

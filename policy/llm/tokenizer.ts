/**
 * The LLM policy's tokenizer on the TypeScript side (issue 27): one tokenizer, so the token IDs a rollout
 * samples are the IDs the Python trainer consumes.
 *
 * The files are the ones the Python side exports (`python -m ratchet_torch.tokenizer export`, transformers'
 * GGUF converter + `save_pretrained`, plus the pre-tokenizer fix described in workers/torch/ratchet_torch/
 * tokenizer.py): tokenizer.json, tokenizer_config.json, chat_template.jinja. TypeScript loads them with
 * @huggingface/tokenizers (the maintained tokenizer code of transformers.js) and renders the chat template with
 * @huggingface/jinja; the trainer loads the same directory with `ratchet_torch.tokenizer.load_tokenizer`.
 * test/unit/llm/tokenizer-parity.test.ts checks the two give identical IDs (and agree with llama.cpp's tokenizer
 * when node-llama-cpp is installed).
 *
 * Exports live in `.data/models/<name>/tokenizer/` for a registered model and `.data/models/local/<key>/tokenizer/`
 * for a local GGUF; a Hugging Face directory that has a tokenizer.json is used as it is.
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { sha256 } from '../../common/artifacts';
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWorkerModule } from '../../infra/python';
import { modelsDir, type ResolvedModel } from './models';

export interface ChatMessage {
  role: string;
  content: string;
}

/** `EXPORT_VERSION` in workers/torch/ratchet_torch/tokenizer.py: an export made by another version is redone. */
export const TOKENIZER_EXPORT_VERSION = 1;

/** What `ratchet_torch.tokenizer export` writes beside the tokenizer files. */
export interface TokenizerManifest {
  exportVersion: number;
  source: string;
  format: 'gguf' | 'hf';
  transformers: string;
  tokenizers: string;
  vocab_size: number;
  pre_tokenizer_fix?: string | null;
  /** For a local source: its size and mtime when exported (a changed file is exported again). */
  sourceBytes?: number;
  sourceMtimeMs?: number;
}

interface TokenizerConfig {
  bos_token?: string | null;
  eos_token?: string | null;
  pad_token?: string | null;
  unk_token?: string | null;
  chat_template?: string;
  [key: string]: unknown;
}

export class LlmTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly template?: Template;
  /** Every special (added, `special: true`) token's ID. */
  readonly specialIds: ReadonlySet<number>;
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  /** Generation stops at any of these: the EOS token, and `<|endoftext|>` / `<|im_end|>` where the vocabulary has them. */
  readonly stopIds: readonly number[];
  /** sha256 of tokenizer.json: names the exact tokenizer (a trajectory's IDs are only meaningful under it). */
  readonly sha256: string;

  constructor(
    tokenizerJson: string,
    readonly config: TokenizerConfig,
    readonly chatTemplate?: string,
    readonly dir?: string,
  ) {
    const json = JSON.parse(tokenizerJson) as { added_tokens?: { id: number; special: boolean }[]; model?: { vocab?: Record<string, number> } };
    this.tokenizer = new Tokenizer(json, config);
    this.sha256 = sha256(tokenizerJson);
    const added = json.added_tokens ?? [];
    this.specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    const ids = [...Object.values(json.model?.vocab ?? {}), ...added.map((t) => t.id)];
    this.vocabSize = ids.length ? Math.max(...ids) + 1 : 0;
    const idOf = (token: string | null | undefined) => (token ? this.tokenizer.token_to_id(token) : undefined);
    this.bosId = idOf(config.bos_token);
    this.eosId = idOf(config.eos_token);
    this.padId = idOf(config.pad_token);
    const stops = [this.eosId, idOf('<|im_end|>'), idOf('<|endoftext|>')].filter((id): id is number => id !== undefined);
    this.stopIds = [...new Set(stops)];
    const template = chatTemplate ?? config.chat_template;
    if (template) this.template = new Template(template);
  }

  /** Load an exported tokenizer directory (or any Hugging Face directory with tokenizer.json). */
  static fromDir(dir: string): LlmTokenizer {
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new Error(`${dir} has no tokenizer.json`);
    const configFile = join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, 'utf8')) as TokenizerConfig) : {};
    const templateFile = join(dir, 'chat_template.jinja');
    const chatTemplate = existsSync(templateFile) ? readFileSync(templateFile, 'utf8') : typeof config.chat_template === 'string' ? config.chat_template : undefined;
    return new LlmTokenizer(readFileSync(file, 'utf8'), config, chatTemplate, dir);
  }

  /**
   * Token IDs of `text`, no BOS/EOS added (as the Python side's `tok(text, add_special_tokens=False)`). Special
   * tokens written in the text (`<|im_start|>`) become their IDs, as in transformers.
   */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  /** The token strings of `ids` (for display and debugging). */
  tokens(ids: readonly number[]): string[] {
    return ids.map((id) => this.tokenizer.id_to_token(id) ?? `<${id}>`);
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The chat template rendered to text, as transformers' `apply_chat_template(..., tokenize=False)`. */
  renderChat(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) throw new Error(`tokenizer ${this.dir ?? ''} has no chat template`);
    return this.template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.config.bos_token ?? '',
      eos_token: this.config.eos_token ?? '',
      pad_token: this.config.pad_token ?? '',
      unk_token: this.config.unk_token ?? '',
    });
  }

  /** IDs of the rendered chat (`apply_chat_template(..., tokenize=True)`). */
  encodeChat(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): number[] {
    return this.encode(this.renderChat(messages, opts));
  }
}

function localKey(path: string): string {
  return sha256(realpathSync(path)).slice(0, 16);
}

/** Where a model's tokenizer files are (or will be, once exported). */
export function tokenizerDirFor(model: ResolvedModel, dir = modelsDir()): string {
  if (model.kind === 'registered') return join(dir, model.model.name, 'tokenizer');
  if (model.kind === 'hf' && existsSync(join(model.path, 'tokenizer.json'))) return model.path;
  return join(dir, 'local', localKey(model.path), 'tokenizer');
}

function readManifest(dir: string): TokenizerManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'ratchet-tokenizer.json'), 'utf8')) as TokenizerManifest;
  } catch {
    return undefined;
  }
}

/** Whether the export in `dir` is there and was made from this model file as it is now. */
export function tokenizerIsCurrent(model: ResolvedModel, dir = tokenizerDirFor(model)): boolean {
  if (model.kind === 'hf' && dir === model.path) return true;
  const manifest = readManifest(dir);
  if (!manifest || manifest.exportVersion !== TOKENIZER_EXPORT_VERSION || !existsSync(join(dir, 'tokenizer.json'))) return false;
  if (model.kind === 'registered') return true; // its file is pinned by sha256
  if (!existsSync(model.path)) return false;
  const stat = statSync(model.path);
  return manifest.sourceBytes === stat.size && manifest.sourceMtimeMs === stat.mtimeMs;
}

/**
 * Export a model's tokenizer with the Python side (needs the venv: `npm run setup:python`). Returns the
 * directory. A no-op when the export is current, unless `force`.
 */
export function exportTokenizer(model: ResolvedModel, opts: { dir?: string; force?: boolean; python?: string } = {}): string {
  const out = opts.dir ?? tokenizerDirFor(model);
  if (!opts.force && tokenizerIsCurrent(model, out)) return out;
  const stdout = runWorkerModule('ratchet_torch.tokenizer', ['export', '--model', model.path, '--out', out], {
    purpose: `exporting the tokenizer of ${model.ref}`,
    python: opts.python,
  });
  const manifest = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as TokenizerManifest;
  if (model.kind !== 'registered') {
    const stat = statSync(model.path);
    manifest.sourceBytes = stat.size;
    manifest.sourceMtimeMs = stat.mtimeMs;
    writeFileSync(join(out, 'ratchet-tokenizer.json'), JSON.stringify(manifest, null, 2) + '\n');
  }
  return out;
}

/**
 * The tokenizer of a model: loads its export, exporting it first when missing or stale (which needs the venv;
 * the error says how to make it).
 */
export function loadLlmTokenizer(model: ResolvedModel, opts: { dir?: string; python?: string } = {}): LlmTokenizer {
  const dir = opts.dir ?? tokenizerDirFor(model);
  if (!tokenizerIsCurrent(model, dir)) exportTokenizer(model, { dir, python: opts.python });
  return LlmTokenizer.fromDir(dir);
}

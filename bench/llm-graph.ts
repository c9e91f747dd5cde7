/**
 * The fp32 ONNX graph of a registered LLM's base weights for the benches (`bench:policy`'s LLM section,
 * `bench:llm-engines`): ratchet_torch.bench_engines export-onnx, the trainer's own export (sync.py), made once.
 * Cached in .data/cache/llm-test/ under the name test/unit/llm/ort-engine.test.ts gives it (the model's sha256 and
 * the exporter's source), so the test and the benches share one ~650 MB export and a changed exporter exports again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir, REPO_ROOT } from '../infra/paths';
import { runWorkerModule } from '../infra/python';
import { registeredModel } from '../policy/llm/models';

const EXPORTER = ['bench_engines.py', 'sync.py'].map((f) => join(REPO_ROOT, 'workers/torch/ratchet_torch', f));

/** The cached graph of registered model `name` (its GGUF at `gguf`), exported when absent (~15 s). */
export function cachedLlmGraph(name: string, gguf: string, purpose: string): string {
  const model = registeredModel(name);
  if (!model) throw new Error(`cachedLlmGraph: ${name} is not a registered model`);
  const hash = createHash('sha256').update(model.sha256);
  for (const file of EXPORTER.filter((f) => existsSync(f))) hash.update(readFileSync(file));
  const dir = join(dataDir(), 'cache', 'llm-test');
  const file = join(dir, `${name}-fp32-${hash.digest('hex').slice(0, 16)}.onnx`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir).filter((f) => f.startsWith(`${name}-fp32-`))) rmSync(join(dir, old), { force: true });
  const partial = `${file}.${process.pid}.partial.onnx`;
  console.log(`exporting the fp32 ONNX graph of ${name} (~15 s) to ${file}`);
  runWorkerModule('ratchet_torch.bench_engines', ['export-onnx', '--gguf', gguf, '--out', partial], { purpose });
  renameSync(partial, file);
  return file;
}

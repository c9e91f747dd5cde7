/**
 * The Python side of LLM policies (issue 27): finding an interpreter, and the project's venv in `.tools/venv`
 * installed from the pinned, hashed lock `workers/torch/requirements.lock`.
 *
 *   npm run setup:python   # create or update .tools/venv (idempotent: keyed by the lock's sha256)
 *   npm run lock:python    # re-resolve workers/torch/requirements.in into the lock (uv pip compile, universal)
 *
 * The venv is rebuilt from scratch whenever the lock (or the interpreter) changes; a venv whose stamp matches is
 * left alone, so the command costs a second when nothing changed. Only pip is used to install (`--require-hashes`):
 * no tool beyond the interpreter is needed on a fresh machine.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { sha256 } from '../common/artifacts';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { REPO_ROOT } from './paths';

export const PYTHON_PROJECT_DIR = join(REPO_ROOT, 'workers', 'torch');
export const PYTHON_REQUIREMENTS_IN = join(PYTHON_PROJECT_DIR, 'requirements.in');
export const PYTHON_LOCK = join(PYTHON_PROJECT_DIR, 'requirements.lock');
/** The tools that re-resolve the lock (uv), pinned and hashed in their own small lock. */
export const PYTHON_TOOLS_LOCK = join(PYTHON_PROJECT_DIR, 'tools.lock');
/** Oldest interpreter the lock supports (torch 2.15 wheels start at CPython 3.11). */
export const VENV_MIN_PYTHON: [number, number] = [3, 11];
const STAMP = '.ratchet-stamp.json';

export function venvDir(): string {
  return process.env.RATCHET_VENV ? resolve(process.env.RATCHET_VENV) : join(REPO_ROOT, '.tools', 'venv');
}

function binDir(venv: string): string {
  return process.platform === 'win32' ? join(venv, 'Scripts') : join(venv, 'bin');
}

/** The venv's interpreter path (whether or not it exists). */
export function venvPython(venv = venvDir()): string {
  return join(binDir(venv), process.platform === 'win32' ? 'python.exe' : 'python');
}

/** A missing prerequisite, named: `what` is `python`, `pip` or `venv`. */
export class PythonMissingError extends Error {
  constructor(
    readonly what: 'python' | 'pip' | 'venv',
    message: string,
  ) {
    super(message);
    this.name = 'PythonMissingError';
  }
}

export interface PythonInfo {
  /** The command as found (absolute path). */
  path: string;
  version: [number, number, number];
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `which`: the first executable named `command` on the PATH of `env` (an absolute or relative path is checked as is). */
export function whichCommand(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isAbsolute(command) || command.includes('/')) return isExecutable(command) ? command : undefined;
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = join(dir, command + ext);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

function run(command: string, args: string[], opts: SpawnSyncOptions = {}) {
  return spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

/** The interpreter's version, or undefined when it does not run (a pyenv shim without a version, a broken link). */
export function pythonVersion(path: string, env: NodeJS.ProcessEnv = process.env): [number, number, number] | undefined {
  const r = run(path, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { env, timeout: 30_000 });
  const m = r.status === 0 ? /^(\d+)\.(\d+)\.(\d+)/.exec(String(r.stdout).trim()) : null;
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

const atLeast = (v: readonly number[], min: readonly number[]) => v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]);

/**
 * A Python 3 interpreter: `RATCHET_PYTHON` when set, else `python3`, else `python`, on the PATH of `env`.
 * Throws PythonMissingError('python') naming what was tried when none runs or none is recent enough.
 */
export function findPython(opts: { env?: NodeJS.ProcessEnv; minVersion?: [number, number]; purpose?: string } = {}): PythonInfo {
  const env = opts.env ?? process.env;
  const min = opts.minVersion ?? [3, 8];
  const purpose = opts.purpose ? `${opts.purpose} needs` : 'needs';
  const names = env.RATCHET_PYTHON ? [env.RATCHET_PYTHON] : ['python3', 'python'];
  const tried: string[] = [];
  for (const name of names) {
    const path = whichCommand(name, env);
    if (!path) {
      tried.push(`${name}: not found`);
      continue;
    }
    const version = pythonVersion(path, env);
    if (!version) tried.push(`${path}: does not run`);
    else if (!atLeast(version, min)) tried.push(`${path}: Python ${version.join('.')} is older than ${min.join('.')}`);
    else return { path, version };
  }
  throw new PythonMissingError(
    'python',
    `${purpose} Python >= ${min.join('.')}, and none was found (${tried.join('; ')}${env.RATCHET_PYTHON ? '' : ` on PATH=${env.PATH ?? ''}`}). ` +
      'Install Python 3 (Debian: apt-get install python3 python3-pip python3-venv) or set RATCHET_PYTHON to an interpreter.',
  );
}

/** Throws PythonMissingError('pip') when `python -m pip` does not run. */
export function requirePip(python: PythonInfo, env: NodeJS.ProcessEnv = process.env, purpose = 'this'): void {
  const r = run(python.path, ['-m', 'pip', '--version'], { env, timeout: 60_000 });
  if (r.status !== 0) {
    const why = String(r.stderr || r.stdout || r.error?.message || '').trim().split('\n').pop();
    throw new PythonMissingError(
      'pip',
      `${purpose} needs pip, and Python ${python.version.join('.')} at ${python.path} has none (python -m pip: ${why}). ` +
        'Install it (Debian: apt-get install python3-pip; elsewhere: python3 -m ensurepip --upgrade).',
    );
  }
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

interface Stamp {
  lockSha256: string;
  python: string;
  installSeconds: number;
  createdAt: string;
}

function readStamp(venv: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(join(venv, STAMP), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

export interface VenvStatus {
  dir: string;
  python: string;
  /** The venv exists, runs, and was installed from the current lock. */
  ready: boolean;
  reason?: string;
}

/** Whether `.tools/venv` is installed from the current lock (no process started beyond one `python --version`). */
export function venvStatus(venv = venvDir(), lock = PYTHON_LOCK): VenvStatus {
  const python = venvPython(venv);
  const base = { dir: venv, python };
  if (!existsSync(python)) return { ...base, ready: false, reason: `no venv at ${venv}` };
  const stamp = readStamp(venv);
  if (!stamp) return { ...base, ready: false, reason: 'the venv was not finished (no stamp)' };
  const lockSha = sha256File(lock);
  if (stamp.lockSha256 !== lockSha) return { ...base, ready: false, reason: `the lock changed (${stamp.lockSha256.slice(0, 12)} -> ${lockSha.slice(0, 12)})` };
  if (!pythonVersion(python)) return { ...base, ready: false, reason: `${python} does not run (its base interpreter moved?)` };
  return { ...base, ready: true };
}

/** The venv's interpreter, or PythonMissingError('venv') saying how to make it. */
export function requireVenv(purpose: string, venv = venvDir()): string {
  const status = venvStatus(venv);
  if (!status.ready) {
    throw new PythonMissingError('venv', `${purpose} needs the Python venv (${status.reason}): run \`npm run setup:python\``);
  }
  return status.python;
}

/** Environment for the venv's interpreter: `workers/torch` on PYTHONPATH (the `ratchet_torch` package), quiet pip. */
export function workerPythonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const path = [PYTHON_PROJECT_DIR, env.PYTHONPATH].filter(Boolean).join(delimiter);
  // Idle OpenMP threads sleep instead of spinning: on shared cores a spinning pool ran the LoRA update at 7% of the
  // matmul peak, a sleeping one at 47% (bench/NOTES-llm.md). Numerics do not change.
  return { ...env, PYTHONPATH: path, PYTHONUNBUFFERED: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', OMP_WAIT_POLICY: env.OMP_WAIT_POLICY || 'PASSIVE' };
}

/**
 * Run `python -m <module> args...` in the venv with `ratchet_torch` importable; throws with the tail of stderr on
 * a non-zero exit. `input` is written to stdin.
 */
export function runWorkerModule(module: string, args: string[], opts: { purpose: string; input?: string; timeoutMs?: number; python?: string } = { purpose: 'this' }): string {
  const python = opts.python ?? requireVenv(opts.purpose);
  const r = run(python, ['-m', module, ...args], { env: workerPythonEnv(), input: opts.input, timeout: opts.timeoutMs ?? 10 * 60_000, maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    const why = String(r.stderr || r.error?.message || '').trim().split('\n').slice(-15).join('\n');
    throw new Error(`${opts.purpose}: python -m ${module} ${args.join(' ')} failed (exit ${r.status}):\n${why}`);
  }
  return String(r.stdout);
}

/** The packages the venv must import (the worker's direct dependencies). */
export const VENV_IMPORTS = ['torch', 'transformers', 'peft', 'gguf', 'safetensors', 'temporalio', 'numpy', 'onnx', 'cryptography', 'boto3'];

export interface SetupResult {
  dir: string;
  python: string;
  /** False when the venv was already installed from this lock. */
  created: boolean;
  seconds: number;
}

/** The torch venv takes 5.8 GB, and pip holds the 3.3 GB of wheels it unpacks from until it is done. */
const VENV_NEEDS_BYTES = 9 * 2 ** 30;

/** Fail before a long download that would end in a full disk (and a half-installed venv). */
function requireFreeSpace(dir: string, needBytes: number): void {
  const { bavail, bsize } = statfsSync(dir);
  const free = bavail * bsize;
  if (free < needBytes) {
    throw new Error(`npm run setup:python needs about ${(needBytes / 2 ** 30).toFixed(0)} GiB free at ${dir}, and ${(free / 2 ** 30).toFixed(1)} GiB is: free some space and run it again`);
  }
}

/**
 * Create (or re-create) the venv from the lock; a no-op when its stamp matches the lock's sha256 and the
 * interpreter. `pip install --require-hashes` refuses any file whose hash is not in the lock.
 */
export function setupPythonVenv(
  opts: { venv?: string; lock?: string; force?: boolean; log?: (line: string) => void; env?: NodeJS.ProcessEnv; imports?: readonly string[]; needBytes?: number } = {},
): SetupResult {
  const venv = opts.venv ?? venvDir();
  const lock = opts.lock ?? PYTHON_LOCK;
  const log = opts.log ?? ((line: string) => console.log(line));
  const env = opts.env ?? process.env;
  const started = Date.now();
  const status = venvStatus(venv, lock);
  if (status.ready && !opts.force) {
    log(`python venv ${venv} is up to date with ${lock}`);
    return { dir: venv, python: status.python, created: false, seconds: 0 };
  }
  const base = findPython({ env, minVersion: VENV_MIN_PYTHON, purpose: 'npm run setup:python' });
  log(`creating ${venv} with Python ${base.version.join('.')} (${base.path})${status.reason ? `: ${status.reason}` : ''}`);
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(venv, { recursive: true });
  requireFreeSpace(venv, opts.needBytes ?? (lock === PYTHON_LOCK ? VENV_NEEDS_BYTES : 0));
  const created = run(base.path, ['-m', 'venv', venv], { env, stdio: 'inherit' });
  if (created.status !== 0 || !existsSync(venvPython(venv))) {
    throw new PythonMissingError(
      'venv',
      `python -m venv failed with Python ${base.version.join('.')} at ${base.path} (Debian: apt-get install python3-venv)`,
    );
  }
  const python = venvPython(venv);
  requirePip({ path: python, version: base.version }, env, 'npm run setup:python');
  log(`installing ${lock}${lock === PYTHON_LOCK ? ' (torch and its CUDA libraries on Linux: about 3 GB to download)' : ''}`);
  const pipEnv = { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  // No pip cache: it would keep a second copy of the 3 GB of wheels the venv already holds unpacked.
  const install = run(python, ['-m', 'pip', 'install', '--no-cache-dir', '--require-hashes', '--only-binary', ':all:', '-r', lock], { env: pipEnv, stdio: 'inherit' });
  if (install.status !== 0) throw new Error(`pip install -r ${lock} failed (exit ${install.status}); the venv at ${venv} is left unfinished`);
  const imports = opts.imports ?? VENV_IMPORTS;
  const check = run(python, ['-c', `import importlib.metadata as m, ${imports.join(', ')}; print(", ".join(n + " " + m.version(n) for n in ${JSON.stringify(imports.slice(0, 2))}))`], { env });
  if (check.status !== 0) throw new Error(`the venv installed but does not import its packages: ${String(check.stderr).trim()}`);
  const seconds = (Date.now() - started) / 1000;
  const stamp: Stamp = { lockSha256: sha256File(lock), python: base.version.join('.'), installSeconds: seconds, createdAt: new Date().toISOString() };
  writeFileSync(join(venv, STAMP), JSON.stringify(stamp, null, 2) + '\n');
  log(`python venv ready in ${seconds.toFixed(0)} s: ${String(check.stdout).trim()}`);
  return { dir: venv, python, created: true, seconds };
}

/**
 * Re-resolve requirements.in into the lock with uv (installed, hash-checked, into `.tools/pytools` from
 * tools.lock): universal resolution, so the environment markers stay in and one lock serves every platform.
 */
export function compilePythonLock(opts: { log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}): void {
  const log = opts.log ?? ((line: string) => console.log(line));
  const env = opts.env ?? process.env;
  const toolsVenv = join(REPO_ROOT, '.tools', 'pytools');
  const uv = join(binDir(toolsVenv), process.platform === 'win32' ? 'uv.exe' : 'uv');
  if (!existsSync(uv)) {
    const base = findPython({ env, minVersion: VENV_MIN_PYTHON, purpose: 'npm run lock:python' });
    log(`installing uv into ${toolsVenv}`);
    if (run(base.path, ['-m', 'venv', toolsVenv], { env, stdio: 'inherit' }).status !== 0) throw new Error('python -m venv failed');
    const pip = run(venvPython(toolsVenv), ['-m', 'pip', 'install', '--require-hashes', '-r', PYTHON_TOOLS_LOCK], { env, stdio: 'inherit' });
    if (pip.status !== 0) throw new Error(`pip install -r ${PYTHON_TOOLS_LOCK} failed`);
  }
  const args = ['pip', 'compile', 'requirements.in', '--universal', '--python-version', VENV_MIN_PYTHON.join('.'), '--generate-hashes'];
  args.push('--custom-compile-command', 'npm run lock:python', '-o', 'requirements.lock');
  log(`uv ${args.join(' ')}`);
  const r = run(uv, args, { env, stdio: 'inherit', cwd: PYTHON_PROJECT_DIR });
  if (r.status !== 0) throw new Error(`uv pip compile failed (exit ${r.status})`);
}

if (require.main === module) {
  const command = process.argv[2] ?? 'setup';
  try {
    if (command === 'setup') setupPythonVenv({ force: process.argv.includes('--force') });
    else if (command === 'lock') compilePythonLock();
    else if (command === 'status') console.log(JSON.stringify(venvStatus(), null, 2));
    else throw new Error(`unknown command "${command}" (setup [--force] | lock | status)`);
  } catch (err) {
    console.error(`python: ${(err as Error).message}`);
    process.exit(1);
  }
}

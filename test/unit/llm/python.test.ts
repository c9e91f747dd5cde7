/**
 * infra/python.ts: finding an interpreter, the venv's status, and `setupPythonVenv` end to end on a one-package
 * lock (a real venv and a real hash-checked pip install from PyPI; skipped only without Python >= 3.11).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPython, PythonMissingError, requireVenv, setupPythonVenv, venvPython, venvStatus, VENV_MIN_PYTHON, whichCommand } from '../../../infra/python';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ratchet-python-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The one-package lock: `packaging` with the hashes the project lock pins for it. */
function tinyLock(path: string): void {
  const lock = readFileSync(join(__dirname, '../../../workers/torch/requirements.lock'), 'utf8');
  const stanza = /^packaging==[^\n]*\n(?:\s+--hash=[^\n]*\n)+/m.exec(lock);
  if (!stanza) throw new Error('packaging is not in requirements.lock');
  writeFileSync(path, stanza[0].replace(/\\\n\s*$/, '\n'));
}

describe('finding Python', () => {
  test('which: only executables on the given PATH', () => {
    const bin = join(dir, 'which-bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'python3'), 'not executable');
    expect(whichCommand('python3', { PATH: bin })).toBeUndefined();
    expect(whichCommand('sh', { PATH: `${bin}:/bin:/usr/bin` })).toMatch(/\/sh$/);
  });

  test('RATCHET_PYTHON names the interpreter; a missing one is reported as such', () => {
    expect(() => findPython({ env: { PATH: '', RATCHET_PYTHON: join(dir, 'nope') } })).toThrow(/none was found \(.*nope: not found\)/);
    const err = (() => {
      try {
        findPython({ env: { PATH: '' }, purpose: 'npm run setup:python', minVersion: VENV_MIN_PYTHON });
      } catch (e) {
        return e as PythonMissingError;
      }
    })();
    expect(err).toBeInstanceOf(PythonMissingError);
    expect(err!.what).toBe('python');
    expect(err!.message).toMatch(/^npm run setup:python needs Python >= 3\.11, and none was found/);
  });
});

describe('venv status', () => {
  test('absent, unfinished, stale lock', () => {
    const venv = join(dir, 'status-venv');
    const lock = join(dir, 'status.lock');
    writeFileSync(lock, 'packaging==1\n');
    expect(venvStatus(venv, lock)).toMatchObject({ ready: false, reason: `no venv at ${venv}` });
    mkdirSync(join(venv, 'bin'), { recursive: true });
    symlinkSync('/bin/sh', venvPython(venv));
    expect(venvStatus(venv, lock)).toMatchObject({ ready: false, reason: 'the venv was not finished (no stamp)' });
    writeFileSync(join(venv, '.ratchet-stamp.json'), JSON.stringify({ lockSha256: 'f'.repeat(64) }));
    expect(venvStatus(venv, lock).reason).toMatch(/^the lock changed \(ffffffffffff -> [0-9a-f]{12}\)$/);
    expect(() => requireVenv('the LLM worker', join(dir, 'nowhere'))).toThrow(/the LLM worker needs the Python venv \(no venv at .*\): run `npm run setup:python`/);
  });
});

const python = (() => {
  try {
    return findPython({ minVersion: VENV_MIN_PYTHON });
  } catch (err) {
    console.warn(`skipping the venv set-up test: ${(err as Error).message}`);
    return undefined;
  }
})();

(python ? describe : describe.skip)('setupPythonVenv, for real', () => {
  test('creates the venv from a hashed lock, is a no-op while the lock is unchanged, rebuilds when it changes', () => {
    const venv = join(dir, 'venv');
    const lock = join(dir, 'requirements.lock');
    tinyLock(lock);
    const log: string[] = [];
    const first = setupPythonVenv({ venv, lock, imports: ['packaging'], log: (l) => log.push(l) });
    expect(first).toMatchObject({ created: true, dir: venv, python: venvPython(venv) });
    expect(log.at(-1)).toMatch(/python venv ready in \d+ s: packaging 26\.4/);
    expect(venvStatus(venv, lock)).toMatchObject({ ready: true });
    const again = setupPythonVenv({ venv, lock, imports: ['packaging'], log: (l) => log.push(l) });
    expect(again).toMatchObject({ created: false, seconds: 0 });
    // A changed lock: the venv is rebuilt from scratch.
    writeFileSync(lock, `# changed\n${readFileSync(lock, 'utf8')}`);
    expect(venvStatus(venv, lock).reason).toMatch(/the lock changed/);
    expect(setupPythonVenv({ venv, lock, imports: ['packaging'], log: () => {} })).toMatchObject({ created: true });
    expect(venvStatus(venv, lock)).toMatchObject({ ready: true });
    // Too little disk for what the lock installs: refused before any download.
    expect(() => setupPythonVenv({ venv, lock, force: true, needBytes: 2 ** 60, log: () => {} })).toThrow(/needs about \d+ GiB free at .*, and [\d.]+ GiB is: free some space/);
  }, 300_000);
});

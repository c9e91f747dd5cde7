/**
 * Run the real command-line tools against the test server and database, as a user would type them:
 * `ratchet ...` (cli/main.ts through tsx) and the built `temporal` binary (.tools/bin or PATH).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../infra/paths';
import { tsxCommand } from '../../../infra/processes';
import { findTemporalCli } from '../../../infra/temporal';
import { TEST_DIR } from './global-setup';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

/** `ratchet <args>` against the test services (`env` adds to or overrides the environment). */
export function ratchet(args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  const { command, args: prefix } = tsxCommand(join(REPO_ROOT, 'cli', 'main.ts'), args);
  return run(command, prefix, { TEMPORAL_ADDRESS: process.env.RATCHET_TEST_TEMPORAL_ADDRESS, DATABASE_URL: process.env.RATCHET_TEST_DATABASE_URL, ...env }, timeoutMs);
}

/**
 * A long-running script of the repo (`cli/main.ts serve`, `cli/main.ts gateway`, the example agent) as its own
 * process, run by tsx. Resolves once its stdout has a line starting with `ready` (at once without one); rejects,
 * with its stderr, if it exits first. `onStderr` sees its stderr as it comes.
 */
export function startScript(script: string, args: string[], opts: { ready?: string; env?: NodeJS.ProcessEnv; onStderr?: (text: string) => void } = {}): Promise<ChildProcess> {
  const { command, args: full } = tsxCommand(join(REPO_ROOT, script), args);
  const child = spawn(command, full, { cwd: REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    opts.onStderr?.(d.toString());
  });
  return new Promise((resolve, reject) => {
    const ready = opts.ready;
    if (!ready) return resolve(child);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').some((l) => l.startsWith(ready))) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${script} ${args[0] ?? ''} exited (${code}): ${err}`)));
  });
}

/**
 * `temporal <args>` against the test server. `command` is the line as the README writes it (starting with
 * `.tools/bin/temporal` or `temporal`); the test server's address is given by TEMPORAL_ADDRESS, which the CLI
 * reads, so the words match the README exactly.
 */
export function temporal(args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  const cli = findTemporalCli();
  if (!cli) throw new Error('no temporal CLI: global-setup builds it');
  return run(cli, args, { TEMPORAL_ADDRESS: process.env.RATCHET_TEST_TEMPORAL_ADDRESS }, timeoutMs);
}

/** Write a config where the CLIs can read it (`--input-file`, `ratchet start <file>`). */
export function writeConfig(name: string, config: unknown): string {
  const file = join(TEST_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

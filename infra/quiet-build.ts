/**
 * Run a long build (the Temporal CLI's `go install`) with its output in a log file and one progress line on the
 * terminal: a fresh clone's first `npm start` should not print hundreds of Go package names.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

export interface QuietBuild {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** What the progress line calls the work, e.g. "building the Temporal CLI". */
  label: string;
  /** Where the progress goes (a TTY gets one line redrawn, a log a line every `everyMs`). */
  out?: NodeJS.WriteStream;
  everyMs?: number;
}

/** Resolves when the command exits 0; otherwise rejects with its exit code and the log's last lines. */
export async function runQuietly({ command, args, env, logFile, label, out = process.stderr, everyMs = 30_000 }: QuietBuild): Promise<void> {
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile);
  const started = Date.now();
  let lines = 0;
  let lastPrinted = 0;
  const progress = (final = false) => {
    const text = `${label}: ${lines} lines of output (${logFile}), ${((Date.now() - started) / 1000).toFixed(0)} s`;
    if (out.isTTY) out.write(`\r${text}${final ? '\n' : ''}`);
    else if (final || Date.now() - lastPrinted >= everyMs) {
      out.write(`${text}\n`);
      lastPrinted = Date.now();
    }
  };
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(`${line}\n`);
      lines++;
    });
  }
  const ticker = setInterval(() => progress(), out.isTTY ? 1000 : everyMs);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    progress(true);
    await new Promise((resolve) => log.end(resolve));
    if (code !== 0) {
      const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
      throw new Error(`${command} ${args.join(' ')} failed with exit code ${code}; the end of ${logFile}:\n${tail}`);
    }
  } finally {
    clearInterval(ticker);
  }
}

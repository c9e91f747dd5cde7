import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runQuietly } from '../../../infra/quiet-build';

/** A non-TTY sink that keeps what the build printed. */
function sink(): { out: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c) => chunks.push(String(c)));
  return { out: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

test('hundreds of lines of build output go to the log, one progress line to the terminal', async () => {
  const logFile = join(mkdtempSync(join(tmpdir(), 'quiet-')), 'build.log');
  const { out, text } = sink();
  await runQuietly({ command: 'bash', args: ['-c', 'for i in $(seq 341); do echo github.com/pkg/$i; done'], env: process.env, logFile, label: 'building', out });
  expect(readFileSync(logFile, 'utf8').trim().split('\n')).toHaveLength(341);
  expect(text().trim().split('\n')).toEqual([expect.stringMatching(/^building: 341 lines of output \(.*build\.log\), \d+ s$/)]);
});

test('a failed build names its exit code and the end of its log', async () => {
  const logFile = join(mkdtempSync(join(tmpdir(), 'quiet-')), 'build.log');
  const run = runQuietly({ command: 'bash', args: ['-c', 'echo compiling; echo "cannot find module" >&2; exit 3'], env: process.env, logFile, label: 'building', out: sink().out });
  await expect(run).rejects.toThrow(/failed with exit code 3; the end of .*build\.log:\n(compiling\ncannot find module|cannot find module\ncompiling)/);
});

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ENVIRONMENT, environmentHelp } from '../../../cli/environment';
import { TEMPORAL_FLAG_ENV } from '../../../common/temporal-connection';
import { REPO_ROOT } from '../../../infra/paths';

const SOURCE_DIRS = ['activities', 'bench', 'cli', 'common', 'config', 'db', 'envs', 'infra', 'policy', 'report', 'rl', 'trainer', 'workers', 'workflows'];
/** The system's own variables, passed through to tools (not Ratchet settings). */
const SYSTEM = new Set(['PATH', 'PATHEXT', 'PYTHONPATH', 'GOMODCACHE', 'HOME']);
const SKIP = /node_modules|\.venv|__pycache__|\/tests\//;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (SKIP.test(path)) return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs|py)$/.test(name) ? [path] : [];
  });
}

/** Names read as process.env.X, env.X, env["X"], os.environ.get("X") or env("X") outside the tests. */
function variablesReadByCode(): Map<string, string> {
  const found = new Map<string, string>();
  const pattern = /(?:process\.env|\benv|environ)(?:\.get)?(?:\.|\[\s*['"]|\(\s*['"])([A-Z][A-Z0-9_]+)/g;
  for (const file of SOURCE_DIRS.flatMap((d) => sourceFiles(join(REPO_ROOT, d)))) {
    for (const match of readFileSync(file, 'utf8').matchAll(pattern)) found.set(match[1], relative(REPO_ROOT, file));
  }
  return found;
}

describe('environment variables', () => {
  const listed = new Set(ENVIRONMENT.map((v) => v.name));

  it('lists every variable the code reads (add new ones to cli/environment.ts and the README)', () => {
    const unlisted = [...variablesReadByCode()].filter(([name]) => !listed.has(name) && !SYSTEM.has(name));
    expect(unlisted).toEqual([]);
  });

  it('lists the variable behind every cluster flag', () => {
    for (const name of Object.values(TEMPORAL_FLAG_ENV)) expect(listed).toContain(name);
  });

  it('are all in `ratchet --help` and in the README table', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const help = environmentHelp();
    for (const { name } of ENVIRONMENT) {
      expect(help).toContain(name);
      expect(readme).toContain(`| \`${name}\``);
    }
  });
});

/**
 * `npm run deploy:check`: validate the deployment files with whichever validators are installed (this installs
 * nothing; infra/deploy/README.md says how to install each). A check whose tool is missing is skipped and named;
 * the command fails when a check that ran failed. test/unit/deploy/deploy.test.ts runs the same checks.
 *
 * Tools are looked up on PATH, then in .tools/bin (Go installs) and .tools/deploy-venv/bin (pip installs).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { REPO_ROOT } from '../paths';
import { whichCommand } from '../python';

export const DEPLOY_DIR = join(REPO_ROOT, 'infra', 'deploy');
export const DOCKERFILES = ['node.Dockerfile', 'torch.Dockerfile'].map((f) => join(DEPLOY_DIR, 'docker', f));
export const COMPOSE_FILES = ['compose.yaml', 'compose.gpu.yaml'].map((f) => join(DEPLOY_DIR, 'compose', f));
export const CHART_DIR = join(DEPLOY_DIR, 'helm', 'ratchet');
/** Values files the chart is linted and rendered with (Helm's `ci/` convention). */
export const CHART_VALUES = readdirSync(join(CHART_DIR, 'ci')).map((f) => join(CHART_DIR, 'ci', f));
const SETUP_SCRIPT = join(CHART_DIR, 'files', 'temporal-setup.sh');
/**
 * Kubernetes version the chart is rendered for and validated against (kubernetes-validate ships its schemas).
 * Passed explicitly: a `go install`ed helm has no version stamped in and would assume Kubernetes 1.20.
 */
const KUBERNETES_VERSION = '1.33.0';

const TOOL_DIRS = [join(REPO_ROOT, '.tools', 'bin'), join(REPO_ROOT, '.tools', 'deploy-venv', 'bin')];

export function findTool(name: string): string | undefined {
  return whichCommand(name, { PATH: [process.env.PATH ?? '', ...TOOL_DIRS].join(delimiter) });
}

export interface RunResult {
  ok: boolean;
  /** stdout and stderr together, for a failure message. */
  output: string;
  stdout: string;
}

export function runTool(command: string, args: string[], input?: string): RunResult {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, input, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim();
  return { ok: result.status === 0, output, stdout: result.stdout ?? '' };
}

/** The compose-spec JSON schema that compose-go embeds, from the Go module cache (newest version there). */
export function composeSchema(): string | undefined {
  const go = findTool('go');
  const cache = process.env.GOMODCACHE || (go ? runTool(go, ['env', 'GOMODCACHE']).stdout.trim() : '');
  const dir = join(cache, 'github.com', 'compose-spec', 'compose-go');
  if (!cache || !existsSync(dir)) return undefined;
  const versions = readdirSync(dir)
    .filter((d) => d.startsWith('v2@'))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const schema = versions.length ? join(dir, versions[versions.length - 1], 'schema', 'compose-spec.json') : undefined;
  return schema && existsSync(schema) ? schema : undefined;
}

/** `docker compose` (the v2 plugin) or a standalone `docker-compose`, when either answers. */
function composeCli(): string[] | undefined {
  const docker = findTool('docker');
  if (docker && runTool(docker, ['compose', 'version']).ok) return [docker, 'compose'];
  const standalone = findTool('docker-compose');
  return standalone && runTool(standalone, ['version']).ok ? [standalone] : undefined;
}

/** `helm template` of the chart with one values file. */
export function renderChart(helm: string, valuesFile: string): RunResult {
  return runTool(helm, ['template', 'ratchet', CHART_DIR, '--namespace', 'ratchet', '--kube-version', KUBERNETES_VERSION, '-f', valuesFile]);
}

/** kubernetes-validate --strict on YAML text (written to a temporary file: the tool reads files). */
export function validateManifests(kubernetesValidate: string, yaml: string): RunResult {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-deploy-'));
  try {
    const file = join(dir, 'manifests.yaml');
    writeFileSync(file, yaml);
    return runTool(kubernetesValidate, ['--strict', '--quiet', '-k', KUBERNETES_VERSION, file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface DeployCheck {
  name: string;
  /** Why it cannot run here (a missing tool), or undefined when it can. */
  missing(): string | undefined;
  run(): RunResult;
}

const need = (...tools: string[]) => () => {
  const absent = tools.filter((t) => !findTool(t));
  return absent.length ? `${absent.join(', ')} not installed` : undefined;
};

function allOf(results: RunResult[]): RunResult {
  return { ok: results.every((r) => r.ok), output: results.map((r) => r.output).filter(Boolean).join('\n'), stdout: '' };
}

export const DEPLOY_CHECKS: DeployCheck[] = [
  {
    name: 'hadolint: Dockerfiles',
    missing: need('hadolint'),
    run: () => runTool(findTool('hadolint')!, ['--failure-threshold', 'warning', ...DOCKERFILES]),
  },
  {
    name: 'check-jsonschema: compose files against the compose-spec schema',
    missing: () => need('check-jsonschema')() ?? (composeSchema() ? undefined : 'compose-spec.json not in the Go module cache (go mod download github.com/compose-spec/compose-go/v2@v2.17.0)'),
    run: () => runTool(findTool('check-jsonschema')!, ['--schemafile', composeSchema()!, ...COMPOSE_FILES]),
  },
  {
    name: 'docker compose config: compose files resolve',
    missing: () => (composeCli() ? undefined : 'neither the docker compose plugin nor docker-compose is installed'),
    run: () => {
      const [command, ...prefix] = composeCli()!;
      return runTool(command, [...prefix, ...COMPOSE_FILES.flatMap((f) => ['-f', f]), '--profile', 'torch', 'config', '--quiet']);
    },
  },
  {
    name: 'shellcheck: temporal-setup.sh',
    missing: need('shellcheck'),
    run: () => runTool(findTool('shellcheck')!, ['--shell', 'sh', SETUP_SCRIPT]),
  },
  {
    name: 'helm lint --strict: chart with each ci/ values file',
    missing: need('helm'),
    run: () => allOf(CHART_VALUES.map((values) => runTool(findTool('helm')!, ['lint', '--strict', '--kube-version', KUBERNETES_VERSION, CHART_DIR, '-f', values]))),
  },
  {
    name: `helm template | kubernetes-validate --strict (Kubernetes ${KUBERNETES_VERSION})`,
    missing: need('helm', 'kubernetes-validate'),
    run: () =>
      allOf(
        CHART_VALUES.map((values) => {
          const rendered = renderChart(findTool('helm')!, values);
          return rendered.ok ? validateManifests(findTool('kubernetes-validate')!, rendered.stdout) : rendered;
        }),
      ),
  },
];

function main(): void {
  let failed = 0;
  let skipped = 0;
  for (const check of DEPLOY_CHECKS) {
    const missing = check.missing();
    if (missing) {
      skipped++;
      console.log(`skip  ${check.name}: ${missing}`);
      continue;
    }
    const result = check.run();
    if (!result.ok) failed++;
    console.log(`${result.ok ? 'ok  ' : 'FAIL'}  ${check.name}${result.ok ? '' : `\n${result.output}`}`);
  }
  console.log(`${DEPLOY_CHECKS.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped (see infra/deploy/README.md to install validators)`);
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) main();

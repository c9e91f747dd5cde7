/**
 * The deployment files (infra/deploy): kept in step with the code (search attributes, pools, metrics ports,
 * environment names), and checked by every validator installed here (infra/deploy/validate.ts; a missing one is
 * skipped, and the test's name says which and why). Nothing here needs a Docker daemon or a cluster.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { POOLS } from '../../../cli/workers';
import { RETENTION } from '../../../infra/temporal';
import { REPO_ROOT } from '../../../infra/paths';
import { metricsPort } from '../../../workers/observability/setup';
import { RATCHET_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes';
import { CHART_DIR, CHART_VALUES, COMPOSE_FILES, composeSchema, DEPLOY_CHECKS, DEPLOY_DIR, findTool, renderChart, runTool, validateManifests } from '../../../infra/deploy/validate';

const read = (path: string) => readFileSync(path, 'utf8');
const compose = read(COMPOSE_FILES[0]);
const setupScript = read(join(CHART_DIR, 'files', 'temporal-setup.sh'));
const ALL_POOLS = [...POOLS, 'torch'];

/** Top-level keys of a YAML mapping nested under `parent:` at column 0, indented two spaces. */
function childKeys(yaml: string, parent: string): string[] {
  const block = yaml.split(new RegExp(`^${parent}:\\s*$`, 'm'))[1]?.split(/^\S/m)[0] ?? '';
  return [...block.matchAll(/^ {2}([\w-]+):/gm)].map((m) => m[1]);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (['node_modules', 'deploy', 'tests', '__pycache__'].includes(name)) return [];
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|py)$/.test(name) ? [path] : [];
  });
}

describe('deployment files match the code', () => {
  test('temporal-setup.sh creates every search attribute with its type, and the dev retention', () => {
    const pairs = [...setupScript.matchAll(/\b(Ratchet\w+)=(\w+)/g)].map((m) => `${m[1]}=${m[2]}`);
    const expected = RATCHET_SEARCH_ATTRIBUTES.map((key) => `${key.name}=${key.type.charAt(0)}${key.type.slice(1).toLowerCase()}`);
    expect(pairs.sort()).toEqual(expected.sort());
    expect(setupScript).toContain(`RATCHET_RETENTION:-${RETENTION}}`);
  });

  test('compose runs Temporal, Postgres, the UI, the S3 server and every pool, each from its entry point', () => {
    expect(childKeys(compose, 'services')).toEqual(expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'minio', ...ALL_POOLS]));
    for (const pool of POOLS) {
      expect(compose).toContain(`command: ["node", "--import", "tsx", "workers/${pool}.ts"]`);
      expect(statSync(join(REPO_ROOT, 'workers', `${pool}.ts`)).isFile()).toBe(true);
    }
  });

  test('the chart has a pool entry for every pool, with metrics ports at the workers own offsets', () => {
    expect(childKeys(read(join(CHART_DIR, 'values.yaml')), 'pools')).toEqual(ALL_POOLS);
    const helpers = read(join(CHART_DIR, 'templates', '_helpers.tpl'));
    const offsets = Object.fromEntries([...helpers.matchAll(/"(\w+)" (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    for (const pool of ALL_POOLS) expect(9464 + offsets[pool]).toBe(metricsPort(pool, { RATCHET_METRICS_PORT: '9464' }));
  });

  test('every RATCHET_* variable the deployment sets is read by the code', () => {
    const deployText = [compose, ...readdirSync(join(CHART_DIR, 'templates')).map((f) => read(join(CHART_DIR, 'templates', f)))].join('\n');
    const names = new Set([...deployText.matchAll(/\b(RATCHET_[A-Z_]+)\b/g)].map((m) => m[1]));
    const code = ['workers', 'infra', 'common', 'db', 'policy'].flatMap((d) => sourceFiles(join(REPO_ROOT, d))).map(read).join('\n');
    const unread = [...names].filter((name) => !code.includes(name) && !['RATCHET_NODE_IMAGE', 'RATCHET_TORCH_IMAGE', 'RATCHET_CPU_REPLICAS', 'RATCHET_RETENTION'].includes(name));
    expect(unread).toEqual([]);
  });
});

describe('validators', () => {
  for (const check of DEPLOY_CHECKS) {
    const missing = check.missing();
    (missing ? test.skip : test)(`${check.name}${missing ? ` (skipped: ${missing})` : ''}`, () => {
      const result = check.run();
      if (!result.ok) throw new Error(result.output);
    });
  }
});

const helm = findTool('helm');
const kubernetesValidate = findTool('kubernetes-validate');
const checkJsonschema = findTool('check-jsonschema');

describe('validators catch mistakes', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'ratchet-deploy-test-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  (checkJsonschema && composeSchema() ? test : test.skip)('the compose schema rejects a misspelt service key', () => {
    const file = join(dir, 'compose.yaml');
    writeFileSync(file, compose.replace('    restart: unless-stopped\n', '    restrat: unless-stopped\n'));
    const result = runTool(checkJsonschema!, ['--schemafile', composeSchema()!, file]);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/restrat/);
  });

  (kubernetesValidate ? test : test.skip)('kubernetes-validate rejects a misspelt Deployment field', () => {
    const manifest = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 1\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: x, image: x}]}\n';
    const result = validateManifests(kubernetesValidate!, manifest);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/replica/);
  });

  (helm ? test : test.skip)('the chart refuses to render without a database', () => {
    const empty = join(dir, 'empty-values.yaml');
    writeFileSync(empty, '{}\n');
    const result = renderChart(helm!, empty);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/set database\.url/);
  });
});

/** Rendered chart as objects: helm template, then YAML to JSON with the PyYAML beside kubernetes-validate. */
function renderedObjects(valuesFile: string): Array<Record<string, any>> {
  const rendered = renderChart(helm!, valuesFile);
  if (!rendered.ok) throw new Error(rendered.output);
  const python = join(dirname(kubernetesValidate!), 'python');
  const json = runTool(python, ['-c', 'import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))'], rendered.stdout);
  if (!json.ok) throw new Error(json.output);
  return JSON.parse(json.stdout);
}

(helm && kubernetesValidate ? describe : describe.skip)('the rendered chart', () => {
  const byName = (objects: Array<Record<string, any>>, kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const defaults = () => renderedObjects(CHART_VALUES.find((f) => f.endsWith('default-values.yaml'))!);

  test('gpu pool: a GPU per pod, on GPU nodes; cpu pool: scaled by an HPA; artifacts: a ReadWriteMany claim', () => {
    const objects = defaults();
    const gpu = byName(objects, 'Deployment', 'ratchet-gpu')!.spec.template.spec;
    expect(gpu.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
    expect(gpu.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(gpu.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    const hpa = byName(objects, 'HorizontalPodAutoscaler', 'ratchet-cpu')!;
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ratchet-cpu' });
    expect(byName(objects, 'Deployment', 'ratchet-cpu')!.spec.replicas).toBeUndefined();
    expect(byName(objects, 'PersistentVolumeClaim', 'ratchet-artifacts')!.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(byName(objects, 'Deployment', 'ratchet-torch')).toBeUndefined();
  });

  test('the trainer pool, external secrets and an existing claim', () => {
    const objects = renderedObjects(CHART_VALUES.find((f) => f.endsWith('torch-values.yaml'))!);
    const torch = byName(objects, 'Deployment', 'ratchet-torch')!.spec.template.spec;
    expect(torch.containers[0].command).toEqual(['python', '-m', 'ratchet_torch.worker']);
    expect(torch.containers[0].env).toContainEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'ratchet-database', key: 'url' } } });
    expect(torch.volumes[0].persistentVolumeClaim.claimName).toBe('ratchet-artifacts');
    expect(objects.filter((o) => o.kind === 'Secret' || o.kind === 'PersistentVolumeClaim' || o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
  });
});

test('deploy directory holds what the README documents', () => {
  const readme = read(join(DEPLOY_DIR, 'README.md'));
  for (const path of ['docker/node.Dockerfile', 'docker/torch.Dockerfile', 'compose/compose.yaml', 'compose/compose.gpu.yaml', 'helm/ratchet']) {
    expect(readme).toContain(path);
    expect(statSync(join(DEPLOY_DIR, path))).toBeTruthy();
  }
});

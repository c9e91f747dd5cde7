/**
 * Any cluster: the test dev server behind a TLS proxy that requires a client certificate (support/tls-proxy.ts).
 * `ratchet setup` prepares a fresh namespace over mTLS (twice: the second changes nothing), worker processes and a
 * client configured only by Temporal's standard variables run a bandit run in it, and clients without TLS or
 * without a certificate are refused.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { payloadCodecs } from '../../common/payload-codec';
import { temporalTarget } from '../../common/temporal-connection';
import { getRun } from '../../db/queries';
import { createControlWorker } from '../../workers/control';
import { RATCHET_SEARCH_ATTRIBUTES, RatchetRunId } from '../../workflows/search-attributes';
import type { TrainingRunResult } from '../../workflows/training-run';
import { ratchet } from './support/cli';
import { startWorkerProcess, stopProcess } from './support/faults';
import { TEST_DIR } from './support/global-setup';
import { openHarness, testConfig, type Harness } from './support/harness';
import { makeCertificates, startTlsProxy, type Certificates, type TlsProxy } from './support/tls-proxy';

let h: Harness;
let certs: Certificates;
let proxy: TlsProxy;
const namespace = `tls-${randomUUID().slice(0, 8)}`;
/** Everything a process needs to reach the cluster: Temporal's standard variables, nothing else. */
let tlsEnv: Record<string, string>;

beforeAll(async () => {
  h = await openHarness();
  certs = makeCertificates(join(TEST_DIR, `tls-${namespace}`));
  proxy = await startTlsProxy(certs, h.env.temporalAddress);
  tlsEnv = {
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca,
    // The name in the server certificate, as a real cluster's address would carry (an IP as TLS server name is
    // deprecated in Node and warns on stderr).
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
  };
});
afterAll(async () => {
  await proxy?.close();
  await h?.close();
});

test('`ratchet setup` registers the namespace, the search attributes and the retention over mTLS, and a second run changes nothing', async () => {
  const first = await ratchet(['setup'], 90_000, tlsEnv);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toContain(`namespace ${namespace} on ${proxy.address}: registered the namespace; added search attributes RatchetRunId`);
  const second = await ratchet(['setup'], 90_000, tlsEnv);
  expect(second.code).toBe(0);
  expect(second.stdout).toContain(`namespace ${namespace} on ${proxy.address}: already set up (8 search attributes, retention 365 days)`);

  const connection = await Connection.connect(temporalTarget({}, tlsEnv).connectionOptions);
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(RATCHET_SEARCH_ATTRIBUTES.map((key) => key.name)));
    const described = await connection.workflowService.describeNamespace({ namespace });
    expect(Number(described.config?.workflowExecutionRetentionTtl?.seconds)).toBe(365 * 86_400);
  } finally {
    await connection.close();
  }
});

test('worker processes and a client reach the cluster over mTLS from the standard variables alone, and run a bandit run', async () => {
  const config = testConfig({ steps: 3 });
  const target = temporalTarget({}, tlsEnv);
  expect(target).toMatchObject({ address: proxy.address, namespace, tls: true });
  const processes: ChildProcess[] = [];
  const native = await NativeConnection.connect(target.connectionOptions);
  const connection = await Connection.connect(target.connectionOptions);
  try {
    processes.push(await startWorkerProcess(h, 'cpu', config.taskQueues.cpu, tlsEnv));
    processes.push(await startWorkerProcess(h, 'gpu', config.taskQueues.gpu, tlsEnv));
    const control = await createControlWorker({ connection: native, namespace, taskQueue: config.taskQueues.control, workflowBundle: { codePath: h.env.workflowBundle } });
    const client = new Client({ connection, namespace, dataConverter: { payloadCodecs: payloadCodecs() } });
    const result = await control.runUntil(async () => {
      const handle = await client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
      const done = (await handle.result()) as TrainingRunResult;
      expect((await handle.describe()).typedSearchAttributes.get(RatchetRunId)).toBe(config.runId);
      return done;
    });
    expect(result).toMatchObject({ status: 'completed', steps: 3, policyVersion: 3 });
    expect(await getRun(h.database.db, config.runId)).toMatchObject({ status: 'completed', stepsCompleted: 3 });
  } finally {
    for (const child of processes) await stopProcess(child);
    await connection.close();
    await native.close();
  }
});

test('the Python torch worker connects over mTLS from the same variables and polls its queue', async () => {
  // startWorkerProcess resolves on the worker's `ready` line, printed once its client connected and the worker started.
  const child = await startWorkerProcess(h, 'torch', `tls-torch-${namespace}`, tlsEnv);
  await stopProcess(child);
  expect(child.exitCode ?? child.signalCode).not.toBeNull();
});

test('`ratchet status` says the cluster is up over TLS, and says why when the certificate is missing', async () => {
  const up = await ratchet(['status'], 60_000, tlsEnv);
  expect(up.stdout).toContain(`temporal  ${proxy.address} (tls)  up`);
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: _cert, TEMPORAL_TLS_CLIENT_KEY_PATH: _key, ...noCertificate } = tlsEnv;
  const down = await ratchet(['status'], 60_000, noCertificate);
  expect(down.stdout).toMatch(new RegExp(`temporal  ${proxy.address} \\(tls\\)  down: \\S+`));
});

test('a plaintext client, and a TLS client without a client certificate, are refused', async () => {
  const refusedBefore = proxy.refused;
  await expect(Connection.connect({ address: proxy.address, connectTimeout: '3s' })).rejects.toThrow();
  await expect(NativeConnection.connect({ address: proxy.address })).rejects.toThrow();
  const withoutCertificate = { serverRootCACertificate: readFileSync(certs.ca), serverNameOverride: 'localhost' };
  await expect(Connection.connect({ address: proxy.address, connectTimeout: '3s', tls: withoutCertificate })).rejects.toThrow();
  expect(proxy.refused).toBeGreaterThan(refusedBefore);
  // The same connection with the client certificate is accepted (the refusals above are about the credentials).
  const accepted = await Connection.connect({ ...temporalTarget({}, tlsEnv).connectionOptions, connectTimeout: '3s' });
  await accepted.workflowService.describeNamespace({ namespace });
  await accepted.close();
});

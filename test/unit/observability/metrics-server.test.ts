import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer } from '../../../workers/observability/metrics-server';
import { metricsPort } from '../../../workers/observability/setup';

function registryWithCounter() {
  const registry = new Registry();
  new Counter({ name: 'ratchet_test_total', help: 'a test counter', registers: [registry] }).inc(3);
  return registry;
}

test('GET /metrics serves the registry followed by the SDK exporter text; other paths are 404', async () => {
  const sdk = createServer((_, res) => res.end('# TYPE temporal_request counter\ntemporal_request{pool="cpu"} 5\n'));
  await new Promise<void>((r) => sdk.listen(0, '127.0.0.1', r));
  const server = await startMetricsServer({ port: 0, host: '127.0.0.1', registry: registryWithCounter(), sdkAddress: `127.0.0.1:${(sdk.address() as AddressInfo).port}` });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/^ratchet_test_total 3$/m);
    expect(text).toMatch(/^temporal_request\{pool="cpu"\} 5$/m);
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  } finally {
    await server.close();
    sdk.close();
  }
});

test('an unreachable SDK exporter still leaves the training metrics scrapeable', async () => {
  const server = await startMetricsServer({ port: 0, host: '127.0.0.1', registry: registryWithCounter(), sdkAddress: '127.0.0.1:1' });
  try {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(text).toMatch(/^ratchet_test_total 3$/m);
    expect(text).toMatch(/^# temporal sdk metrics unavailable/m);
  } finally {
    await server.close();
  }
});

test('metricsPort: off unless RATCHET_METRICS_PORT is set; one port per pool above the base; bad values refused', () => {
  expect(metricsPort('cpu', {})).toBeUndefined();
  expect(['control', 'cpu', 'gpu', 'torch'].map((p) => metricsPort(p, { RATCHET_METRICS_PORT: '9464' }))).toEqual([9464, 9465, 9466, 9467]);
  expect(() => metricsPort('cpu', { RATCHET_METRICS_PORT: 'abc' })).toThrow(/RATCHET_METRICS_PORT/);
  expect(() => metricsPort('cpu', { RATCHET_METRICS_PORT: '65000' })).toThrow(/RATCHET_METRICS_PORT/);
});

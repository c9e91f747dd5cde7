/**
 * One scrape target per worker: GET /metrics answers the training metrics (prom-client) followed by the Temporal
 * SDK's own, which Core exports on a loopback port of its own and this server fetches on each scrape. One port a
 * worker keeps the Prometheus config and the dashboard's `instance` label simple.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** `host:port` of Core's Prometheus exporter, when the Temporal runtime has one. */
  sdkAddress?: string;
}

export async function startMetricsServer({ port, host = '0.0.0.0', registry, sdkAddress }: MetricsServerOptions): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/metrics')) {
      res.writeHead(404).end('GET /metrics\n');
      return;
    }
    Promise.all([registry.metrics(), sdkAddress ? fetchSdkMetrics(sdkAddress) : ''])
      .then(([ours, sdk]) => res.writeHead(200, { 'content-type': registry.contentType }).end(`${ours}\n${sdk}`))
      .catch((err: unknown) => res.writeHead(500).end(`${String(err)}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Core's text, or a comment saying why it is missing (a scrape still returns the training metrics). */
async function fetchSdkMetrics(address: string): Promise<string> {
  try {
    const response = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? await response.text() : `# temporal sdk metrics: HTTP ${response.status}\n`;
  } catch (err) {
    return `# temporal sdk metrics unavailable: ${String(err).replace(/\n/g, ' ')}\n`;
  }
}

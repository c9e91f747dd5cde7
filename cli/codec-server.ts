/**
 * `ratchet codec-server`: Temporal's remote codec endpoint, so the Web UI (and `temporal ... --codec-endpoint`)
 * shows encrypted payloads to an operator who runs it with the key. POST /encode and /decode take and return
 * `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`; the UI names the namespace in X-Namespace (one key
 * serves every namespace here). CORS admits the UI's origin only (default http://localhost:8233).
 *
 * Plain node:http: two routes and a CORS preflight do not justify a framework dependency.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Command } from 'commander';
import { PAYLOAD_KEY_ENV, payloadCodecFromEnv } from '../common/payload-codec';

interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

const MAX_BODY_BYTES = 64 << 20;

function fromJson({ metadata, data }: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(data ?? '', 'base64'),
  };
}

function toJson({ metadata, data }: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error(`body over ${MAX_BODY_BYTES} bytes`), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  port: number;
  host?: string;
  /** Origins allowed by CORS (the UI's); `*` allows any. */
  origins: string[];
  log?: (line: string) => void;
}

async function handle(req: IncomingMessage, res: ServerResponse, options: CodecServerOptions): Promise<void> {
  const origin = req.headers.origin;
  if (origin && (options.origins.includes(origin) || options.origins.includes('*'))) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
  }
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { 'Access-Control-Allow-Methods': 'POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization', 'Access-Control-Max-Age': '600' });
    res.end();
    return;
  }
  const route = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
  if (req.method !== 'POST' || (route !== '/encode' && route !== '/decode')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('POST /encode or /decode\n');
    return;
  }
  let body: { payloads?: unknown };
  try {
    body = JSON.parse(await readBody(req)) as { payloads?: unknown };
  } catch (err) {
    const status = (err as { status?: number }).status ?? 400;
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status === 400 ? 'body is not JSON\n' : `${(err as Error).message}\n`);
    return;
  }
  if (!Array.isArray(body?.payloads)) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end('body must be {"payloads": [...]}\n');
    return;
  }
  try {
    const payloads = (body.payloads as JsonPayload[]).map(fromJson);
    const out = route === '/encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ payloads: out.map(toJson) }));
  } catch (err) {
    // A payload this key cannot open (tampered, or another key): say so, without echoing payload content.
    options.log?.(`${route} for namespace ${req.headers['x-namespace'] ?? '(none)'} failed: ${(err as Error).message}`);
    res.writeHead(422, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
  }
}

/** Listen on `port` (0 = any free port); resolves once listening. */
export async function startCodecServer(options: CodecServerOptions): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      options.log?.(`codec server error: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${options.host ?? '127.0.0.1'}:${port}` };
}

/** `ratchet codec-server [--port 8888] [--host 127.0.0.1] [--origin http://localhost:8233]`, key from RATCHET_PAYLOAD_KEY. */
export function registerCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description(`serve Temporal's remote codec endpoint (/encode, /decode) so the Web UI shows payloads encrypted with ${PAYLOAD_KEY_ENV}`)
    .option('--port <port>', 'port to listen on', '8888')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--origin <origins>', 'origins allowed by CORS, comma-separated (the Temporal UI)', 'http://localhost:8233')
    .action(async (options: { port: string; host: string; origin: string }) => {
      const codec = payloadCodecFromEnv();
      if (!codec) throw new Error(`codec-server: ${PAYLOAD_KEY_ENV} is not set; it needs the key the workers encrypt with`);
      const origins = options.origin.split(',').map((o) => o.trim()).filter(Boolean);
      const { url } = await startCodecServer({ codec, port: Number(options.port), host: options.host, origins, log: (line) => console.error(line) });
      console.log(`ratchet codec server on ${url} (key ${codec.keyId}; CORS for ${origins.join(', ')})`);
    });
}

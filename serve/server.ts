/**
 * The HTTP layer of `ratchet serve`: node:http, no framework. Six JSON routes do not need one, and node:http adds
 * no dependency; request validation is zod (serve/requests.ts), as everywhere in the project.
 *
 * Routes (vLLM's paths): GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions,
 * POST /v1/load_lora_adapter, POST /v1/unload_lora_adapter. Every failure is an OpenAI-style JSON error
 * (serve/errors.ts); a handler's exception never reaches the process.
 *
 * Requests that touch an engine (generation, loading a version) run one at a time, in arrival order: a CPU engine
 * gains nothing from interleaving two batches, and a version evicted from the cache is then never in use by
 * another request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChatCompletion } from './chat';
import { createCompletion, type ServeContext } from './completions';
import { ApiError, asApiError, errorBody } from './errors';
import { parseLoadLoraRequest, parseUnloadLoraRequest } from './requests';

/** Largest request body read (a long prompt as token IDs is well under this). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export type Reply = { status?: number; json: unknown } | { status?: number; text: string };
type Route = (ctx: ServeContext, body: unknown) => Promise<Reply>;

const ROUTES: Record<string, { method: 'GET' | 'POST'; serial: boolean; handle: Route }> = {
  '/health': { method: 'GET', serial: false, handle: async () => ({ text: '' }) },
  '/v1/models': { method: 'GET', serial: false, handle: async (ctx) => ({ json: { object: 'list', data: await ctx.models.list() } }) },
  '/v1/completions': { method: 'POST', serial: true, handle: async (ctx, body) => ({ json: await createCompletion(ctx, body) }) },
  '/v1/chat/completions': { method: 'POST', serial: true, handle: async (ctx, body) => ({ json: await createChatCompletion(ctx, body) }) },
  '/v1/load_lora_adapter': { method: 'POST', serial: true, handle: async (ctx, body) => ({ text: await ctx.models.loadAdapter(parseLoadLoraRequest(body)) }) },
  '/v1/unload_lora_adapter': { method: 'POST', serial: false, handle: async (ctx, body) => ({ text: ctx.models.unloadAdapter(parseUnloadLoraRequest(body)) }) },
};

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startServer(ctx: ServeContext, opts: { port: number; host?: string; log?: (line: string) => void }): Promise<RunningServer> {
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const server = createServer((req, res) => {
    const started = Date.now();
    void answer(req)
      .catch((err: unknown) => {
        const error = asApiError(err);
        return { status: error.status, json: errorBody(error) } as Reply;
      })
      .then((reply) => {
        send(res, reply);
        opts.log?.(`${req.method} ${req.url} ${reply.status ?? 200} ${Date.now() - started}ms`);
      });
  });

  async function answer(req: IncomingMessage): Promise<Reply> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = ROUTES[path];
    if (!route) throw new ApiError(404, `no route ${path} (ratchet serve has ${Object.keys(ROUTES).join(', ')})`);
    if (req.method !== route.method) throw new ApiError(405, `${path} takes ${route.method}, not ${req.method}`);
    const body = route.method === 'POST' ? await readJson(req) : undefined;
    return route.serial ? serially(() => route.handle(ctx, body)) : route.handle(ctx, body);
  }

  return {
    url: await listen(server, opts.port, opts.host),
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => ctx.policies.close()),
  };
}

/** Start `server` on `port` (0: any free one) and `host` (default loopback); resolves to its base URL. */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { address, port: bound } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${bound}`;
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined; // a POST with no body (the gateway's claim); a route that needs one says so
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function send(res: ServerResponse, reply: Reply): void {
  const isJson = 'json' in reply;
  const body = isJson ? JSON.stringify(reply.json) : reply.text;
  res.writeHead(reply.status ?? 200, { 'content-type': isJson ? 'application/json' : 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A small OpenAI-compatible HTTP server (node:http) for the openai engine's tests: `/v1/models`, `/v1/completions`
 * in vLLM's shape (token IDs and log-probs of a scripted reply) and vLLM's runtime LoRA routes, with failures a
 * test queues (a status and headers, or no answer at all) before the next completions succeed. It records every
 * request and the most completions in flight at once. Connections are not kept alive, so a test's server on a
 * port never gets a socket a client kept from the previous test's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface QueuedFailure {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface TestServerOptions {
  /** Base models listed at /v1/models. */
  models?: string[];
  /** The reply to a prompt (token IDs), and each token's log-prob. Default: the prompt's last token, then 7, then 0. */
  reply?: (prompt: number[], body: Record<string, unknown>) => { tokens: number[]; logProbs: number[]; finish?: string };
  /** Leave token_ids out (a server that cannot return them). */
  withoutTokenIds?: boolean;
  /** Answer completions after this many ms. */
  delayMs?: number;
  /** Serve the LoRA routes (VLLM_ALLOW_RUNTIME_LORA_UPDATING). */
  loraRoutes?: boolean;
  /** Leave loaded adapters out of /v1/models (as a load racing another sees it). */
  hideAdapters?: boolean;
}

export class TestOpenAiServer {
  readonly requests: { path: string; body: Record<string, unknown>; at: number }[] = [];
  readonly failures: (QueuedFailure | 'hang')[] = [];
  readonly adapters = new Map<string, string>();
  maxInFlight = 0;
  private inFlight = 0;
  private server?: Server;
  private readonly hanging: ServerResponse[] = [];

  constructor(
    readonly port: number,
    private readonly opts: TestServerOptions = {},
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  completions(): Record<string, unknown>[] {
    return this.requests.filter((r) => r.path === '/v1/completions').map((r) => r.body);
  }

  start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** A restart: every loaded adapter is forgotten. */
  restart(): void {
    this.adapters.clear();
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections(); // the clients' idle keep-alive sockets too
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    const path = req.url ?? '';
    this.requests.push({ path, body, at: Date.now() });
    if (path === '/v1/models' && req.method === 'GET') {
      const base = (this.opts.models ?? ['base-model']).map((id) => ({ id, object: 'model', owned_by: 'test', parent: null }));
      const loras = [...(this.opts.hideAdapters ? [] : this.adapters.keys())].map((id) => ({ id, object: 'model', owned_by: 'test', parent: base[0]?.id ?? null }));
      return json(res, 200, { object: 'list', data: [...base, ...loras] });
    }
    if (path === '/v1/completions' && req.method === 'POST') return this.complete(body, res);
    if (this.opts.loraRoutes && path === '/v1/load_lora_adapter') {
      const name = String(body.lora_name);
      if (this.adapters.has(name)) return json(res, 400, { object: 'error', message: `The lora adapter '${name}' has already been loaded.`, type: 'InvalidUserInput', code: 400 });
      this.adapters.set(name, String(body.lora_path));
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(`Success: LoRA adapter '${name}' added successfully.`);
      return;
    }
    if (this.opts.loraRoutes && path === '/v1/unload_lora_adapter') {
      const name = String(body.lora_name);
      if (!this.adapters.delete(name)) return json(res, 404, { object: 'error', message: `The lora adapter '${name}' cannot be found.`, type: 'NotFoundError', code: 404 });
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(`Success: LoRA adapter '${name}' removed successfully.`);
      return;
    }
    json(res, 404, { detail: 'Not Found' });
  }

  private async complete(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const failure = this.failures.shift();
    if (failure === 'hang') {
      this.hanging.push(res);
      return;
    }
    if (failure) return json(res, failure.status, failure.body ?? { error: { message: `queued ${failure.status}`, type: 'test' } }, failure.headers);
    const model = String(body.model);
    const known = (this.opts.models ?? ['base-model']).includes(model) || this.adapters.has(model);
    if (!known) return json(res, 404, { error: { message: `The model \`${model}\` does not exist.`, type: 'NotFoundError', code: 404 } });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.opts.delayMs) await new Promise((resolve) => setTimeout(resolve, this.opts.delayMs));
      const prompt = body.prompt as number[];
      const reply = this.opts.reply?.(prompt, body) ?? { tokens: [prompt[prompt.length - 1], 7, 0], logProbs: [-0.5, -1.25, -0.125] };
      const max = Number(body.max_tokens);
      const tokens = reply.tokens.slice(0, max);
      const choice: Record<string, unknown> = {
        index: 0,
        text: tokens.map(String).join(' '),
        finish_reason: reply.finish ?? (tokens.length < reply.tokens.length ? 'length' : 'stop'),
        logprobs: { tokens: tokens.map(String), token_logprobs: reply.logProbs.slice(0, tokens.length), text_offset: tokens.map((_, i) => i), top_logprobs: null },
        ...(this.opts.withoutTokenIds ? {} : { token_ids: tokens, prompt_token_ids: prompt }),
      };
      json(res, 200, { id: 'cmpl-test', object: 'text_completion', created: 0, model, choices: [choice] });
    } finally {
      this.inFlight--;
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close', ...headers }).end(JSON.stringify(body));
}

/** A tokenizer over single pieces, for requests and stop cutting (id -> piece; decode = concatenation). */
export function pieceTokenizer(pieces: readonly string[]) {
  return { vocabSize: pieces.length, decode: (ids: readonly number[]) => ids.map((id) => pieces[id] ?? '').join('') };
}

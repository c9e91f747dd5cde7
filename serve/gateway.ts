/**
 * The gateway for bring-your-own agents (issue 31): an OpenAI-compatible proxy an external agent points its
 * `base_url` at. Each generation call names its episode in the `x-ratchet-episode` header (and may name the task in
 * `x-ratchet-task`); the gateway forwards it to the upstream server (`ratchet serve`, or vLLM) under the model name of
 * the current policy version, whatever model the agent asked for, and records the exact prompt and sampled token IDs
 * and the sampled tokens' log-probs the upstream returned (vLLM's `return_token_ids`, and `logprobs`, which the
 * gateway always asks for). The agent's reward, from its environment's verifier, closes the episode:
 * `POST /v1/episodes/{id}/reward` (serve/gateway-episodes.ts), and the episode becomes a trajectory row.
 *
 * A training run can hand out its episodes here (rollout engine `gateway`; serve/gateway-work.ts): agents claim one
 * (`POST /v1/episodes`: the task, seed and sampling to play), and its calls go to the version the run named.
 *
 * Routes: GET /health, GET /v1/models (the upstream's), POST /v1/completions, POST /v1/chat/completions,
 * POST /v1/episodes/{id}/reward, GET /v1/episodes, GET /v1/episodes/{id}, POST /v1/episodes (claim a run's episode;
 * 204 when none is waiting), GET|POST /v1/gateway/policy (the version free episodes' calls go to),
 * PUT /v1/gateway/work (a run's episodes, and their state), POST /v1/gateway/probe (does the upstream serve a model).
 * One choice per call (`n` 1) and no streaming: a turn is one sample.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { z } from 'zod';
import { ApiError, asApiError, badRequest, errorBody } from './errors';
import { EPISODE_ID, EpisodeBook, rewardRequest } from './gateway-episodes';
import { WorkBoard, workRequest } from './gateway-work';
import { parseVersionName } from './policy-store';
import { listen, readJson, send, type Reply } from './server';

/** The model name upstream calls use, and the policy version it is (recorded on every turn). */
export interface GatewayPolicy {
  model: string;
  version: number;
}

export interface GatewayOptions {
  /** The upstream server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1. */
  upstream: string;
  /** Where free episodes' calls go (absent: only a run's claimed episodes are served). */
  policy?: GatewayPolicy;
  /** JSONL file each finished episode is appended to (and read back at start). */
  out?: string;
  /** A claimed run episode with no call for this long is handed out again (default 2 minutes). */
  claimTimeoutMs?: number;
  /** Upstream call timeout, ms (default 10 minutes: a CPU server samples slowly). */
  timeoutMs?: number;
  port: number;
  host?: string;
  log?: (line: string) => void;
}

export interface RunningGateway {
  url: string;
  server: Server;
  episodes: EpisodeBook;
  work: WorkBoard;
  policy(): GatewayPolicy | undefined;
  close(): Promise<void>;
}

const policyRequest = z.object({ model: z.string().min(1), version: z.int().min(0).optional() });
const probeRequest = z.strictObject({ model: z.string().min(1).max(512) });

/** A policy from a model name and an optional version: `<run>@v<N>` names its version itself. */
export function gatewayPolicy(model: string, version?: number): GatewayPolicy {
  const named = parseVersionName(model)?.version;
  if (version !== undefined && named !== undefined && version !== named) throw badRequest(`model "${model}" is version ${named}, not ${version}`, 'version');
  const resolved = version ?? named;
  if (resolved === undefined) throw badRequest(`model "${model}" does not name its version (<run>@v<N>): give the version too`, 'version');
  return { model, version: resolved };
}

type Body = Record<string, unknown>;

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const upstream = opts.upstream.replace(/\/+$/, '');
  const episodes = new EpisodeBook(opts.out);
  const work = new WorkBoard(opts.claimTimeoutMs ?? 120_000);
  for (const { id, trajectory } of episodes.restore()) work.finish(id, trajectory);
  let policy = opts.policy;

  async function forward(path: string, init: { method: string; body?: Body }): Promise<Body> {
    let response: Response;
    try {
      response = await fetch(`${upstream}${path}`, {
        method: init.method,
        headers: init.body ? { 'content-type': 'application/json' } : undefined,
        body: init.body ? JSON.stringify(init.body) : undefined,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000),
      });
    } catch (err) {
      throw new ApiError(502, `the upstream ${upstream}${path} did not answer: ${(err as Error).message}`);
    }
    const text = await response.text();
    let json: Body;
    try {
      json = JSON.parse(text) as Body;
    } catch {
      throw new ApiError(502, `the upstream ${upstream}${path} answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    // The upstream's own error (a bad request, an unknown model) reaches the agent as it is.
    if (!response.ok) throw Object.assign(new ApiError(response.status, upstreamMessage(json) ?? text.slice(0, 500)), { body: json });
    return json;
  }

  async function generate(kind: 'completions' | 'chat', req: IncomingMessage, body: unknown): Promise<Reply> {
    const id = header(req, 'x-ratchet-episode');
    if (!id) throw badRequest('the gateway records episodes: send the header x-ratchet-episode: <episode id> with every call');
    if (!EPISODE_ID.test(id)) throw badRequest(`x-ratchet-episode "${id.slice(0, 140)}" must match ${EPISODE_ID}`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
    const request = body as Body;
    if (request.stream) throw badRequest("'stream' is not supported by the gateway (it records whole replies); leave it unset", 'stream');
    if (request.n !== undefined && request.n !== null && request.n !== 1) throw badRequest("'n' must be 1 through the gateway: one call is one turn of one episode", 'n');
    if (kind === 'completions' && !(typeof request.prompt === 'string' || (Array.isArray(request.prompt) && request.prompt.every((t) => typeof t === 'number')))) {
      throw badRequest("'prompt' must be one string or one list of token IDs through the gateway (one turn)", 'prompt');
    }
    episodes.assertOpen(id);
    const assigned = work.assignment(id);
    const current = assigned ? { model: assigned.model, version: assigned.version } : policy;
    if (!current) throw badRequest(`episode "${id}" is not a claimed run episode, and this gateway has no policy of its own (--model): claim one with POST /v1/episodes`);
    const upstreamBody: Body = {
      ...request,
      model: current.model,
      return_token_ids: true,
      // Always the sampled tokens' log-probs; alternatives only when the agent asked.
      logprobs: kind === 'chat' ? true : typeof request.logprobs === 'number' ? request.logprobs : 0,
    };
    const response = await forward(kind === 'chat' ? '/chat/completions' : '/completions', { method: 'POST', body: upstreamBody });
    const turn = kind === 'chat' ? chatTurn(response, request) : completionTurn(response, request);
    episodes.record(id, turn, current.version, assigned?.task.id ?? header(req, 'x-ratchet-task'));
    return { json: response };
  }

  /** A one-token completion of `model` upstream: 422 when the upstream refuses the model, so a run fails fast. */
  async function probe(body: unknown): Promise<Body> {
    const parsed = probeRequest.safeParse(body);
    if (!parsed.success) throw badRequest('probe: send {"model": "<run>@v<N>"}');
    const { model } = parsed.data;
    try {
      await forward('/completions', { method: 'POST', body: { model, prompt: 'Hello', max_tokens: 1, logprobs: 0, return_token_ids: true } });
    } catch (err) {
      const status = (err as ApiError).status;
      if (status >= 400 && status < 500) throw new ApiError(422, `the upstream ${upstream} does not serve "${model}": ${(err as Error).message}`, 'model');
      throw err;
    }
    return { model, ok: true };
  }

  const server = createServer((req, res) => {
    const started = Date.now();
    void answer(req)
      .catch((err: unknown): Reply => {
        const error = asApiError(err);
        const upstreamBody = (err as { body?: unknown }).body;
        return { status: error.status, json: upstreamBody ?? errorBody(error) };
      })
      .then((reply) => {
        send(res, reply);
        opts.log?.(`${req.method} ${req.url} ${reply.status ?? 200} ${Date.now() - started}ms`);
      });
  });

  async function answer(req: IncomingMessage): Promise<Reply> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const body = method === 'POST' || method === 'PUT' ? await readJson(req) : undefined;
    const only = (allowed: string) => {
      if (method !== allowed) throw new ApiError(405, `${path} takes ${allowed}, not ${method}`);
    };
    if (path === '/health') return only('GET'), { text: '' };
    if (path === '/v1/models') return only('GET'), { json: await forward('/models', { method: 'GET' }) };
    if (path === '/v1/completions') return only('POST'), generate('completions', req, body);
    if (path === '/v1/chat/completions') return only('POST'), generate('chat', req, body);
    if (path === '/v1/gateway/policy') {
      if (method === 'POST') {
        const parsed = policyRequest.safeParse(body);
        if (!parsed.success) throw badRequest(`policy: ${parsed.error.issues[0].message} (send {"model": "<run>@v<N>"})`);
        policy = gatewayPolicy(parsed.data.model, parsed.data.version);
        opts.log?.(`gateway: calls now go to ${policy.model} (version ${policy.version})`);
      } else only('GET');
      return { json: policy };
    }
    if (path === '/v1/gateway/work') {
      only('PUT');
      const parsed = workRequest.safeParse(body);
      if (!parsed.success) throw badRequest(`work: '${parsed.error.issues[0].path.join('.')}': ${parsed.error.issues[0].message}`);
      return { json: { object: 'list', data: work.put(parsed.data.items) } };
    }
    if (path === '/v1/gateway/probe') return only('POST'), { json: await probe(body) };
    if (path === '/v1/episodes' && method === 'POST') {
      const claim = work.claim();
      return claim ? { json: { episode: claim.episode, ...claim.item } } : { status: 204, text: '' };
    }
    if (path === '/v1/episodes') return only('GET'), { json: { object: 'list', data: episodes.list() } };
    const m = /^\/v1\/episodes\/([^/]+)(\/reward)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]);
      if (!m[2]) return only('GET'), { json: episodes.get(id) };
      only('POST');
      const parsed = rewardRequest.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw badRequest(`reward: '${issue.path.join('.') || 'body'}': ${issue.message}`, String(issue.path[0] ?? ''));
      }
      const assigned = work.assignment(id);
      const trajectory = episodes.finish(id, assigned ? { ...parsed.data, task_id: parsed.data.task_id ?? assigned.task.id, seed: assigned.task.seed } : parsed.data);
      if (assigned) work.finish(id, trajectory);
      return { json: trajectory };
    }
    throw new ApiError(404, `no route ${path} on the ratchet gateway`);
  }

  return {
    url: await listen(server, opts.port, opts.host),
    server,
    episodes,
    work,
    policy: () => policy,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function upstreamMessage(json: Body): string | undefined {
  const error = json.error as { message?: unknown } | undefined;
  return typeof error?.message === 'string' ? error.message : undefined;
}

/** What a turn needs from an upstream reply, refused with a 502 naming the missing field (never recorded half). */
function need<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) {
    throw new ApiError(502, `the upstream reply has no ${what}: the gateway needs a server that returns token IDs (vLLM's return_token_ids, ratchet serve) and log-probs`);
  }
  return value;
}

interface UpstreamChoice {
  text?: string;
  message?: { content?: string | null };
  token_ids?: number[] | null;
  prompt_token_ids?: number[] | null;
  logprobs?: { token_logprobs?: number[] | null; content?: { logprob: number }[] | null } | null;
}

function firstChoice(response: Body): UpstreamChoice {
  const choices = response.choices as UpstreamChoice[] | undefined;
  return need(choices?.[0], 'choices');
}

function completionTurn(response: Body, request: Body) {
  const choice = firstChoice(response);
  const actionTokens = need(choice.token_ids, 'choices[0].token_ids');
  const sampleLogProbs = need(choice.logprobs?.token_logprobs, 'choices[0].logprobs.token_logprobs');
  return checked({
    context: typeof request.prompt === 'string' ? request.prompt : '',
    promptTokens: need(choice.prompt_token_ids, 'choices[0].prompt_token_ids'),
    actionTokens,
    sampleLogProbs,
    action: choice.text ?? '',
  });
}

function chatTurn(response: Body, request: Body) {
  const choice = firstChoice(response);
  return checked({
    context: JSON.stringify(request.messages),
    promptTokens: need(response.prompt_token_ids as number[] | null | undefined, 'prompt_token_ids'),
    actionTokens: need(choice.token_ids, 'choices[0].token_ids'),
    sampleLogProbs: need(choice.logprobs?.content, 'choices[0].logprobs.content').map((c) => c.logprob),
    action: choice.message?.content ?? '',
  });
}

function checked<T extends { actionTokens: number[]; sampleLogProbs: number[] }>(turn: T): T {
  if (turn.actionTokens.length !== turn.sampleLogProbs.length) {
    throw new ApiError(502, `the upstream returned ${turn.actionTokens.length} token IDs but ${turn.sampleLogProbs.length} log-probs`);
  }
  return turn;
}

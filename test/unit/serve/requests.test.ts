/**
 * Request validation of `ratchet serve` (serve/requests.ts): the prompt forms vLLM takes, a clear 400 naming the
 * field for anything else, and a refusal (not a silent ignore) of sampling features the server does not have.
 */
import { ApiError } from '../../../serve/errors';
import { messageText, parseChatRequest, parseCompletionRequest, parseLoadLoraRequest, stopStrings } from '../../../serve/requests';

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a refusal');
}

describe('completion requests', () => {
  test.each([['a string', 'GET /'], ['strings', ['a', 'b']], ['token IDs', [1, 5, 7]], ['lists of token IDs', [[1, 2], [3]]]])('takes a prompt as %s', (_, prompt) => {
    expect(parseCompletionRequest({ prompt }).prompt).toEqual(prompt);
  });

  test('keeps the sampling fields and ignores fields it does not know (as vLLM)', () => {
    const r = parseCompletionRequest({ prompt: 'x', max_tokens: 4, temperature: 0, top_p: 0.5, seed: 7, stop: ['\n'], n: 2, logprobs: 3, return_token_ids: true, user: 'me' });
    expect(r).toMatchObject({ max_tokens: 4, temperature: 0, top_p: 0.5, seed: 7, stop: ['\n'], n: 2, logprobs: 3, return_token_ids: true });
    expect(r).not.toHaveProperty('user');
  });

  test.each([
    [{}, 'prompt'],
    [{ prompt: '' }, 'prompt'],
    [{ prompt: [] }, 'prompt'],
    [{ prompt: [1, -2] }, 'prompt'],
    [{ prompt: [1.5] }, 'prompt'],
    [{ prompt: 'x', temperature: -0.1 }, 'temperature'],
    [{ prompt: 'x', top_p: 0 }, 'top_p'],
    [{ prompt: 'x', max_tokens: 0 }, 'max_tokens'],
    [{ prompt: 'x', n: 0 }, 'n'],
    [{ prompt: 'x', logprobs: 21 }, 'logprobs'],
    [{ prompt: 'x', seed: 1.5 }, 'seed'],
  ])('refuses %j with a 400 naming %s', (body, param) => {
    const err = refusal(() => parseCompletionRequest(body));
    expect(err.status).toBe(400);
    expect(err.param).toBe(param);
    expect(err.message).toContain(`'${param}`);
  });

  test.each([
    ['stream', true],
    ['echo', true],
    ['best_of', 2],
    ['frequency_penalty', 0.5],
    ['presence_penalty', 1],
    ['logit_bias', { '5': 1 }],
    ['top_k', 5],
    ['use_beam_search', true],
  ])('refuses %s = %j, which it cannot honour, instead of ignoring it', (field, value) => {
    const err = refusal(() => parseCompletionRequest({ prompt: 'x', [field]: value }));
    expect([err.status, err.param]).toEqual([400, field]);
    expect(err.message).toContain('not supported by ratchet serve');
  });

  test('accepts those fields at their neutral values', () => {
    expect(() => parseCompletionRequest({ prompt: 'x', stream: false, echo: false, frequency_penalty: 0, presence_penalty: 0, top_k: -1, logit_bias: {}, best_of: 1 })).not.toThrow();
  });

  test('a body that is not a JSON object is a 400', () => {
    expect(refusal(() => parseCompletionRequest([1, 2])).status).toBe(400);
    expect(refusal(() => parseCompletionRequest('prompt')).status).toBe(400);
  });
});

describe('chat requests', () => {
  test('messages with string or text-part content', () => {
    const r = parseChatRequest({ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], logprobs: true, top_logprobs: 2 });
    expect(r.messages.map(messageText)).toEqual(['be brief', 'a\nb']);
    expect([r.logprobs, r.top_logprobs]).toEqual([true, 2]);
  });

  test.each([
    [{ messages: [] }, 'messages'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages'],
    [{ messages: [{ role: 'user', content: 'x' }], top_logprobs: 21 }, 'top_logprobs'],
    [{ messages: [{ role: 'user', content: 'x' }], logprobs: 2 }, 'logprobs'],
  ])('refuses %j', (body, param) => {
    const err = refusal(() => parseChatRequest(body));
    expect([err.status, err.param]).toEqual([400, param]);
  });

  test('refuses tools', () => {
    expect(refusal(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] })).param).toBe('tools');
  });
});

test('stop strings: one or a list; an empty one is refused', () => {
  expect(stopStrings('\n')).toEqual(['\n']);
  expect(stopStrings(['a', 'b'])).toEqual(['a', 'b']);
  expect(stopStrings(null)).toEqual([]);
  expect(refusal(() => stopStrings(['a', ''])).param).toBe('stop');
});

test('LoRA requests parse without judging (the endpoint answers missing fields with vLLM messages)', () => {
  expect(parseLoadLoraRequest({ lora_name: 'a', lora_path: 'r@v1', load_inplace: true })).toEqual({ lora_name: 'a', lora_path: 'r@v1', load_inplace: true });
  expect(parseLoadLoraRequest({})).toEqual({});
});

/**
 * policy/llm/openai-completions.ts: the completions request per protocol, replies read back in vLLM's and
 * llama-cpp-python's documented shapes (fixtures below), and stops cut on the returned IDs as the in-process
 * engine cuts them.
 */
import { completionBody, cutAtStops, parseChoice, PieceIndex, ServerReplyError, type ChoiceJson } from '../../../policy/llm/openai-completions';
import { pieceTokenizer } from './openai-test-server';

// 0 <eos>, 1 <end>, 2 'a', 3 'b', 4 ' ', 5 '\n', 6 'ab', 7 'Hi', 8 '!'
const tok = pieceTokenizer(['<eos>', '<end>', 'a', 'b', ' ', '\n', 'ab', 'Hi', '!']);
const sampling = { temperature: 0.7, topP: 0.9, maxTokens: 8 };

describe('completionBody', () => {
  test('vllm and ratchet send token IDs and ask for token IDs and one log-prob per token', () => {
    const body = completionBody('vllm', 'run/v3', [7, 4, 2], { ...sampling, stopStrings: ['\n'], stopTokens: [1, 0] }, 42, tok);
    expect(body).toEqual({
      model: 'run/v3',
      prompt: [7, 4, 2],
      max_tokens: 8,
      temperature: 0.7,
      top_p: 0.9,
      seed: 42,
      logprobs: 1,
      n: 1,
      stream: false,
      stop: ['\n'],
      return_token_ids: true,
      skip_special_tokens: false,
      include_stop_str_in_output: true,
      stop_token_ids: [1, 0],
    });
    expect(completionBody('ratchet', 'run/v3', [7], sampling, 1, tok)).toMatchObject({ prompt: [7], return_token_ids: true });
  });

  test('stops that count only after the first non-blank character stay on this side', () => {
    const body = completionBody('vllm', 'm', [7], { ...sampling, stopStrings: ['\n'], stopsAfterLeadingBlank: true }, 1, tok);
    expect(body.stop).toBeUndefined();
  });

  test('llama-cpp sends the decoded prompt, without echo, with neutral llama.cpp samplers', () => {
    const body = completionBody('llama-cpp', 'smol', [7, 4, 2], sampling, 5, tok);
    expect(body).toMatchObject({ prompt: 'Hi a', logprobs: 1, top_k: 0, min_p: 0, repeat_penalty: 1, seed: 5 });
    expect(body.echo).toBeUndefined();
    expect(body.return_token_ids).toBeUndefined();
  });
});

/** vLLM /v1/completions with return_token_ids and logprobs: 1 (CompletionResponseChoice). */
const vllmChoice: ChoiceJson = {
  text: 'ab!',
  finish_reason: 'stop',
  token_ids: [6, 8, 1],
  prompt_token_ids: [7, 4],
  logprobs: { tokens: ['ab', '!', ''], token_logprobs: [-0.25, -1.5, -0.01] },
};

describe('parseChoice', () => {
  test('vLLM: the IDs from token_ids, the log-probs from logprobs.token_logprobs', () => {
    expect(parseChoice('vllm', vllmChoice)).toEqual({ tokens: [6, 8, 1], logProbs: [-0.25, -1.5, -0.01], finishReason: 'stop' });
    expect(parseChoice('vllm', { ...vllmChoice, finish_reason: 'length' }).finishReason).toBe('length');
  });

  test('vLLM with --return-tokens-as-token-ids: IDs read from the token_id:<id> pieces', () => {
    const choice = { ...vllmChoice, token_ids: undefined, logprobs: { tokens: ['token_id:6', 'token_id:8'], token_logprobs: [-0.25, -1.5] } };
    expect(parseChoice('vllm', choice).tokens).toEqual([6, 8]);
  });

  test('a reply without token IDs or log-probs is refused, with what to change', () => {
    const noIds = { ...vllmChoice, token_ids: undefined };
    expect(() => parseChoice('vllm', noIds)).toThrow(/no token IDs.*return_token_ids/);
    expect(() => parseChoice('vllm', { ...vllmChoice, logprobs: null })).toThrow(ServerReplyError);
    expect(() => parseChoice('vllm', { ...vllmChoice, logprobs: { token_logprobs: [-1] } })).toThrow(/3 token IDs but 1 log-probs/);
    expect(() => parseChoice('vllm', { ...vllmChoice, logprobs: { token_logprobs: [-1, null, -1] } })).toThrow(/log-prob 1 .* null/);
    expect(() => parseChoice('vllm', { ...vllmChoice, logprobs: { token_logprobs: [-1, 0.5, -1] } })).toThrow(/log-prob 1 .* 0.5/);
  });

  /** llama-cpp-python /v1/completions with logprobs: 1 (no echo): the reply's pieces and their log-probs. */
  const llamaChoice: ChoiceJson = {
    text: 'ab\n',
    finish_reason: 'stop',
    logprobs: { tokens: ['ab', '\n'], token_logprobs: [-0.5, -0.75] },
  };

  test('llama-cpp: the reply pieces map back to IDs, and must be as many as the server sampled', () => {
    const pieces = new PieceIndex(tok);
    expect(parseChoice('llama-cpp', llamaChoice, pieces, 2)).toEqual({ tokens: [6, 5], logProbs: [-0.5, -0.75], finishReason: 'stop' });
    // A BOS-equal token the server sampled is left out of its pieces.
    expect(() => parseChoice('llama-cpp', llamaChoice, pieces, 3)).toThrow(/sampled 3 tokens but listed 2/);
  });

  test('llama-cpp: a piece several IDs decode to is refused, not guessed', () => {
    const twoAbs = new PieceIndex(pieceTokenizer(['<eos>', '<end>', 'a', 'b', ' ', '\n', 'ab', 'Hi', 'ab']));
    expect(() => parseChoice('llama-cpp', llamaChoice, twoAbs)).toThrow(/token 0 "ab" decodes from several token IDs/);
    expect(() => parseChoice('llama-cpp', { ...llamaChoice, logprobs: { tokens: ['zz'], token_logprobs: [-1] } }, new PieceIndex(tok))).toThrow(/"zz" is no single token/);
  });
});

describe('cutAtStops', () => {
  const reply = (tokens: number[], finishReason: 'stop' | 'length' = 'length') => ({ tokens, logProbs: tokens.map((_, i) => -(i + 1)), finishReason });

  test('a stop token ends the reply: kept in the IDs, not in the text', () => {
    expect(cutAtStops(reply([6, 8, 1, 2, 3]), { stopTokens: [1] }, tok)).toEqual({ tokens: [6, 8, 1], logProbs: [-1, -2, -3], text: 'ab!', finishReason: 'stop' });
  });

  test('a stop string ends the reply at the token that completes it, the text cut after it', () => {
    expect(cutAtStops(reply([2, 5, 3, 3]), { stopStrings: ['\n'] }, tok)).toEqual({ tokens: [2, 5], logProbs: [-1, -2], text: 'a\n', finishReason: 'stop' });
  });

  test('after a leading blank only, when asked: a reply that opens with a newline goes on', () => {
    const cut = cutAtStops(reply([5, 2, 5, 3]), { stopStrings: ['\n'], stopsAfterLeadingBlank: true }, tok);
    expect(cut).toMatchObject({ tokens: [5, 2, 5], text: '\na\n', finishReason: 'stop' });
    expect(cutAtStops(reply([5, 2, 5, 3]), { stopStrings: ['\n'] }, tok).tokens).toEqual([5]);
  });

  test('no stop: the whole reply, with the server finish reason', () => {
    expect(cutAtStops(reply([2, 3], 'length'), { stopStrings: ['!'], stopTokens: [1] }, tok)).toEqual({ tokens: [2, 3], logProbs: [-1, -2], text: 'ab', finishReason: 'length' });
    expect(cutAtStops(reply([2, 3], 'stop'), {}, tok).finishReason).toBe('stop');
  });
});

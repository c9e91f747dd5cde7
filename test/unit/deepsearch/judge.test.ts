import { OpenAiCompatibleJudge, judgePrompt } from '../../../envs/deepsearch';

const input = { question: 'Where is the Eiffel Tower?', prediction: 'Paris, France', goldenAnswers: ['Paris'] };

function fakeFetch(reply: unknown, status = 200) {
  const calls: { url: string; init: RequestInit }[] = [];
  const impl = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(JSON.stringify(reply), { status });
  }) as unknown as typeof fetch;
  return { impl, calls };
}

describe('OpenAiCompatibleJudge (against a fake server)', () => {
  it('posts a chat completion and reads yes/no', async () => {
    const { impl, calls } = fakeFetch({ choices: [{ message: { content: 'Yes.' } }] });
    const judge = new OpenAiCompatibleJudge({ baseUrl: 'http://localhost:8000/v1/', model: 'm', apiKey: 'k', fetchImpl: impl });
    expect(await judge.judge(input)).toBe(1);
    expect(calls[0].url).toBe('http://localhost:8000/v1/chat/completions');
    const body = JSON.parse(calls[0].init.body as string);
    expect(body).toMatchObject({ model: 'm', temperature: 0 });
    expect(body.messages[0].content).toBe(judgePrompt(input));
    expect((calls[0].init.headers as Record<string, string>).authorization).toBe('Bearer k');
  });

  it('reads "no" as 0 and reports HTTP and shape errors', async () => {
    const no = new OpenAiCompatibleJudge({ baseUrl: 'http://x', model: 'm', fetchImpl: fakeFetch({ choices: [{ message: { content: 'no' } }] }).impl });
    expect(await no.judge(input)).toBe(0);
    const down = new OpenAiCompatibleJudge({ baseUrl: 'http://x', model: 'm', fetchImpl: fakeFetch({}, 500).impl });
    await expect(down.judge(input)).rejects.toThrow(/HTTP 500/);
    const odd = new OpenAiCompatibleJudge({ baseUrl: 'http://x', model: 'm', fetchImpl: fakeFetch({}).impl });
    await expect(odd.judge(input)).rejects.toThrow(/no choices/);
  });

  it('refuses a bad configuration', () => {
    expect(() => new OpenAiCompatibleJudge({ baseUrl: 'localhost', model: 'm' })).toThrow(/http\(s\) URL/);
  });
});

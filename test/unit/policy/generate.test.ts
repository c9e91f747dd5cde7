import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../common/random';
import { initBackend } from '../../../policy/backend';
import { OrtPolicy } from '../../../policy/generate';
import { logits, modelFromWeights, Model } from '../../../policy/model';
import { exportOnnx } from '../../../policy/onnx-export';
import { Tokenizer } from '../../../policy/tokenizer';
import { TINY, randomIds, randomWeights } from './helpers';

describe.each([
  ['LM head', TINY],
  ['LM + copy head', { ...TINY, copyHead: true }],
  ['rotary positions and copy head', { ...TINY, copyHead: true, rotary: true }],
])('OrtPolicy.generate (%s)', (_, config) => {
  const weights = randomWeights(config, 11);
  let model: Model;
  let policy: OrtPolicy;
  const prompts = randomIds(new Rng(3), 4, 1, config.vocabSize).map((r, i) => [...r, ...randomIds(new Rng(i), 1, 2 + 2 * i, config.vocabSize)[0]]);

  beforeAll(async () => {
    await initBackend({ quiet: true });
    model = modelFromWeights(config, 'policy', weights);
    policy = await OrtPolicy.load(exportOnnx(weights, config, { logits: 'last' }));
  });
  afterAll(() => policy.release());

  /** Greedy decoding with no cache at all: a full tfjs forward per token. */
  function greedyWithoutCache(prompt: number[], maxTokens: number): number[] {
    const seq = prompt.slice();
    for (let i = 0; i < maxTokens; i++) {
      const next = tf.tidy(() => logits(model, [seq]).slice([0, seq.length - 1, 0], [1, 1, config.vocabSize]).argMax(-1).dataSync()[0]);
      seq.push(next);
    }
    return seq.slice(prompt.length);
  }

  test('greedy generation with the KV cache equals generation without it, batched and left-padded', async () => {
    const out = await policy.generate(prompts, { temperature: 0, topP: 1, maxTokens: 8, seed: 0 });
    for (const [i, prompt] of prompts.entries()) {
      expect(out[i].tokens).toEqual(greedyWithoutCache(prompt, 8));
      expect(out[i].finishReason).toBe('length');
    }
  });

  test.each([1, 0.5])('returned log-probs are those of the chosen tokens under softmax(logits / T), T = %s', async (temperature) => {
    const [g] = await policy.generate([prompts[1]], { temperature, topP: 1, maxTokens: 5, seed: 4 });
    const seq = [...prompts[1], ...g.tokens];
    const expected = tf.tidy(() => {
      const lp = tf.logSoftmax(logits(model, [seq.slice(0, -1)]).div(temperature) as tf.Tensor3D, -1).arraySync()[0];
      return g.tokens.map((tok, i) => lp[prompts[1].length - 1 + i][tok]);
    });
    g.logProbs.forEach((lp, i) => expect(Math.abs(lp - expected[i])).toBeLessThan(1e-4));
  });

  test('a prefill split into one run per row gives the same tokens and log-probs as one run for the batch', async () => {
    const rowByRow = await OrtPolicy.load(exportOnnx(weights, config, { logits: 'last' }), undefined, { maxPrefillScores: 1 });
    const opts = { temperature: 1, topP: 1, maxTokens: 6, seed: 7, stopTokens: [] };
    const [whole, split] = [await policy.generate(prompts, opts), await rowByRow.generate(prompts, opts)];
    await rowByRow.release();
    expect(split.map((g) => g.tokens)).toEqual(whole.map((g) => g.tokens));
    split.forEach((g, i) => g.logProbs.forEach((lp, t) => expect(Math.abs(lp - whole[i].logProbs[t])).toBeLessThan(1e-5)));
  });

  test('sampling is reproducible from the seed and independent of batch neighbours', async () => {
    const opts = { temperature: 1, topP: 0.9, maxTokens: 10, seed: 42 };
    const a = await policy.generate(prompts, opts);
    const b = await policy.generate(prompts, opts);
    const alone = await policy.generate([prompts[0]], opts);
    expect(a.map((g) => g.tokens)).toEqual(b.map((g) => g.tokens));
    expect(alone[0].tokens).toEqual(a[0].tokens);
    const other = await policy.generate(prompts, { ...opts, seed: 43 });
    expect(other.map((g) => g.tokens)).not.toEqual(a.map((g) => g.tokens));
  });

  test('two generate calls interleave instead of one blocking the event loop', async () => {
    let ticks = 0;
    let done = false;
    const ticker = (async () => {
      while (!done) {
        ticks++;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })();
    const opts = { temperature: 1, topP: 1, maxTokens: 12, seed: 1, stopTokens: [] };
    await Promise.all([policy.generate(prompts, opts), policy.generate(prompts.slice(0, 2), opts)]);
    done = true;
    await ticker;
    expect(ticks).toBeGreaterThanOrEqual(12); // the ticker ran between decode steps
  });

  test('rows that finish early leave the batch without changing the others', async () => {
    const opts = { temperature: 0, topP: 1, maxTokens: 8, seed: 0 };
    const free = await policy.generate(prompts, { ...opts, stopTokens: [] });
    const stopTokens = [free[0].tokens[1]]; // row 0 stops after two tokens; the rest when (if) they meet it
    const batched = await policy.generate(prompts, { ...opts, stopTokens });
    expect(batched[0].tokens).toHaveLength(free[0].tokens.indexOf(stopTokens[0]) + 1);
    expect(batched.some((g) => g.tokens.length > batched[0].tokens.length)).toBe(true);
    for (const [i, prompt] of prompts.entries()) expect(batched[i].tokens).toEqual((await policy.generate([prompt], { ...opts, stopTokens }))[0].tokens);
  });

  test('stop strings end generation and are kept in the text; eos stops; the context bounds length', async () => {
    const tokenizer = Tokenizer.build(['call(x, y)\n']);
    const small = { ...config, vocabSize: tokenizer.vocabSize };
    const ort = await OrtPolicy.load(exportOnnx(randomWeights(small, 5), small));
    const prompt = [tokenizer.bos, ...tokenizer.encode('call(')];
    const free = await ort.generate([prompt], { temperature: 0, topP: 1, maxTokens: 12, seed: 0, stopTokens: [] }, tokenizer);
    expect(free[0].finishReason).toBe('length');
    expect(free[0].text).toBe(tokenizer.decode(free[0].tokens));
    // A stop string taken from the middle of the free-running text must cut it right after its first occurrence.
    const stop = tokenizer.decode([free[0].tokens[5]]);
    const cut = free[0].text.indexOf(stop) + stop.length;
    const [stopped] = await ort.generate([prompt], { temperature: 0, topP: 1, maxTokens: 12, seed: 0, stopTokens: [], stopStrings: ['@@never', stop] }, tokenizer);
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(free[0].text.slice(0, cut));
    expect(stopped.tokens).toEqual(free[0].tokens.slice(0, stopped.tokens.length));
    expect(stopped.tokens.length).toBeLessThanOrEqual(6);
    // A stop token ends generation and is returned as a token.
    const [byToken] = await ort.generate([prompt], { temperature: 0, topP: 1, maxTokens: 12, seed: 0, stopTokens: [free[0].tokens[2]] });
    expect(byToken.tokens).toEqual(free[0].tokens.slice(0, free[0].tokens.indexOf(free[0].tokens[2]) + 1));
    expect(byToken.finishReason).toBe('stop');
    // Generation never runs past the context window.
    const long = new Array(config.contextLength - 3).fill(tokenizer.bos);
    const [bounded] = await ort.generate([long], { temperature: 1, topP: 1, maxTokens: 50, seed: 1, stopTokens: [] });
    expect(bounded.tokens).toHaveLength(3);
    expect(bounded.finishReason).toBe('length');
    await expect(ort.generate([new Array(config.contextLength).fill(5)], { temperature: 0, topP: 1, maxTokens: 2, seed: 0 })).rejects.toThrow(/context/);
    await ort.release();
  });
});

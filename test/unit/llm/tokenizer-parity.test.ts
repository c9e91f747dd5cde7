/**
 * One tokenizer (issue 27): the IDs the TypeScript rollout side produces (policy/llm/tokenizer.ts,
 * @huggingface/tokenizers + @huggingface/jinja) are exactly the IDs the Python trainer consumes
 * (ratchet_torch.tokenizer.load_tokenizer, transformers), on both environments' prompts, contexts, actions and
 * observations, chat-template renderings with special tokens, and fuzzed unicode; and both agree with llama.cpp's
 * own tokenizer of the GGUF when node-llama-cpp is installed.
 *
 * Needs the Python venv (`npm run setup:python`): skipped, saying so, when it is absent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dataDir, REPO_ROOT } from '../../../infra/paths';
import { runWorkerModule, venvStatus } from '../../../infra/python';
import { resolveModelRef } from '../../../policy/llm/models';
import { pullModel } from '../../../policy/llm/pull';
import { LlmTokenizer, loadLlmTokenizer, tokenizerDirFor } from '../../../policy/llm/tokenizer';
import { buildParityCorpus, type ParityCorpus } from './parity-corpus';

const NAME = 'smollm2-135m-instruct';
const venv = venvStatus();
if (!venv.ready) {
  console.warn(`skipping the LLM tokenizer parity tests: no Python venv (${venv.reason}); run \`npm run setup:python\` to enable them`);
}

interface PythonEncoding {
  ids: number[][];
  chatTexts: string[];
  chatIds: number[][];
  chatTemplateIds: number[][];
  /** The texts through the canonical pre-tokenizer (Digits + ByteLevel, as SmolLM2's own tokenizer.json). */
  canonicalIds: number[][];
}

/**
 * llama.cpp's tokenization of `texts` (special tokens parsed, as transformers does), through node-llama-cpp in a
 * child process (an ES module, which this CommonJS test cannot load; the script is a file under .data/, not
 * `node --input-type=module -e`, whose flag node-llama-cpp's binary test would inherit and fail on); undefined
 * when node-llama-cpp is not installed or has no usable prebuilt binary.
 */
function llamaCppTokenize(modelPath: string, texts: string[]): number[][] | undefined {
  const script = join(dataDir(), 'tmp', `llama-cpp-tokenize-${process.pid}.mjs`);
  mkdirSync(dirname(script), { recursive: true });
  writeFileSync(
    script,
    `import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { modelPath, texts } = JSON.parse(input);
// build: 'never': the prebuilt binary or nothing (a failed binary test would otherwise start a 10-minute source build).
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, vocabOnly: true });
process.stdout.write(JSON.stringify(texts.map((t) => Array.from(model.tokenize(t, true)))));
await model.dispose();
await llama.dispose();
`,
  );
  try {
    const r = spawnSync(process.execPath, [script], { input: JSON.stringify({ modelPath, texts }), encoding: 'utf8', maxBuffer: 1 << 30, cwd: REPO_ROOT, timeout: 240_000 });
    if (r.status !== 0 && /Cannot find package 'node-llama-cpp'|ERR_MODULE_NOT_FOUND/.test(r.stderr)) {
      console.warn('node-llama-cpp is not installed: the llama.cpp cross-check is skipped');
      return undefined;
    }
    if (r.status !== 0 && /NoBinaryFoundError|No prebuilt binaries/.test(r.stderr)) {
      console.warn(`node-llama-cpp has no usable prebuilt binary here: the llama.cpp cross-check is skipped`);
      return undefined;
    }
    if (r.status !== 0) throw new Error(`node-llama-cpp tokenization failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout) as number[][];
  } finally {
    rmSync(script, { force: true });
  }
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (s: string) => JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);

(venv.ready ? describe : describe.skip)('LLM tokenizer: TypeScript and Python agree', () => {
  let tok: LlmTokenizer;
  let tokenizerDir: string;
  let corpus: ParityCorpus;
  let py: PythonEncoding;
  let tsIds: number[][];

  beforeAll(async () => {
    const pulled = await pullModel(NAME);
    const model = resolveModelRef(NAME);
    tokenizerDir = tokenizerDirFor(model);
    tok = loadLlmTokenizer(model); // exports it with the venv the first time
    expect(tokenizerDir).toBe(tok.dir);
    expect(existsSync(pulled.path)).toBe(true);
    corpus = buildParityCorpus();
    const request = JSON.stringify({ texts: corpus.texts.map((t) => t.text), chats: corpus.chats, canonical: 'smollm' });
    tsIds = corpus.texts.map(({ text }) => tok.encode(text));
    py = JSON.parse(runWorkerModule('ratchet_torch.tokenizer', ['encode', '--tokenizer', tokenizerDir], { purpose: 'tokenizer parity', input: request }));
  }, 600_000);

  test('the tokenizer: SmolLM2 vocabulary, ChatML specials, stop tokens', () => {
    expect(tok.vocabSize).toBe(49152);
    expect([tok.tokenToId('<|endoftext|>'), tok.tokenToId('<|im_start|>'), tok.tokenToId('<|im_end|>')]).toEqual([0, 1, 2]);
    expect(tok.eosId).toBe(2);
    expect(tok.stopIds).toEqual([2, 0]);
    expect(tok.specialIds.has(1)).toBe(true);
    expect(tok.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The pre-tokenizer fix (digits split first, as SmolLM2 was trained and as llama.cpp's `smollm` rule does):
    // a newline and its indentation stay one token before a digit.
    expect(tok.tokens(tok.encode('[\n    1,'))).toEqual(['[', 'ĊĠĠĠĠ', '1', ',']);
  });

  test('identical IDs on every text (environments and fuzz)', () => {
    expect(py.ids).toHaveLength(corpus.texts.length);
    const mismatches: string[] = [];
    const bySource = new Map<string, number>();
    corpus.texts.forEach(({ source, text }, i) => {
      bySource.set(source, (bySource.get(source) ?? 0) + 1);
      const ids = tsIds[i];
      if (!same(py.ids[i], py.canonicalIds[i])) mismatches.push(`${source} ${show(text)}: the exported tokenizer differs from the canonical one in Python`);
      if (!same(ids, py.ids[i])) mismatches.push(`${source} ${show(text)}: ts ${JSON.stringify(ids.slice(0, 30))} py ${JSON.stringify(py.ids[i].slice(0, 30))}`);
    });
    console.log(
      `tokenizer parity: ${corpus.texts.length - mismatches.length}/${corpus.texts.length} texts identical ` +
        `(${[...bySource].map(([s, n]) => `${s} ${n}`).join(', ')})`,
    );
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(corpus.texts.length).toBeGreaterThan(9000);
  });

  test('chat template: identical rendering and IDs, specials included', () => {
    expect(py.chatTexts).toHaveLength(corpus.chats.length);
    const mismatches: string[] = [];
    corpus.chats.forEach((chat, i) => {
      const text = tok.renderChat(chat.messages, chat);
      if (text !== py.chatTexts[i]) return void mismatches.push(`${chat.source} #${i}: rendered text differs: ts ${show(text)} py ${show(py.chatTexts[i])}`);
      const ids = tok.encodeChat(chat.messages, chat);
      if (!same(ids, py.chatIds[i])) mismatches.push(`${chat.source} #${i}: ids differ`);
      if (!same(ids, py.chatTemplateIds[i])) mismatches.push(`${chat.source} #${i}: differs from apply_chat_template(tokenize=True)`);
    });
    console.log(`chat template parity: ${corpus.chats.length - mismatches.length}/${corpus.chats.length} chats identical; total ${corpus.texts.length + corpus.chats.length} strings`);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(corpus.texts.length + corpus.chats.length).toBeGreaterThanOrEqual(10_000);
    // The shape a rollout uses: <|im_start|>system ... <|im_end|>\n<|im_start|>user ... <|im_start|>assistant\n
    const ids = tok.encodeChat([{ role: 'user', content: 'What is the capital of France?' }], { addGenerationPrompt: true });
    expect(ids.slice(0, 3)).toEqual([1, 9690, 198]);
    expect(ids.slice(-4)).toEqual([1, 520, 9531, 198]);
    expect(ids.filter((id) => id === 2)).toHaveLength(2);
  });

  test('decode inverts encode on every text (less the characters the vocabulary cannot spell)', () => {
    // SmolLM2's vocabulary has no symbol for six control characters and for U+40000-U+BFFFF: the exported
    // tokenizer's normalizer drops them, as Rust's BPE would (workers/torch/ratchet_torch/tokenizer.py).
    const unrepresentable = /[\x04\x06\x13\x14\x16\x1d\u{40000}-\u{bffff}]/gu;
    const broken = corpus.texts.filter(({ text }, i) => tok.decode(tsIds[i]) !== text.replace(unrepresentable, ''));
    expect(broken.map(({ source, text }) => `${source} ${show(text)}`).slice(0, 5)).toEqual([]);
    expect(tok.decode(tok.encode('a\x13b'))).toBe('ab');
  });

  test("llama.cpp's tokenizer of the GGUF gives the same IDs (when node-llama-cpp is installed)", () => {
    const ids = llamaCppTokenize(resolveModelRef(NAME).path, corpus.texts.map((t) => t.text));
    if (!ids) return;
    let agree = 0;
    const differ: string[] = [];
    corpus.texts.forEach(({ source, text }, i) => {
      if (same(ids[i], tsIds[i])) agree++;
      else differ.push(`${source} ${show(text)}`);
    });
    console.log(`llama.cpp agreement: ${agree}/${corpus.texts.length} texts; first differences: ${differ.slice(0, 3).join(' | ')}`);
    expect(differ.filter((d) => !d.startsWith('fuzz'))).toEqual([]);
    expect(agree / corpus.texts.length).toBeGreaterThan(0.99);
  }, 300_000);
});

(venv.ready ? describe : describe.skip)('the venv runs the model', () => {
  test('transformers loads the GGUF and answers "What is the capital of France?" through the chat template', () => {
    const model = resolveModelRef(NAME);
    const out = JSON.parse(
      runWorkerModule('ratchet_torch.smoke', ['--gguf', model.path, '--tokenizer', tokenizerDirFor(model)], { purpose: 'the venv smoke check' }).trim().split('\n').pop()!,
    ) as { answer: string; promptIds: number[]; loadSeconds: number };
    console.log(`smoke: ${JSON.stringify(out.answer)} (load ${out.loadSeconds} s)`);
    expect(out.answer).toMatch(/Paris/);
    const tok = LlmTokenizer.fromDir(tokenizerDirFor(model));
    expect(out.promptIds).toEqual(tok.encodeChat([{ role: 'user', content: 'What is the capital of France?' }], { addGenerationPrompt: true }));
  }, 300_000);
});

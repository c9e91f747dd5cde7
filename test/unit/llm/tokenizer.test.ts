/**
 * policy/llm/tokenizer.ts without Python: loading a tokenizer directory, encoding with special tokens, the chat
 * template, and where exports live and when they are current. (The real SmolLM2 tokenizer and its parity with the
 * Python side: tokenizer-parity.test.ts.)
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelRef } from '../../../policy/llm/models';
import { LlmTokenizer, TOKENIZER_EXPORT_VERSION, tokenizerDirFor, tokenizerIsCurrent } from '../../../policy/llm/tokenizer';
import { writeTestGguf } from './gguf-writer';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ratchet-llm-tokenizer-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A byte-level BPE over a handful of symbols, ChatML specials and template, written as save_pretrained does. */
function tinyTokenizer(at: string): string {
  mkdirSync(at, { recursive: true });
  const vocab: Record<string, number> = { '<|endoftext|>': 0, '<|im_start|>': 1, '<|im_end|>': 2, h: 3, i: 4, 'Ġ': 5, Ċ: 6, hi: 7, u: 8, s: 9, e: 10, r: 11, a: 12, t: 13, n: 14, y: 15, m: 16, o: 17 };
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<|endoftext|>'), special(1, '<|im_start|>'), special(2, '<|im_end|>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [['h', 'i']] },
  };
  writeFileSync(join(at, 'tokenizer.json'), JSON.stringify(json));
  writeFileSync(join(at, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|im_start|>', eos_token: '<|im_end|>', pad_token: '<|im_end|>', unk_token: '<|endoftext|>' }));
  writeFileSync(
    join(at, 'chat_template.jinja'),
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  );
  return at;
}

describe('LlmTokenizer', () => {
  test('encodes with BPE merges and whole special tokens, decodes back', () => {
    const tok = LlmTokenizer.fromDir(tinyTokenizer(join(dir, 'tiny')));
    expect(tok.vocabSize).toBe(18);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([1, 2, 2]);
    expect(tok.stopIds).toEqual([2, 0]);
    expect([...tok.specialIds]).toEqual([0, 1, 2]);
    expect(tok.encode('hi hi')).toEqual([7, 5, 7]);
    expect(tok.tokens(tok.encode('hi hi'))).toEqual(['hi', 'Ġ', 'hi']);
    expect(tok.encode('<|im_start|>hi<|im_end|>')).toEqual([1, 7, 2]);
    expect(tok.decode([1, 7, 2])).toBe('<|im_start|>hi<|im_end|>');
    expect(tok.decode([1, 7, 2], { skipSpecialTokens: true })).toBe('hi');
    expect(tok.decode([])).toBe('');
    expect(tok.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test('renders and encodes a chat through the template', () => {
    const tok = LlmTokenizer.fromDir(join(dir, 'tiny'));
    const messages = [{ role: 'user', content: 'hi' }];
    expect(tok.renderChat(messages, { addGenerationPrompt: true })).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(tok.encodeChat(messages)).toEqual([1, 8, 9, 10, 11, 6, 7, 2, 6]);
    const bare = join(dir, 'no-template');
    tinyTokenizer(bare);
    rmSync(join(bare, 'chat_template.jinja'));
    expect(() => LlmTokenizer.fromDir(bare).renderChat(messages)).toThrow(/has no chat template/);
    expect(() => LlmTokenizer.fromDir(join(dir, 'nothing-here'))).toThrow(/has no tokenizer.json/);
  });
});

describe('tokenizer exports', () => {
  test('where they live: per registered model, per local GGUF, or the HF directory itself', () => {
    const models = join(dir, 'models');
    expect(tokenizerDirFor(resolveModelRef('smollm2-135m-instruct', { modelsDir: models }), models)).toBe(join(models, 'smollm2-135m-instruct', 'tokenizer'));
    const gguf = join(dir, 'local.gguf');
    writeTestGguf(gguf, { 'general.architecture': { type: 'string', value: 'llama' } });
    expect(tokenizerDirFor(resolveModelRef(gguf), models)).toMatch(new RegExp(`^${models}/local/[0-9a-f]{16}/tokenizer$`));
    const hf = join(dir, 'hf');
    tinyTokenizer(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify({ model_type: 'llama' }));
    const resolved = resolveModelRef(hf);
    expect(tokenizerDirFor(resolved, models)).toBe(hf);
    expect(tokenizerIsCurrent(resolved, hf)).toBe(true);
  });

  test('an export is current only with this export version and, for a local file, its size and mtime', () => {
    const gguf = join(dir, 'current.gguf');
    writeTestGguf(gguf, { 'general.architecture': { type: 'string', value: 'llama' } });
    const model = resolveModelRef(gguf);
    const out = join(dir, 'current-export');
    expect(tokenizerIsCurrent(model, out)).toBe(false);
    tinyTokenizer(out);
    const stat = statSync(gguf);
    const manifest = { exportVersion: TOKENIZER_EXPORT_VERSION, source: gguf, format: 'gguf', sourceBytes: stat.size, sourceMtimeMs: stat.mtimeMs };
    writeFileSync(join(out, 'ratchet-tokenizer.json'), JSON.stringify(manifest));
    expect(tokenizerIsCurrent(model, out)).toBe(true);
    writeFileSync(join(out, 'ratchet-tokenizer.json'), JSON.stringify({ ...manifest, exportVersion: 0 }));
    expect(tokenizerIsCurrent(model, out)).toBe(false);
    writeFileSync(join(out, 'ratchet-tokenizer.json'), JSON.stringify({ ...manifest, sourceBytes: stat.size + 1 }));
    expect(tokenizerIsCurrent(model, out)).toBe(false);
  });
});

"""The LLM policy's one tokenizer, shared by the TypeScript rollout side and the Python trainer (issue 27).

A GGUF carries its tokenizer as metadata, not as a `tokenizer.json`. `export` builds the tokenizer with
transformers' own GGUF converter and writes it with `save_pretrained` (tokenizer.json, tokenizer_config.json,
chat_template.jinja), which both sides then load: TypeScript with @huggingface/tokenizers (policy/llm/tokenizer.ts),
Python with `load_tokenizer`. The trainer must load it from there, not from the GGUF, because of one fix:

transformers 5.x has no split rule for llama.cpp's `smollm` pre-tokenizer (its GGUF_PRE_TOKENIZER_SPLITS lacks
it) and falls back to plain GPT-2 byte-level splitting, which differs from how SmolLM2 was trained (digits are
split off one by one first; llama.cpp's `smollm` rule, and the original tokenizer.json of HuggingFaceTB/SmolLM2):
"[\\n    1" is `[`, `\\n` + 4 spaces in the original and `[`, `\\n`, 3 spaces, ` 1` after transformers' conversion.
PRE_TOKENIZERS below restores the original; the parity test checks the result against llama.cpp's tokenizer.

  python -m ratchet_torch.tokenizer export --model DIR_OR_GGUF --out DIR
  python -m ratchet_torch.tokenizer encode --tokenizer DIR < requests.json > ids.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys


# GPT-2's split rule (ByteLevel's use_regex), with \s, \p{L} and \p{N} left as placeholders.
_GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?[L]+| ?[N]+| ?[^SLN]+|[S]+(?![^S])|[S]+"

_ALL_CHARS = None


def _all_chars() -> str:
    global _ALL_CHARS
    if _ALL_CHARS is None:
        _ALL_CHARS = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    return _ALL_CHARS


def _class_of(pattern: str) -> set[str]:
    """The characters a one-character pattern matches, as this tokenizers build's Oniguruma sees them."""
    from tokenizers import Regex, pre_tokenizers

    kept = pre_tokenizers.Split(Regex(pattern), behavior="removed").pre_tokenize_str(_all_chars())
    rest = set("".join(piece for piece, _ in kept))
    return set(_all_chars()) - rest


def _numeric_chars() -> set[str]:
    """The characters the Digits pre-tokenizer splits off (Rust's char::is_numeric)."""
    from tokenizers import pre_tokenizers

    digits = pre_tokenizers.Digits(individual_digits=True)
    return {c for c in _all_chars() if len(digits.pre_tokenize_str("a" + c + "a")) == 3}


def _ranges(chars: set[str]) -> str:
    r"""A character-class body of explicit code point ranges, `\x{..}` escapes only."""
    cps = sorted(ord(c) for c in chars)
    out, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "".join(out)


def canonical_pre_tokenizers():
    """The pre-tokenizers as the original tokenizers spell them, keyed by llama.cpp's `tokenizer.ggml.pre`."""
    from tokenizers import pre_tokenizers

    return {
        # llama.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM: `\p{N}` first, then the GPT-2 rule. The original SmolLM/SmolLM2
        # tokenizer.json spells it as Digits(individual) then ByteLevel.
        "smollm": pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ]
        ),
    }


def explicit_pre_tokenizers():
    r"""The same pre-tokenizers with every character class spelled out as code point ranges.

    Each implementation resolves `\s`, `\p{L}`, `\p{N}` and Digits from its own Unicode tables: Rust's Oniguruma
    counts U+0085 as a space and not U+FEFF, JavaScript the reverse; V8's tables know thousands of letters added
    to Unicode since Oniguruma's; and @huggingface/tokenizers' Digits matches only ASCII digits where Rust's
    matches every numeric character (fullwidth, Arabic-Indic, superscripts). Ranges computed here, from this
    tokenizers build, mean the same in both, and tokenize exactly as the canonical form above does in Python.
    """
    from tokenizers import Regex, pre_tokenizers

    S, L, N = _ranges(_class_of(r"\s")), _ranges(_class_of(r"\p{L}")), _ranges(_numeric_chars())
    N_ONIG = _ranges(_class_of(r"\p{N}"))
    split = _GPT2_SPLIT.replace("[L]", f"[{L}]").replace("[N]", f"[{N_ONIG}]").replace("[^SLN]", f"[^{S}{L}{N_ONIG}]")
    split = split.replace("[^S]", f"[^{S}]").replace("[S]", f"[{S}]")
    return {
        "smollm": pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(f"[{N}]"), behavior="isolated"),
                pre_tokenizers.Split(Regex(split), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
            ]
        ),
    }


def gguf_metadata(path: str, keys: tuple[str, ...]) -> dict:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    out = {}
    for key in keys:
        field = reader.fields.get(key)
        if field is not None:
            out[key] = field.contents()
    return out


# Bumped whenever the export changes what it writes; policy/llm/tokenizer.ts re-exports an older one.
EXPORT_VERSION = 1


def export_tokenizer(model: str, out: str) -> dict:
    """Write the tokenizer of `model` (a GGUF file, or a Hugging Face directory) to `out`; returns the manifest."""
    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    manifest: dict = {"exportVersion": EXPORT_VERSION, "source": os.path.abspath(model), "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    if os.path.isfile(model):
        tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(model)), gguf_file=os.path.basename(model))
        meta = gguf_metadata(model, ("general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre"))
        pre = meta.get("tokenizer.ggml.pre")
        manifest.update(format="gguf", architecture=meta.get("general.architecture"), ggml_model=meta.get("tokenizer.ggml.model"), ggml_pre=pre)
        fix = explicit_pre_tokenizers().get(pre) if meta.get("tokenizer.ggml.model") == "gpt2" else None
        if fix is not None:
            tok.backend_tokenizer.pre_tokenizer = fix
            _drop_unrepresentable(tok)
            _check_against_canonical(tok, canonical_pre_tokenizers()[pre])
        manifest["pre_tokenizer_fix"] = pre if fix is not None else None
    else:
        tok = AutoTokenizer.from_pretrained(model)
        manifest.update(format="hf")
    if not getattr(tok, "is_fast", False):
        raise SystemExit(f"{model}: transformers gave a slow tokenizer ({type(tok).__name__}); a tokenizer.json needs a fast one")
    os.makedirs(out, exist_ok=True)
    tok.save_pretrained(out)
    manifest.update(vocab_size=len(tok), bos_token=tok.bos_token, eos_token=tok.eos_token, pad_token=tok.pad_token, has_chat_template=bool(tok.chat_template))
    with open(os.path.join(out, "ratchet-tokenizer.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def _drop_unrepresentable(tok) -> None:
    """A normalizer that removes the characters whose UTF-8 bytes have no symbol in the byte-level vocabulary.

    SmolLM2's vocabulary lacks 21 of the 256 byte symbols (six control characters, 0x04 0x06 0x13 0x14 0x16 0x1D,
    and bytes that start code points U+40000-U+BFFFF or never occur in UTF-8). Without an unknown token, Rust's
    BPE drops such a symbol and then merges across the gap (">\\x13<" -> "><"); @huggingface/tokenizers drops it
    without merging. Removing those characters first gives Rust's result in both.
    """
    from tokenizers import Regex, normalizers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = tok.backend_tokenizer.get_vocab(with_added_tokens=False)
    missing = {b for b, u in bytes_to_unicode().items() if u not in vocab}
    if not missing:
        return
    bad = {c for c in _all_chars() if missing.intersection(c.encode("utf-8"))}
    if not bad:
        return
    drop = normalizers.Replace(Regex(f"[{_ranges(bad)}]"), "")
    current = tok.backend_tokenizer.normalizer
    tok.backend_tokenizer.normalizer = drop if current is None else normalizers.Sequence([drop, current])


PROBES = [
    "[\n    1,\n    2\n]", "x  3", "it's 12:30 'LL", "\t\t\t１２３ ٣٤٥ ¹²", "\ufeff  \u0085 BOM", "日本語 🎉👍🏽 e\u0301",
    "  \r\n\r\n  99 bottles", "<|im_start|>user\nhi<|im_end|>", "price: $3.50 (50%)", "\u3000\u3000x\u00a0\u00a0y",
    "<information>\x13<information>", "a\x04\x06b\x1d c", "\U00040000x",
]


def _check_against_canonical(tok, canonical) -> None:
    """The explicit pre-tokenizer splits like the canonical one on the probes and on every code point after a space."""
    from tokenizers import Tokenizer

    reference = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    reference.pre_tokenizer = canonical
    texts = PROBES + ["  " + _all_chars()[i : i + 512] + "  1" for i in range(0, len(_all_chars()), 512)]
    ours = tok.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    theirs = reference.encode_batch(texts, add_special_tokens=False)
    bad = [t for t, a, b in zip(texts, ours, theirs) if a.ids != b.ids]
    if bad:
        raise SystemExit(f"the explicit pre-tokenizer differs from the canonical one on {len(bad)} texts, e.g. {bad[0][:80]!r}")


def load_tokenizer(tokenizer_dir: str):
    """The trainer's tokenizer: the exported files, never the GGUF itself (see the module docstring)."""
    from transformers import AutoTokenizer

    if not os.path.exists(os.path.join(tokenizer_dir, "ratchet-tokenizer.json")):
        raise FileNotFoundError(f"{tokenizer_dir} is not an exported tokenizer (no ratchet-tokenizer.json)")
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def encode_requests(tok, request: dict) -> dict:
    """Batch encoding for the parity test: texts without added specials, chats through the chat template."""
    texts = request.get("texts", [])
    ids = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
    chats = request.get("chats", [])
    rendered, chat_ids, template_ids = [], [], []
    for chat in chats:
        text = tok.apply_chat_template(chat["messages"], tokenize=False, add_generation_prompt=chat.get("addGenerationPrompt", False))
        rendered.append(text)
        chat_ids.append(tok(text, add_special_tokens=False)["input_ids"])
        out = tok.apply_chat_template(chat["messages"], tokenize=True, add_generation_prompt=chat.get("addGenerationPrompt", False), return_dict=True)
        template_ids.append(list(out["input_ids"]))
    canonical_ids = None
    pre = request.get("canonical")  # e.g. "smollm": the same texts through the canonical pre-tokenizer
    if pre and texts:
        from tokenizers import Tokenizer

        reference = Tokenizer.from_str(tok.backend_tokenizer.to_str())
        reference.pre_tokenizer = canonical_pre_tokenizers()[pre]
        canonical_ids = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    return {"ids": ids, "chatTexts": rendered, "chatIds": chat_ids, "chatTemplateIds": template_ids, "canonicalIds": canonical_ids}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.tokenizer")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write tokenizer.json & co. for a GGUF file or HF directory")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("encode", help='stdin: {"texts": [...], "chats": [{"messages": [...], "addGenerationPrompt": bool}]}')
    p.add_argument("--tokenizer", required=True)
    args = parser.parse_args(argv)
    if args.command == "export":
        print(json.dumps(export_tokenizer(args.model, args.out)))
    else:
        tok = load_tokenizer(args.tokenizer)
        request = json.load(sys.stdin)
        json.dump(encode_requests(tok, request), sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main()

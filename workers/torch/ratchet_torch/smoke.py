"""Smoke check of the venv: transformers loads a GGUF model (dequantized to fp32) and its exported tokenizer, and
answers a chat question greedily.

  python -m ratchet_torch.smoke --gguf .data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
      --tokenizer .data/models/smollm2-135m-instruct/tokenizer [--question "What is the capital of France?"]

Prints one JSON line: the answer, the prompt's token IDs, and the load and generation times.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.smoke")
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--tokenizer", required=True, help="an exported tokenizer directory (ratchet_torch.tokenizer export)")
    parser.add_argument("--question", default="What is the capital of France?")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from .tokenizer import load_tokenizer

    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    started = time.time()
    path = os.path.abspath(args.gguf)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    model.eval()
    tok = load_tokenizer(args.tokenizer)
    loaded = time.time()
    prompt = tok.apply_chat_template([{"role": "user", "content": args.question}], add_generation_prompt=True, tokenize=True, return_dict=True)
    input_ids = torch.tensor([list(prompt["input_ids"])])
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=args.max_new_tokens, do_sample=False)
    answer = tok.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True)
    print(json.dumps({
        "answer": answer,
        "promptIds": input_ids[0].tolist(),
        "loadSeconds": round(loaded - started, 2),
        "generateSeconds": round(time.time() - loaded, 2),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()

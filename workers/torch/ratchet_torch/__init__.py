"""Ratchet's Python side for LLM policies (issue 27): the gpu-queue worker's code, run from `.tools/venv`
(created by `npm run setup:python` from `workers/torch/requirements.lock`) with `workers/torch` on PYTHONPATH."""

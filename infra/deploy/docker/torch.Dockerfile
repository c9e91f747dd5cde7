# syntax=docker/dockerfile:1
# The Python trainer image (workers/torch: `python -m ratchet_torch.worker`), for LLM policies on the
# `ratchet-torch` queue. Build from the repository root:
#   docker build -f infra/deploy/docker/torch.Dockerfile -t ratchet-torch .
# The lock pins torch's Linux wheels with their CUDA libraries (nvidia-* wheels), so the image needs no CUDA
# base: on a GPU node the NVIDIA container toolkit supplies the driver; elsewhere torch runs on the CPU.
FROM python:3.12-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/app/workers/torch \
    OMP_WAIT_POLICY=PASSIVE \
    RATCHET_DATA_DIR=/data \
    RATCHET_METRICS_PORT=9464

WORKDIR /app

# The same install as `npm run setup:python` (infra/python.ts): hashes required, wheels only.
COPY workers/torch/requirements.lock workers/torch/requirements.lock
RUN python -m pip install --require-hashes --only-binary :all: -r workers/torch/requirements.lock

COPY workers/torch/ratchet_torch workers/torch/ratchet_torch

# uid 1000 like the node image's `node` user, so both write the shared /data volume.
RUN useradd --uid 1000 --create-home ratchet && mkdir -p /data && chown ratchet:ratchet /data
USER 1000:1000
VOLUME ["/data"]

# Metrics: RATCHET_METRICS_PORT + 3.
EXPOSE 9467

CMD ["python", "-m", "ratchet_torch.worker"]

# syntax=docker/dockerfile:1
# The TypeScript worker image: one image for the control, cpu and gpu pools (the command picks the pool:
# `node --import tsx workers/<pool>.ts`). Build from the repository root:
#   docker build -f infra/deploy/docker/node.Dockerfile -t ratchet-node .
# Debian (glibc), not Alpine: the Temporal core bridge and onnxruntime-node ship glibc binaries.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    # onnxruntime-node: CPU binaries only (its CUDA provider download is off, as in the README's `npm ci`)
    ONNXRUNTIME_NODE_INSTALL=skip \
    RATCHET_DATA_DIR=/data \
    RATCHET_METRICS_PORT=9464

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. Optional TensorFlow.js native backends may
# fail to fetch their library; npm then skips them and the workers fall back to wasm (policy/backend.ts).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# /data: artifacts, models and logs (a shared volume: compose's ratchet-data, or the chart's ReadWriteMany PVC).
# Owned by `node` (uid 1000) so a fresh named volume inherits a writable owner; the torch image uses uid 1000 too.
RUN mkdir -p /data && chown node:node /data
USER 1000:1000
VOLUME ["/data"]

# Metrics: RATCHET_METRICS_PORT + pool offset (control 9464, cpu 9465, gpu 9466).
EXPOSE 9464 9465 9466

CMD ["node", "--import", "tsx", "workers/control.ts"]

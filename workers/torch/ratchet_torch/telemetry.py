"""Temporal SDK metrics of the torch worker: with RATCHET_METRICS_PORT set (a base port, as for the TypeScript
pools), Core's Prometheus exporter serves /metrics on base + 3, tagged pool="torch". Unset: the default runtime."""

from __future__ import annotations

import os
from typing import Mapping, Optional

TORCH_PORT_OFFSET = 3


def metrics_port(env: Mapping[str, str] = os.environ) -> Optional[int]:
    raw = env.get("RATCHET_METRICS_PORT")
    if not raw:
        return None
    port = int(raw) + TORCH_PORT_OFFSET
    if not 0 < port <= 65535:
        raise ValueError(f"RATCHET_METRICS_PORT must be a port number, got {raw!r}")
    return port


def runtime_from_env(env: Mapping[str, str] = os.environ):
    """A Runtime exporting Prometheus metrics, or None for the SDK's default runtime."""
    port = metrics_port(env)
    if port is None:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{port}"), global_tags={"pool": "torch"}))

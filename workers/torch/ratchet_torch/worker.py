"""The torch worker: serves the gpu-queue activities for LLM policies on its own task queue.

  python -m ratchet_torch.worker [--address 127.0.0.1:7233] [--namespace default] [--task-queue ratchet-torch]
                                 [--api-key KEY] [--tls-cert PEM --tls-key PEM] [--tls-ca PEM] [--tls-server-name NAME]
                                 [--artifacts DIR] [--models DIR] [--threads N]

The cluster, TLS and API key come from Temporal's environment configuration (temporalio.envconfig: TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, the TOML profile), as for the TypeScript workers
(common/temporal-connection.ts); the flags win. Env fallbacks: RATCHET_TORCH_QUEUE, RATCHET_ARTIFACTS_DIR, RATCHET_MODELS_DIR,
RATCHET_TORCH_THREADS, RATCHET_PAYLOAD_KEY (payload encryption: payload_codec.py), RATCHET_METRICS_PORT (telemetry.py). Prints
`ratchet torch worker ready: queue <q> on <address> (pid <pid>)` once it polls, so a
launcher can wait for that line; exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Mapping, Optional

from .activities import ACTIVITIES, set_store
from .model import configure
from .payload_codec import data_converter_from_env
from .store import artifact_store_from_env
from .telemetry import runtime_from_env


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.worker")
    parser.add_argument("--address", default=None, help="TEMPORAL_ADDRESS, else 127.0.0.1:7233")
    parser.add_argument("--namespace", default=None, help="TEMPORAL_NAMESPACE, else default")
    parser.add_argument("--api-key", default=None, help="Temporal Cloud API key; turns TLS on (TEMPORAL_API_KEY)")
    parser.add_argument("--tls-cert", default=None, help="client certificate PEM (TEMPORAL_TLS_CLIENT_CERT_PATH)")
    parser.add_argument("--tls-key", default=None, help="client key PEM (TEMPORAL_TLS_CLIENT_KEY_PATH)")
    parser.add_argument("--tls-ca", default=None, help="server CA PEM (TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
    parser.add_argument("--tls-server-name", default=None, help="server name to verify (TEMPORAL_TLS_SERVER_NAME)")
    parser.add_argument("--task-queue", default=env("RATCHET_TORCH_QUEUE") or "ratchet-torch")
    parser.add_argument("--artifacts", default=None, help="artifact store: a folder or s3://bucket/prefix (RATCHET_ARTIFACTS, else RATCHET_ARTIFACTS_DIR, else <data dir>/artifacts)")
    parser.add_argument("--models", default=None, help="registered models' folder (RATCHET_MODELS_DIR, else <data dir>/models)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (RATCHET_TORCH_THREADS, else all cores)")
    return parser.parse_args(argv)


def connect_config(args: argparse.Namespace, env: Optional[Mapping[str, str]] = None) -> dict:
    """Client.connect's keyword arguments: flags over Temporal's standard variables over the local dev server."""
    from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS

    profile = ClientConfigProfile.load(override_env_vars=dict(os.environ if env is None else env))
    tls = profile.tls or ClientConfigTLS()
    files = {"client_cert": args.tls_cert, "client_private_key": args.tls_key, "server_root_ca_cert": args.tls_ca}
    tls = replace(tls, **{k: Path(v) for k, v in files.items() if v}, **({"server_name": args.tls_server_name} if args.tls_server_name else {}))
    profile = replace(
        profile,
        address=args.address or profile.address or "127.0.0.1:7233",
        namespace=args.namespace or profile.namespace or "default",
        api_key=args.api_key or profile.api_key,
        tls=tls if tls != ClientConfigTLS() else profile.tls,
    )
    return dict(profile.to_client_connect_config())


async def serve(args: argparse.Namespace) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # RATCHET_PAYLOAD_KEY set: payloads encrypted at rest, as by the TypeScript workers (common/payload-codec.ts).
    # RATCHET_METRICS_PORT set: the SDK's Prometheus metrics on base + 3 (telemetry.py).
    runtime = runtime_from_env()
    config = connect_config(args)
    client = await Client.connect(**config, data_converter=data_converter_from_env(), **({"runtime": runtime} if runtime else {}))
    # Sync activities, one at a time: the model and the CPU cores are shared by all of them.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ratchet-torch") as executor:
        worker = Worker(
            client,
            task_queue=args.task_queue,
            activities=ACTIVITIES,
            activity_executor=executor,
            max_concurrent_activities=1,
            graceful_shutdown_timeout=timedelta(seconds=5),
        )
        async with worker:
            print(f"ratchet torch worker ready: queue {args.task_queue} on {config['target_host']} (pid {os.getpid()})", flush=True)
            await stop.wait()
        # Leaving `async with` shuts the worker down: an activity still running after the grace period is
        # cancelled (its next heartbeat raises), and the server retries it elsewhere.


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    configure(args.threads, args.models)
    set_store(artifact_store_from_env(args.artifacts))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()

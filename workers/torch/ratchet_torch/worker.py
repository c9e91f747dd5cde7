"""The torch worker: serves the gpu-queue activities for LLM policies on its own task queue.

  python -m ratchet_torch.worker [--address 127.0.0.1:7233] [--namespace default] [--task-queue ratchet-torch]
                                 [--artifacts DIR] [--models DIR] [--threads N]

Env fallbacks: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, RATCHET_TORCH_QUEUE, RATCHET_ARTIFACTS_DIR, RATCHET_MODELS_DIR,
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
from datetime import timedelta
from typing import Optional

from .activities import ACTIVITIES, set_store
from .model import configure
from .payload_codec import data_converter_from_env
from .store import LocalArtifactStore, default_artifacts_dir
from .telemetry import runtime_from_env


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.worker")
    parser.add_argument("--address", default=env("TEMPORAL_ADDRESS") or "127.0.0.1:7233")
    parser.add_argument("--namespace", default=env("TEMPORAL_NAMESPACE") or "default")
    parser.add_argument("--task-queue", default=env("RATCHET_TORCH_QUEUE") or "ratchet-torch")
    parser.add_argument("--artifacts", default=None, help="artifact store root (RATCHET_ARTIFACTS_DIR, else <data dir>/artifacts)")
    parser.add_argument("--models", default=None, help="registered models' folder (RATCHET_MODELS_DIR, else <data dir>/models)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (RATCHET_TORCH_THREADS, else all cores)")
    return parser.parse_args(argv)


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
    client = await Client.connect(
        args.address, namespace=args.namespace, data_converter=data_converter_from_env(), **({"runtime": runtime} if runtime else {})
    )
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
            print(f"ratchet torch worker ready: queue {args.task_queue} on {args.address} (pid {os.getpid()})", flush=True)
            await stop.wait()
        # Leaving `async with` shuts the worker down: an activity still running after the grace period is
        # cancelled (its next heartbeat raises), and the server retries it elsewhere.


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    configure(args.threads, args.models)
    set_store(LocalArtifactStore(default_artifacts_dir(args.artifacts)))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()

"""The torch worker's Prometheus exporter (telemetry.py): off without RATCHET_METRICS_PORT, else /metrics on base + 3.

    PYTHONPATH=workers/torch .tools/venv/bin/python -m unittest workers/torch/tests/test_worker_telemetry.py
"""

from __future__ import annotations

import socket
import unittest
import urllib.request

from ratchet_torch.telemetry import metrics_port, runtime_from_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TelemetryTest(unittest.TestCase):
    def test_port_from_env(self) -> None:
        self.assertIsNone(metrics_port({}))
        self.assertEqual(metrics_port({"RATCHET_METRICS_PORT": "9464"}), 9467)
        with self.assertRaises(ValueError):
            metrics_port({"RATCHET_METRICS_PORT": "65535"})
        self.assertIsNone(runtime_from_env({}))

    def test_runtime_serves_metrics(self) -> None:
        port = free_port()
        runtime = runtime_from_env({"RATCHET_METRICS_PORT": str(port - 3)})
        self.assertIsNotNone(runtime)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            self.assertEqual(response.status, 200)


if __name__ == "__main__":
    unittest.main()

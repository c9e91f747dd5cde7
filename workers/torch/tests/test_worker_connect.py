"""The torch worker's connection settings: Temporal's standard variables, the flags winning, TLS from files.

    PYTHONPATH=workers/torch .tools/venv/bin/python -m unittest workers/torch/tests/test_worker_connect.py
"""

from __future__ import annotations

import os
import tempfile
import unittest

from ratchet_torch.worker import connect_config, parse_args

# No TOML profile from the machine running the tests.
BASE = {"TEMPORAL_CONFIG_FILE": os.path.join(tempfile.gettempdir(), "ratchet-no-such-temporal.toml")}


class ConnectConfigTest(unittest.TestCase):
    def test_defaults_to_plaintext_local_dev_server(self) -> None:
        config = connect_config(parse_args([]), BASE)
        self.assertEqual(config["target_host"], "127.0.0.1:7233")
        self.assertEqual(config["namespace"], "default")
        self.assertNotIn("tls", config)

    def test_standard_variables_and_flags_over_them(self) -> None:
        env = {**BASE, "TEMPORAL_ADDRESS": "env:7233", "TEMPORAL_NAMESPACE": "env-ns", "TEMPORAL_API_KEY": "k"}
        config = connect_config(parse_args([]), env)
        self.assertEqual((config["target_host"], config["namespace"], config["api_key"], config["tls"]), ("env:7233", "env-ns", "k", True))
        config = connect_config(parse_args(["--address", "flag:7233", "--namespace", "flag-ns"]), env)
        self.assertEqual((config["target_host"], config["namespace"]), ("flag:7233", "flag-ns"))

    def test_mtls_files_from_variables_and_flags(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for name in ("cert", "key", "ca"):
                paths[name] = os.path.join(tmp, f"{name}.pem")
                with open(paths[name], "w") as f:
                    f.write(f"PEM {name}")
            env = {**BASE, "TEMPORAL_TLS_CLIENT_CERT_PATH": paths["cert"], "TEMPORAL_TLS_CLIENT_KEY_PATH": paths["key"]}
            tls = connect_config(parse_args(["--tls-ca", paths["ca"], "--tls-server-name", "localhost"]), env)["tls"]
            self.assertEqual(tls.client_cert, b"PEM cert")
            self.assertEqual(tls.client_private_key, b"PEM key")
            self.assertEqual(tls.server_root_ca_cert, b"PEM ca")
            self.assertEqual(tls.domain, "localhost")


if __name__ == "__main__":
    unittest.main()

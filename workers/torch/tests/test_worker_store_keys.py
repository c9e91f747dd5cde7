"""The Python artifact store refuses every key that could leave its root folder, as common/artifacts.ts does
(test/unit/foundation/artifact-keys.test.ts holds the same list), including the keys built from a bad run id.

    PYTHONPATH=workers/torch .tools/venv/bin/python -m unittest workers/torch/tests/test_worker_store_keys.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # workers/torch: the ratchet_torch package

from ratchet_torch.store import LocalArtifactStore, check_key, llm_checkpoint_key, policy_key, step_key  # noqa: E402

ESCAPES = ["..", ".", "../x", "../../etc/passwd", "a/../../b", "runs/../x", "runs/r/..", "./a", "a/.", "/etc/passwd", "a//b", "a/",
           "a\\..\\b", "%2e%2e%2f", "\u2025", "x\n", "a/b\x00", ""]


class StoreKeyTest(unittest.TestCase):
    def setUp(self) -> None:
        self.parent = tempfile.TemporaryDirectory()
        self.root = Path(self.parent.name, "store")
        self.store = LocalArtifactStore(self.root)

    def tearDown(self) -> None:
        self.parent.cleanup()

    def assert_nothing_written(self) -> None:
        self.assertEqual(os.listdir(self.parent.name), [])

    def test_escaping_keys_are_refused_by_every_operation(self) -> None:
        for key in ESCAPES:
            with self.subTest(key=key):
                for operation in (lambda: self.store.put(key, b"x"), lambda: self.store.get(key), lambda: self.store.has(key),
                                  lambda: self.store.put_json(key, {})):
                    with self.assertRaisesRegex(ValueError, "invalid artifact key"):
                        operation()
                self.assert_nothing_written()

    def test_keys_built_from_a_bad_run_id_are_refused(self) -> None:
        for run_id in [k for k in ESCAPES if k]:
            with self.subTest(run_id=run_id):
                for key in (step_key(run_id, 0, "x.json"), llm_checkpoint_key(run_id, 1), policy_key(run_id, 1)):
                    with self.assertRaises(ValueError):
                        self.store.put(key, b"x")
                self.assert_nothing_written()

    def test_a_good_key_stays_under_the_root(self) -> None:
        check_key("runs/r-1/step-000002/rollouts/shard-000.json")
        ref = self.store.put(step_key("r-1", 2, "x.json"), b"ok")
        self.assertTrue(self.root.joinpath("runs", "r-1", "step-000002", "x.json").is_file())
        self.assertEqual(self.store.get(ref["key"], ref["sha256"]), b"ok")


if __name__ == "__main__":
    unittest.main()

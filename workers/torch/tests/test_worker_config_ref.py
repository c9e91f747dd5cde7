"""The torch worker's activities take the run config by reference (activities/config-ref.ts): `configRef` is loaded
from the artifact store, verified by its sha256, and handed to the activity as `config`."""

from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # workers/torch: the ratchet_torch package

from temporalio.exceptions import ApplicationError  # noqa: E402

from ratchet_torch import activities as A  # noqa: E402
from ratchet_torch.store import LocalArtifactStore  # noqa: E402


class ConfigByReference(unittest.TestCase):
    def setUp(self) -> None:
        self.store = LocalArtifactStore(tempfile.mkdtemp())
        A.set_store(self.store)
        self.config = {"runId": "r", "seed": 3, "agent": {"policy": {"kind": "llm"}}}
        self.ref = self.store.put_json("runs/r/config/abc.json", self.config)
        self.seen: list[dict] = []
        self.activity = A._errors(lambda input: self.seen.append(input) or {})

    def test_reference_becomes_the_config(self) -> None:
        self.activity({"runId": "r", "step": 2, "configRef": self.ref})
        self.activity({"runId": "r", "step": 3, "config": {"inline": True}})
        self.assertEqual(self.seen, [{"runId": "r", "step": 2, "config": self.config}, {"runId": "r", "step": 3, "config": {"inline": True}}])

    def test_a_config_whose_hash_differs_is_refused_non_retryably(self) -> None:
        A._configs.clear()
        with self.assertRaises(ApplicationError) as caught:
            self.activity({"runId": "r", "step": 2, "configRef": {**self.ref, "sha256": "0" * 64}})
        self.assertEqual((caught.exception.type, caught.exception.non_retryable), ("ArtifactIntegrityError", True))
        self.assertEqual(self.seen, [])


if __name__ == "__main__":
    unittest.main()

"""The Python S3 artifact store (ratchet_torch.store.S3ArtifactStore, boto3) against a real SeaweedFS server started
here, as test/integration/s3-store.test.ts does for the TypeScript store: round trip, the same checksum header and
sha256 metadata as common/s3-artifact-store.ts, and tamper detection. Skipped, saying how to build it, when the
`weed` binary (.tools/bin/weed, built by .ci/run) is absent."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ratchet_torch.store import (  # noqa: E402
    REPO_ROOT,
    ArtifactIntegrityError,
    LocalArtifactStore,
    S3ArtifactStore,
    artifact_store_from_env,
    parse_s3_url,
    s3_client_from_env,
    sha256_hex,
)

WEED = REPO_ROOT / ".tools" / "bin" / "weed"
BUCKET = "ratchet-py"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class StoreChoiceTest(unittest.TestCase):
    def test_parse_and_choice(self) -> None:
        self.assertEqual(parse_s3_url("s3://b"), ("b", ""))
        self.assertEqual(parse_s3_url("s3://b/x/y/"), ("b", "x/y/"))
        with self.assertRaises(ValueError):
            parse_s3_url("s3://b/a/../c")
        with tempfile.TemporaryDirectory() as root:
            self.assertIsInstance(artifact_store_from_env(env={"RATCHET_ARTIFACTS": root}), LocalArtifactStore)
        env = {"RATCHET_ARTIFACTS": "s3://b/p", "RATCHET_S3_ENDPOINT": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
        store = artifact_store_from_env(env=env)
        self.assertIsInstance(store, S3ArtifactStore)
        self.assertEqual((store.bucket, store.prefix), ("b", "p/"))
        with self.assertRaises(ValueError):
            store.put("../escape", b"x")  # refused before any request


@unittest.skipUnless(WEED.exists(), f"no SeaweedFS binary at {WEED}: build it as .ci/run does (go build ./weed of github.com/seaweedfs/seaweedfs)")
class S3StoreOnSeaweedFS(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="ratchet-weed-py-")
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
        keys = {"accessKey": "ratchet-test", "secretKey": "ratchet-test-secret"}
        config = os.path.join(cls.dir, "s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [{"name": "ratchet", "credentials": [keys], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        cls.log = open(os.path.join(cls.dir, "weed.log"), "ab")
        cls.server = subprocess.Popen(
            [str(WEED), "server", f"-dir={cls.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
             "-master.volumeSizeLimitMB=64", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
             f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}"],
            cwd=cls.dir, stdout=cls.log, stderr=cls.log,
        )
        cls.env = {"RATCHET_S3_ENDPOINT": f"http://127.0.0.1:{s3}", "AWS_ACCESS_KEY_ID": keys["accessKey"],
                   "AWS_SECRET_ACCESS_KEY": keys["secretKey"], "AWS_REGION": "us-east-1", "RATCHET_ARTIFACTS": f"s3://{BUCKET}/py"}
        cls.raw = s3_client_from_env(cls.env)
        deadline = time.time() + 60
        while True:
            try:
                cls.raw.list_buckets()
                break
            except Exception:
                if cls.server.poll() is not None or time.time() > deadline:
                    cls.tearDownClass()
                    raise
                time.sleep(0.25)
        cls.raw.create_bucket(Bucket=BUCKET)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.terminate()
        try:
            cls.server.wait(10)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_round_trip_with_the_typescript_stores_checksum_and_metadata(self) -> None:
        store = artifact_store_from_env(env=self.env)
        ref = store.put_json("runs/p1/step-000000/scores.json", {"a": [1, 2]})
        self.assertEqual(store.get_json(ref), {"a": [1, 2]})
        self.assertTrue(store.has(ref["key"]))
        self.assertFalse(store.has("runs/p1/missing.json"))
        big = bytes(300_000)
        self.assertEqual(store.get("runs/p1/big.bin", store.put("runs/p1/big.bin", big)["sha256"]), big)
        head = self.raw.head_object(Bucket=BUCKET, Key=f"py/{ref['key']}", ChecksumMode="ENABLED")
        self.assertEqual(head["Metadata"]["sha256"], ref["sha256"])
        self.assertEqual(head["ChecksumSHA256"], base64.b64encode(bytes.fromhex(ref["sha256"])).decode())

    def test_keys_under_and_delete(self) -> None:
        store = artifact_store_from_env(env=self.env)
        for v in range(3):
            store.put(f"runs/p4/policy/v00000{v}.onnx", b"g")
        store.put("runs/p4/policy-notes.txt", b"not under the folder")
        self.assertEqual(store.keys_under("runs/p4/policy"), [f"runs/p4/policy/v00000{v}.onnx" for v in range(3)])
        store.delete("runs/p4/policy/v000000.onnx")
        store.delete("runs/p4/policy/v000000.onnx")  # already gone: fine
        self.assertEqual(store.keys_under("runs/p4/policy"), ["runs/p4/policy/v000001.onnx", "runs/p4/policy/v000002.onnx"])
        self.assertEqual(store.keys_under("runs/p4/missing"), [])

    def test_the_server_refuses_bytes_that_do_not_match_the_checksum(self) -> None:
        wrong = base64.b64encode(bytes.fromhex(sha256_hex(b"other"))).decode()
        with self.assertRaises(Exception):
            self.raw.put_object(Bucket=BUCKET, Key="py/runs/p2/x.bin", Body=b"abc", ChecksumSHA256=wrong)
        self.assertFalse(artifact_store_from_env(env=self.env).has("runs/p2/x.bin"))

    def test_tampered_bytes_are_refused(self) -> None:
        store = artifact_store_from_env(env=self.env)
        ref = store.put("runs/p3/checkpoint.safetensors", b"the real weights")
        self.raw.put_object(Bucket=BUCKET, Key=f"py/{ref['key']}", Body=b"tampered weights", Metadata={"sha256": ref["sha256"]})
        with self.assertRaises(ArtifactIntegrityError):
            store.get(ref["key"], ref["sha256"])
        with self.assertRaises(ArtifactIntegrityError):
            store.get(ref["key"])


if __name__ == "__main__":
    unittest.main()

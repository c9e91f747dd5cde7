"""The local artifact store, byte-compatible with common/artifacts.ts `LocalArtifactStore`, and the artifact keys.

An object lives at `<root>/<key>` with a `<root>/<key>.sha256` sidecar (lowercase hex); writes are atomic (temp
file + rename) so a reader never sees half an object. A read whose bytes differ from the expected sha256 (the
caller's reference, else the sidecar) is refused with `ArtifactIntegrityError`, as on the TypeScript side.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Optional

REPO_ROOT = Path(__file__).resolve().parents[3]
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class ArtifactIntegrityError(Exception):
    """The stored bytes do not hash to the expected sha256 (retrying cannot fix it)."""

    def __init__(self, key: str, expected: str, actual: str) -> None:
        super().__init__(f"artifact {key}: sha256 {actual} does not match the expected {expected}; refusing to load it")
        self.key, self.expected, self.actual = key, expected, actual


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> None:
    """common/artifacts.ts checkKey: letters, digits, '.', '_', '-' and '/'; no '.' or '..' parts."""
    if not _KEY_PATTERN.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid artifact key {json.dumps(key)}: use letters, digits, '.', '_', '-' and '/'")


def data_dir() -> Path:
    return Path(os.environ.get("RATCHET_DATA_DIR") or REPO_ROOT / ".data").resolve()


def default_artifacts_dir(explicit: Optional[str] = None) -> Path:
    """infra/paths.ts artifactsDir: --artifacts, else RATCHET_ARTIFACTS_DIR, else <data dir>/artifacts."""
    chosen = explicit or os.environ.get("RATCHET_ARTIFACTS_DIR")
    return Path(chosen).resolve() if chosen else data_dir() / "artifacts"


class LocalArtifactStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        check_key(key)
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, data: bytes) -> dict:
        """Write (idempotent for identical bytes) and return `{key, sha256, bytes}`."""
        file = self.path(key)
        digest = sha256_hex(data)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.{time.time_ns()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, file)
        Path(f"{file}.sha256").write_text(digest)
        return {"key": key, "sha256": digest, "bytes": len(data)}

    def get(self, key: str, expected_sha256: Optional[str] = None) -> bytes:
        file = self.path(key)
        data = file.read_bytes()
        actual = sha256_hex(data)
        expected = expected_sha256
        if expected is None:
            sidecar = Path(f"{file}.sha256")
            expected = sidecar.read_text().strip() if sidecar.exists() else actual
        if actual != expected:
            raise ArtifactIntegrityError(key, expected, actual)
        return data

    def has(self, key: str) -> bool:
        return self.path(key).exists()

    def put_json(self, key: str, value: Any) -> dict:
        """JSON as compact as JSON.stringify; returns the reference `{key, sha256}` that travels."""
        ref = self.put(key, json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        return {"key": ref["key"], "sha256": ref["sha256"]}

    def get_json(self, ref: dict) -> Any:
        return json.loads(self.get(ref["key"], ref["sha256"]))


def _pad(n: int) -> str:
    return f"{n:06d}"


def step_key(run_id: str, step: int, name: str) -> str:
    """common/artifact-keys.ts stepKey."""
    return f"runs/{run_id}/step-{_pad(step)}/{name}"


def llm_checkpoint_key(run_id: str, version: int) -> str:
    """common/artifact-keys.ts llmCheckpoint: the torch trainer's state of policy version v."""
    return f"runs/{run_id}/checkpoints/v{_pad(version)}.safetensors"


def policy_key(run_id: str, version: int) -> str:
    """common/artifact-keys.ts policy: the ONNX export the rollout workers load for version v."""
    return f"runs/{run_id}/policy/v{_pad(version)}.onnx"

"""The local artifact store, byte-compatible with common/artifacts.ts `LocalArtifactStore`, and the artifact keys.

An object lives at `<root>/<key>` with a `<root>/<key>.sha256` sidecar (lowercase hex); writes are atomic (temp
file + rename) so a reader never sees half an object. A read whose bytes differ from the expected sha256 (the
caller's reference, else the sidecar) is refused with `ArtifactIntegrityError`, as on the TypeScript side.
"""

from __future__ import annotations

import base64
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


class _JsonArtifacts:
    """put_json/get_json over a store's put/get, shared by the local and the S3 store."""

    def put(self, key: str, data: bytes) -> dict:  # pragma: no cover - implemented by the stores
        raise NotImplementedError

    def get(self, key: str, expected_sha256: Optional[str] = None) -> bytes:  # pragma: no cover
        raise NotImplementedError

    def put_json(self, key: str, value: Any) -> dict:
        """JSON as compact as JSON.stringify; returns the reference `{key, sha256}` that travels."""
        ref = self.put(key, json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        return {"key": ref["key"], "sha256": ref["sha256"]}

    def get_json(self, ref: dict) -> Any:
        return json.loads(self.get(ref["key"], ref["sha256"]))


class LocalArtifactStore(_JsonArtifacts):
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
        try:
            tmp.write_bytes(data)
            os.replace(tmp, file)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk must not keep the partial write: each retry would leak another
            raise
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

    def keys_under(self, prefix: str) -> list[str]:
        """The keys stored under the folder `prefix` (no trailing slash), sha256 sidecars and temp files left out."""
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        return sorted(f"{prefix}/{f.name}" for f in folder.iterdir() if f.is_file() and not f.name.endswith((".sha256", ".tmp")))

    def delete(self, key: str) -> None:
        """Remove an artifact and its sidecar; one already gone is fine (a retried prune)."""
        file = self.path(key)
        file.unlink(missing_ok=True)
        Path(f"{file}.sha256").unlink(missing_ok=True)


SHA256_METADATA = "sha256"


def parse_s3_url(url: str) -> tuple[str, str]:
    """common/s3-artifact-store.ts parseS3Url: `s3://bucket/some/prefix` -> ("bucket", "some/prefix/")."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", url)
    if not match:
        raise ValueError(f"not an S3 location {json.dumps(url)}: use s3://bucket/prefix")
    prefix = match.group(2).rstrip("/")
    if prefix:
        check_key(prefix)
    return match.group(1), f"{prefix}/" if prefix else ""


class S3ArtifactStore(_JsonArtifacts):
    """common/s3-artifact-store.ts S3ArtifactStore: the same objects, checksum header and sha256 metadata, so the
    TypeScript and Python workers read each other's artifacts from one bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def object_key(self, key: str) -> str:
        check_key(key)
        return self.prefix + key

    def put(self, key: str, data: bytes) -> dict:
        digest = sha256_hex(data)
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=data,
            ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
            Metadata={SHA256_METADATA: digest},
        )
        return {"key": key, "sha256": digest, "bytes": len(data)}

    def get(self, key: str, expected_sha256: Optional[str] = None) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        data = response["Body"].read()
        actual = sha256_hex(data)
        expected = expected_sha256 or response.get("Metadata", {}).get(SHA256_METADATA) or actual
        if actual != expected:
            raise ArtifactIntegrityError(key, expected, actual)
        return data

    def has(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
            return True
        except ClientError as error:
            # Only a 404 means absent: a denied or failing server must not read as a missing object.
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise

    def keys_under(self, prefix: str) -> list[str]:
        """The keys stored under the folder `prefix` (no trailing slash)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.object_key(prefix) + "/")
        return sorted(item["Key"][len(self.prefix):] for page in pages for item in page.get("Contents", []))

    def delete(self, key: str) -> None:
        """Remove an artifact; S3 answers a delete of a missing key with success too."""
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))


def s3_client_from_env(env: Optional[dict] = None) -> Any:
    """common/artifact-store-factory.ts s3ClientFromEnv: RATCHET_S3_ENDPOINT (else AWS_ENDPOINT_URL_S3 /
    AWS_ENDPOINT_URL) with path-style addressing; credentials and region from the AWS_* variables."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    endpoint = env.get("RATCHET_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    config = Config(
        s3={"addressing_style": "path" if endpoint else "auto"},
        # The store sends its own sha256; not every S3-compatible server understands the default CRC trailer.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        config=config,
    )


def artifact_store_from_env(explicit: Optional[str] = None, env: Optional[dict] = None) -> LocalArtifactStore | S3ArtifactStore:
    """common/artifact-store-factory.ts artifactStoreFromEnv: --artifacts, else RATCHET_ARTIFACTS (s3://bucket/prefix
    or a folder), else RATCHET_ARTIFACTS_DIR, else <data dir>/artifacts."""
    env = os.environ if env is None else env
    where = (explicit or env.get("RATCHET_ARTIFACTS") or "").strip()
    if where.startswith("s3://"):
        bucket, prefix = parse_s3_url(where)
        return S3ArtifactStore(s3_client_from_env(env), bucket, prefix)
    if where:
        return LocalArtifactStore(Path(where).resolve())
    return LocalArtifactStore(default_artifacts_dir())


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

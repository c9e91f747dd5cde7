"""Optional AES-256-GCM encryption of Temporal payloads: the Python twin of common/payload-codec.ts.

Same key (RATCHET_PAYLOAD_KEY: 32 bytes as 64 hex digits or base64; older keys for decryption in
RATCHET_PAYLOAD_OLD_KEYS, comma-separated), same key id (``sha256:`` + 16 hex digits of the key's sha256), same
format (Temporal's encryption samples): the serialized Payload message encrypted, stored with
``encoding: binary/encrypted``, ``encryption-key-id`` and ``data = nonce(12) || ciphertext || tag(16)``.
Off (``None``) when the variable is unset.

  python -m ratchet_torch.payload_codec encode|decode   # {"payloads": [...]} on stdin (base64, as the Temporal UI
                                                         # sends them) -> the same shape on stdout
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import sys
from typing import Iterable, List, Mapping, Optional, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

PAYLOAD_KEY_ENV = "RATCHET_PAYLOAD_KEY"
PAYLOAD_OLD_KEYS_ENV = "RATCHET_PAYLOAD_OLD_KEYS"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


def parse_payload_key(text: str, source: str = PAYLOAD_KEY_ENV) -> bytes:
    """A key from its text form; a wrong length or alphabet is an error that names ``source``."""
    text = text.strip()
    key = b""
    if _HEX_KEY.match(text):
        key = bytes.fromhex(text)
    elif _BASE64.match(text):
        standard = text.replace("-", "+").replace("_", "/").rstrip("=")
        key = base64.b64decode(standard + "=" * (-len(standard) % 4))
    if len(key) != 32:
        raise ValueError(f"{source} must be a 32-byte AES-256 key as 64 hex digits or base64 (got {len(key)} bytes from {len(text)} characters)")
    return key


def key_id(key: bytes) -> str:
    return "sha256:" + hashlib.sha256(key).hexdigest()[:16]


class AesGcmPayloadCodec(PayloadCodec):
    """``keys[0]`` encrypts; every key decrypts the payloads that name its id."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("AesGcmPayloadCodec needs at least one key")
        self._encrypt_id = key_id(keys[0])
        self._by_id = {key_id(k): AESGCM(k) for k in keys}

    @property
    def key_id(self) -> str:
        return self._encrypt_id

    async def encode(self, payloads: Sequence[Payload]) -> List[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> List[Payload]:
        return self.decode_sync(payloads)

    def encode_sync(self, payloads: Iterable[Payload]) -> List[Payload]:
        aes = self._by_id[self._encrypt_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + aes.encrypt(nonce, payload.SerializeToString(), None)
            out.append(Payload(metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: self._encrypt_id.encode()}, data=data))
        return out

    def decode_sync(self, payloads: Iterable[Payload]) -> List[Payload]:
        """Payloads that are not ``binary/encrypted`` pass through (histories from before the codec stay readable)."""
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
                out.append(payload)
                continue
            if KEY_ID_METADATA not in payload.metadata:
                raise ValueError(f"an encrypted payload has no {KEY_ID_METADATA}")
            kid = payload.metadata[KEY_ID_METADATA].decode()
            aes = self._by_id.get(kid)
            if aes is None:
                raise ValueError(
                    f"payload encrypted with key {kid}, which is neither {PAYLOAD_KEY_ENV} nor in {PAYLOAD_OLD_KEYS_ENV} (have {', '.join(self._by_id)})"
                )
            if len(payload.data) < NONCE_BYTES + TAG_BYTES:
                raise ValueError(f"encrypted payload (key {kid}) is too short: {len(payload.data)} bytes")
            try:
                plain = aes.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
            except InvalidTag:
                raise ValueError(f"encrypted payload (key {kid}) failed authentication: it was altered, or encrypted with another key") from None
            decoded = Payload()
            decoded.ParseFromString(plain)
            out.append(decoded)
        return out


def payload_codec_from_env(env: Optional[Mapping[str, str]] = None) -> Optional[AesGcmPayloadCodec]:
    env = os.environ if env is None else env
    current = (env.get(PAYLOAD_KEY_ENV) or "").strip()
    old = [k for k in (env.get(PAYLOAD_OLD_KEYS_ENV) or "").split(",") if k.strip()]
    if not current:
        if old:
            raise ValueError(f"{PAYLOAD_OLD_KEYS_ENV} is set but {PAYLOAD_KEY_ENV} is not")
        return None
    keys = [parse_payload_key(current)] + [parse_payload_key(k, f"{PAYLOAD_OLD_KEYS_ENV}[{i}]") for i, k in enumerate(old)]
    return AesGcmPayloadCodec(keys)


def data_converter_from_env(env: Optional[Mapping[str, str]] = None) -> DataConverter:
    """The default converter, with the codec when RATCHET_PAYLOAD_KEY is set."""
    codec = payload_codec_from_env(env)
    default = DataConverter.default
    return dataclasses.replace(default, payload_codec=codec) if codec else default


def _from_json(p: dict) -> Payload:
    metadata = {k: base64.b64decode(v) for k, v in (p.get("metadata") or {}).items()}
    return Payload(metadata=metadata, data=base64.b64decode(p.get("data") or ""))


def _to_json(p: Payload) -> dict:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()}, "data": base64.b64encode(p.data).decode()}


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("encode", "decode"):
        raise SystemExit("usage: python -m ratchet_torch.payload_codec encode|decode  < {\"payloads\": [...]}")
    codec = payload_codec_from_env()
    if codec is None:
        raise SystemExit(f"{PAYLOAD_KEY_ENV} is not set")
    payloads = [_from_json(p) for p in json.load(sys.stdin)["payloads"]]
    result = codec.encode_sync(payloads) if argv[0] == "encode" else codec.decode_sync(payloads)
    json.dump({"payloads": [_to_json(p) for p in result]}, sys.stdout)


if __name__ == "__main__":
    main()

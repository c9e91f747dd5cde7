"""Unit tests of ratchet_torch.payload_codec: round trip, tamper and wrong-key detection, key parsing, off when unset.
The cross-language half (bytes from common/payload-codec.ts) is test/unit/security/payload-codec-python.test.ts.

    PYTHONPATH=workers/torch .tools/venv/bin/python -m unittest discover -s workers/torch/tests -p 'test_payload_codec.py'
"""

from __future__ import annotations

import asyncio
import base64
import os
import unittest

from temporalio.converter import DataConverter

from ratchet_torch.payload_codec import AesGcmPayloadCodec, data_converter_from_env, key_id, parse_payload_key, payload_codec_from_env

KEY = bytes(range(32))
ENV = {"RATCHET_PAYLOAD_KEY": KEY.hex()}
CONFIG = {"runId": "secret-run", "steps": 3}


class PayloadCodecTest(unittest.TestCase):
    def test_round_trip_through_the_data_converter(self) -> None:
        converter = data_converter_from_env(ENV)
        payloads = asyncio.run(converter.encode([CONFIG, "text", None]))
        for p in payloads:
            self.assertEqual(p.metadata["encoding"], b"binary/encrypted")
            self.assertEqual(p.metadata["encryption-key-id"].decode(), key_id(KEY))
            self.assertNotIn(b"secret-run", p.data)
        self.assertEqual(asyncio.run(converter.decode(payloads, [dict, str, type(None)])), [CONFIG, "text", None])

    def test_tampered_payload_is_refused(self) -> None:
        codec = payload_codec_from_env(ENV)
        [p] = codec.encode_sync(DataConverter.default.payload_converter.to_payloads([CONFIG]))
        data = bytearray(p.data)
        data[-1] ^= 1
        p.data = bytes(data)
        with self.assertRaisesRegex(ValueError, "failed authentication: it was altered"):
            codec.decode_sync([p])

    def test_unknown_key_is_named(self) -> None:
        [p] = AesGcmPayloadCodec([os.urandom(32)]).encode_sync(DataConverter.default.payload_converter.to_payloads([CONFIG]))
        with self.assertRaisesRegex(ValueError, r"encrypted with key sha256:[0-9a-f]{16}, which is neither RATCHET_PAYLOAD_KEY"):
            payload_codec_from_env(ENV).decode_sync([p])

    def test_rotation_old_keys_decrypt(self) -> None:
        old = os.urandom(32)
        [p] = AesGcmPayloadCodec([old]).encode_sync(DataConverter.default.payload_converter.to_payloads([CONFIG]))
        rotated = payload_codec_from_env({**ENV, "RATCHET_PAYLOAD_OLD_KEYS": base64.b64encode(old).decode()})
        self.assertEqual(DataConverter.default.payload_converter.from_payloads(rotated.decode_sync([p]))[0], CONFIG)
        self.assertEqual(rotated.key_id, key_id(KEY))

    def test_key_forms_and_errors(self) -> None:
        for text in (KEY.hex(), base64.b64encode(KEY).decode(), base64.urlsafe_b64encode(KEY).decode().rstrip("=")):
            self.assertEqual(parse_payload_key(text), KEY)
        for bad in ("abcd", "ab" * 31, "not a key!", base64.b64encode(os.urandom(16)).decode()):
            with self.assertRaisesRegex(ValueError, "must be a 32-byte AES-256 key"):
                payload_codec_from_env({"RATCHET_PAYLOAD_KEY": bad})

    def test_unset_is_the_default_converter(self) -> None:
        self.assertIsNone(payload_codec_from_env({}))
        self.assertIs(data_converter_from_env({}), DataConverter.default)
        with self.assertRaisesRegex(ValueError, "RATCHET_PAYLOAD_OLD_KEYS is set but RATCHET_PAYLOAD_KEY is not"):
            payload_codec_from_env({"RATCHET_PAYLOAD_OLD_KEYS": KEY.hex()})


if __name__ == "__main__":
    unittest.main()

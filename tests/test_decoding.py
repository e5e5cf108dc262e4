"""Content decoding is bounded: bombs cost at most the cap, broken data keeps its raw bytes."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from auditor.decoding import decode_content

PAYLOAD = b'{"student": "Mia Testpupil"}' * 10


def _raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib header, as some servers send it."""
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("gzip", gzip.compress(PAYLOAD)),
        ("deflate", zlib.compress(PAYLOAD)),
        ("deflate", _raw_deflate(PAYLOAD)),
        ("br", brotli.compress(PAYLOAD)),
        ("zstd", zstandard.ZstdCompressor().compress(PAYLOAD)),
        ("identity", PAYLOAD),
        ("gzip, br", brotli.compress(gzip.compress(PAYLOAD))),
    ],
)
def test_each_encoding_decodes(encoding: str, encoded: bytes) -> None:
    result = decode_content(encoded, encoding)
    assert result.data == PAYLOAD
    assert not result.truncated
    assert result.problem is None


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_bomb_is_capped(encoding: str) -> None:
    huge = b"\0" * (64 * 1024 * 1024)
    packed = {
        "gzip": lambda: gzip.compress(huge, compresslevel=9),
        "br": lambda: brotli.compress(huge, quality=5),
        "zstd": lambda: zstandard.ZstdCompressor(level=3).compress(huge),
    }[encoding]()
    assert len(packed) < 1024 * 1024
    result = decode_content(packed, encoding, cap=100_000)
    assert len(result.data) == 100_000
    assert result.truncated


def test_broken_gzip_keeps_raw_bytes_and_says_why() -> None:
    result = decode_content(b"not gzip at all", "gzip")
    assert result.data == b"not gzip at all"
    assert result.problem and "gzip" in result.problem


def test_unknown_encoding_is_named() -> None:
    result = decode_content(b"abc", "x-custom")
    assert result.data == b"abc"
    assert result.problem == "unsupported content encoding 'x-custom'"

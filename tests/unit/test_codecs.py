"""Content-Encoding decoding: every split point, random splits, and every way a body can be bad."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.processing.codecs import decoder_for, encodings

TEXT = ("The customer's email is ada@example.com — naïve café ✓ " * 8).encode()
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "raw-deflate": lambda data: zlib.compress(data)[2:-4],  # what some servers send as "deflate"
    "br": brotli.compress,
}


def header_for(name: str) -> str:
    return "deflate" if name == "raw-deflate" else name


def decode_in(header: str, pieces: list[bytes], limit: int = 1 << 20) -> bytes:
    decoder = decoder_for(header, max_output=limit)
    assert decoder is not None
    return b"".join(decoder.decode(piece) for piece in pieces) + decoder.finish()


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_split_point(name: str) -> None:
    encoded = ENCODERS[name](TEXT)
    for split in range(len(encoded) + 1):
        assert decode_in(header_for(name), [encoded[:split], encoded[split:]]) == TEXT


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_one_byte_at_a_time(name: str) -> None:
    encoded = ENCODERS[name](TEXT)
    assert decode_in(header_for(name), [encoded[i : i + 1] for i in range(len(encoded))]) == TEXT


@settings(max_examples=50)
@given(
    st.binary(max_size=3000), st.sampled_from(sorted(ENCODERS)), st.lists(st.integers(0, 4000), max_size=8)
)
def test_random_bodies_and_splits(body: bytes, name: str, cuts: list[int]) -> None:
    encoded = ENCODERS[name](body)
    points = sorted({min(c, len(encoded)) for c in cuts})
    pieces = [encoded[a:b] for a, b in zip([0, *points], [*points, len(encoded)], strict=True)]
    assert decode_in(header_for(name), pieces) == body


def test_stacked_codings_are_undone_in_reverse_order() -> None:
    encoded = brotli.compress(gzip.compress(TEXT))
    assert decode_in("gzip, br", [encoded]) == TEXT


def test_concatenated_gzip_members() -> None:
    assert decode_in("gzip", [gzip.compress(b"one ") + gzip.compress(b"two")]) == b"one two"


def test_identity_needs_no_decoder() -> None:
    assert decoder_for(None, max_output=10) is None
    assert decoder_for("identity", max_output=10) is None
    assert encodings("gzip, identity , BR") == ["gzip", "br"]


@pytest.mark.parametrize("header", ["zstd", "compress", "x-custom"])
def test_unknown_encoding_is_refused(header: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        decoder_for(header, max_output=10)
    assert error.value.code is ErrorCode.UNSUPPORTED_CONTENT_ENCODING


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_truncated_body_is_an_error(name: str) -> None:
    encoded = ENCODERS[name](TEXT)
    with pytest.raises(ChaperoneError) as error:
        decode_in(header_for(name), [encoded[: len(encoded) // 2]])
    assert error.value.code is ErrorCode.BODY_DECODE_ERROR


@pytest.mark.parametrize("name", ["gzip", "deflate", "br"])
def test_corrupt_body_is_an_error(name: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        decode_in(name, [b"\x1f\x8b\x08\x00garbage-not-compressed-at-all" * 3])
    assert error.value.code is ErrorCode.BODY_DECODE_ERROR


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_decompression_bomb_stops_at_the_limit(name: str) -> None:
    bomb = ENCODERS[name](b"\0" * 5_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(ChaperoneError) as error:
        decode_in(header_for(name), [bomb], limit=100_000)
    assert error.value.code is ErrorCode.BODY_TOO_LARGE

"""Incremental UTF-8 over arbitrary chunk boundaries: every split point, and random splits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.processing.chunks import Utf8Chunks

TEXT = "plain ascii, é, ✓, 𝄞 and 中文".encode()


def decode_in(pieces: list[bytes]) -> list[str]:
    chunks = Utf8Chunks()
    return [chunks.feed(piece, final=i == len(pieces) - 1) for i, piece in enumerate(pieces)]


@pytest.mark.parametrize("split", range(len(TEXT) + 1))
def test_every_split_point(split: int) -> None:
    texts = decode_in([TEXT[:split], TEXT[split:]])
    assert "".join(texts) == TEXT.decode()


def test_one_byte_at_a_time() -> None:
    texts = decode_in([TEXT[i : i + 1] for i in range(len(TEXT))])
    assert "".join(texts) == TEXT.decode()
    assert all(text.encode() in TEXT for text in texts)


@given(st.text(), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_random_splits(text: str, cuts: list[int]) -> None:
    data = text.encode()
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert "".join(decode_in(pieces)) == text


def test_carrying_reports_a_character_waiting_for_its_end() -> None:
    chunks = Utf8Chunks()
    assert chunks.feed("é".encode()[:1], final=False) == ""
    assert chunks.carrying
    assert chunks.feed("é".encode()[1:], final=False) == "é"
    assert not chunks.carrying


@pytest.mark.parametrize("pieces", [[b"ok \xff"], [b"ok", b" \xc3"], [b"\xe2\x9c", b"x"]])
def test_invalid_or_truncated_utf8_is_an_error(pieces: list[bytes]) -> None:
    with pytest.raises(ChaperoneError) as error:
        decode_in(pieces)
    assert error.value.code is ErrorCode.BODY_DECODE_ERROR

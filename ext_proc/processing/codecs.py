"""Incremental decoding of compressed bodies (Content-Encoding) so they can be inspected.

An inspected body is decoded as it arrives and forwarded decoded, with its Content-Encoding
removed (identity is always acceptable to the receiver: RFC 9110 §12.5.3). An encoding we cannot
decode is refused, never passed through uninspected. Output is capped, so a small compressed body
cannot expand into an unbounded one (a decompression bomb).
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli

from ext_proc.errors import ChaperoneError, ErrorCode

IDENTITY = frozenset({"", "identity"})
SUPPORTED = ("gzip", "x-gzip", "deflate", "br")


class Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes:
        """Flush what is left; raise if the encoded stream ended early."""
        ...


def encodings(header_value: str | None) -> list[str]:
    """The codings of a Content-Encoding value, in the order they were applied."""
    if not header_value:
        return []
    return [c.strip().lower() for c in header_value.split(",") if c.strip().lower() not in IDENTITY]


def decoder_for(header_value: str | None, *, max_output: int) -> Decoder | None:
    """None for an identity body; a decoder for the listed codings; an error for an unknown one."""
    codings = encodings(header_value)
    if not codings:
        return None
    budget = _Budget(max_output)
    # The last coding applied is the first to undo.
    return _Chain([_single(coding, budget) for coding in reversed(codings)])


def _single(coding: str, budget: _Budget) -> Decoder:
    if coding in ("gzip", "x-gzip"):
        return _Gzip(budget)
    if coding == "deflate":
        return _Deflate(budget)
    if coding == "br":
        return _Brotli(budget)
    raise ChaperoneError(
        ErrorCode.UNSUPPORTED_CONTENT_ENCODING,
        f"content-encoding {coding!r} cannot be inspected (supported: {', '.join(SUPPORTED)})",
        http_status=415,
    )


def _corrupt(coding: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.BODY_DECODE_ERROR, f"the {coding} body is corrupt", http_status=400)


def _truncated(coding: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.BODY_DECODE_ERROR, f"the {coding} body ended early", http_status=400)


class _Budget:
    """How many more decoded bytes may be produced; decoders never allocate beyond it."""

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.produced = 0

    @property
    def remaining(self) -> int:
        return self.max_output - self.produced

    def take(self, data: bytes, *, more_pending: bool = False) -> bytes:
        self.produced += len(data)
        if self.produced > self.max_output or more_pending:
            raise ChaperoneError(
                ErrorCode.BODY_TOO_LARGE,
                f"the decoded body exceeds the inspection limit of {self.max_output} bytes",
                http_status=413,
            )
        return data


class _Chain:
    def __init__(self, stages: list[Decoder]) -> None:
        self._stages = stages

    def decode(self, data: bytes) -> bytes:
        for stage in self._stages:
            data = stage.decode(data)
        return data

    def finish(self) -> bytes:
        data = b""
        for stage in self._stages:
            data = stage.decode(data) + stage.finish()
        return data


def _inflate(inflater: zlib._Decompress, data: bytes, budget: _Budget, coding: str) -> bytes:
    # Ask for one byte more than the budget allows: getting it means the body is too large,
    # and memory never grows past the limit however well the input compresses.
    try:
        out = inflater.decompress(data, budget.remaining + 1)
    except zlib.error:
        raise _corrupt(coding) from None
    return budget.take(out, more_pending=bool(inflater.unconsumed_tail))


class _Gzip:
    """RFC 1952; a body may hold several members back to back."""

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(_inflate(self._inflater, data, self._budget, "gzip"))
            if not self._inflater.eof:
                break
            data = self._inflater.unused_data
            if data:
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._inflater.eof:
            raise _truncated("gzip")
        return b""


class _Deflate:
    """RFC 9110 "deflate" is the zlib format (RFC 1950); some servers send raw deflate (RFC 1951)."""

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self._inflater: zlib._Decompress | None = None
        self._head = b""

    def decode(self, data: bytes) -> bytes:
        if self._inflater is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            # A zlib stream starts with a CMF/FLG pair whose 16-bit value is a multiple of 31.
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return _inflate(self._inflater, data, self._budget, "deflate")

    def finish(self) -> bytes:
        if self._inflater is None:
            if self._head:
                raise _truncated("deflate")
            return b""
        if not self._inflater.eof:
            raise _truncated("deflate")
        return b""


class _Brotli:
    """RFC 7932."""

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self._decompressor = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        try:
            out = self._decompressor.process(data, output_buffer_limit=self._budget.remaining + 1)
        except brotli.error:
            raise _corrupt("br") from None
        return self._budget.take(bytes(out), more_pending=not self._decompressor.can_accept_more_data())

    def finish(self) -> bytes:
        if not self._decompressor.is_finished():
            raise _truncated("br")
        return b""

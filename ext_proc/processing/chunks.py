"""Incremental UTF-8 decoding of a body that arrives in chunks.

Envoy cuts bodies at arbitrary byte offsets, so a multi-byte character can straddle two chunks.
Each chunk's text holds only complete characters; the bytes of a character that is still
incomplete are carried into the next chunk's text.
"""

from __future__ import annotations

import codecs

from ext_proc.errors import ChaperoneError, ErrorCode


class Utf8Chunks:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.index = 0  # of the next chunk
        self.total_bytes = 0

    @property
    def carrying(self) -> bool:
        """True while the bytes of an incomplete character wait for the next chunk."""
        return bool(self._decoder.getstate()[0])

    def feed(self, data: bytes, *, final: bool) -> str:
        self.index += 1
        self.total_bytes += len(data)
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            where = self.total_bytes - len(data) + max(exc.start, 0)
            raise ChaperoneError(
                ErrorCode.BODY_DECODE_ERROR, f"the body is not valid UTF-8 near byte {where}", http_status=400
            ) from None

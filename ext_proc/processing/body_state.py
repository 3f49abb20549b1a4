"""What one direction's body inspection holds between chunks: decoding and text position."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ext_proc.policy.decision import BodyMode
from ext_proc.processing.chunks import Utf8Chunks
from ext_proc.processing.codecs import Decoder


@dataclass(slots=True)
class BodyState:
    mode: BodyMode
    decoder: Decoder | None = None  # set when the body arrives compressed
    chunks: Utf8Chunks = dataclasses.field(default_factory=Utf8Chunks)
    replaced: int = 0
    # Read by the protocol flow (protocol_bodies.py) rather than by the policy chunk by chunk.
    by_protocol: bool = False

    def decode(self, data: bytes, *, end: bool) -> bytes:
        if self.decoder is None:
            return data
        return self.decoder.decode(data) + (self.decoder.finish() if end else b"")

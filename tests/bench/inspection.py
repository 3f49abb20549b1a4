"""Python time per streamed chunk of an LLM response, relayed with scanning and redaction, and
the redaction holdback, measured in process (no Envoy, no network).

Each chunk is one SSE event of a realistic OpenAI Chat stream (a few characters of text per
delta, as the providers send), so "per chunk" is the work ext_proc does for one body message:
SSE parse, interpret, scan and redact, re-encode. The baseline in the same run is the relay with
nothing to find, and the bare SSE parse.

    .venv/bin/python -m tests.bench.inspection
"""

from __future__ import annotations

import statistics
import time

from ext_proc.demo import providers
from ext_proc.demo.providers import Reply
from ext_proc.inspection.llm_stream import LlmStreamRelay
from ext_proc.protocols.sse import SseParser
from ext_proc.scanning import prepare
from ext_proc.scanning.actions import ActionTable

PROSE = (
    "Thanks for reaching out. I checked the order history and the refund was issued on Monday; "
    "it usually takes three to five business days to appear on the statement. "
)
WITH_PII = PROSE + "You can reach the customer at ada.lovelace@example.com or +1 415 555 0100. " + PROSE


def events(text: str, delta_chars: int = 4) -> list[bytes]:
    reply = Reply(model="gpt-4o-mini", text=text * 4, delta_chars=delta_chars)
    return list(providers.openai_chat_stream(reply, "chatcmpl-bench", include_usage=True))


def per_chunk_us(chunks: list[bytes], make: type[LlmStreamRelay] | None, rounds: int = 30) -> float:
    samples = []
    for _ in range(rounds):
        relay = make("openai.chat", ActionTable()) if make else None
        parser = SseParser()
        started = time.perf_counter()
        for chunk in chunks:
            if relay is not None:
                relay.feed(chunk)
            else:
                parser.feed(chunk)
        if relay is not None:
            relay.finish()
        samples.append((time.perf_counter() - started) / len(chunks) * 1e6)
    return statistics.median(samples)


def holdback(chunks: list[bytes]) -> tuple[float, int]:
    """Characters of text held back after each delta: the median and the largest."""
    relay = LlmStreamRelay("openai.chat", ActionTable())
    held = []
    for chunk in chunks:
        relay.feed(chunk)
        held.extend(redactor.held for redactor in relay._redactors.values())
    return statistics.median(held), max(held)


def main() -> None:
    prepare()
    clean, pii = events(PROSE), events(WITH_PII)
    base = per_chunk_us(clean, None)
    plain = per_chunk_us(clean, LlmStreamRelay)
    found = per_chunk_us(pii, LlmStreamRelay)
    median_held, max_held = holdback(pii)
    print(f"chunks per stream: {len(pii)} (one SSE event each, ~4 characters of text per delta)")
    print(f"SSE parse only                      {base:8.1f} us/chunk")
    print(f"relay, nothing to find              {plain:8.1f} us/chunk   ({plain / base:.1f}x parse)")
    print(f"relay, PII redacted in the stream   {found:8.1f} us/chunk   ({found / base:.1f}x parse)")
    print(f"holdback after each delta: median {median_held:.0f} chars, max {max_held} (a token: ~4 chars)")


if __name__ == "__main__":
    main()

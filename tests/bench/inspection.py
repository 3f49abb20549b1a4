"""CPU time per streamed event of an LLM response, relayed with scanning and redaction, and the
redaction holdback, measured in process (no Envoy, no network).

Each chunk is one SSE event of a realistic OpenAI Chat stream (a few characters of text per
delta, as the providers send), so "per event" is the work ext_proc does for one event: SSE parse,
interpret, scan and redact the deltas, scan every other string, re-encode. The relay is built as
the service builds it for the `make bench` stream: the policy judges events with injection
signals, and the request's strings (which the answer may repeat) are the echo. The same stream
also arrives whole in one chunk, as a fast upstream's answer reaches ext_proc in a few large body
messages. The baseline in the same run is the bare SSE parse of the same events.

    .venv/bin/python -m tests.bench.inspection
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ext_proc.demo import providers
from ext_proc.demo.providers import Reply
from ext_proc.inspection.llm_stream import LlmStreamRelay, PendingEvent
from ext_proc.inspection.request import inspect_request
from ext_proc.protocols.sse import SseParser
from ext_proc.scanning import prepare
from ext_proc.scanning.actions import ActionTable

PROSE = (
    "Thanks for reaching out. I checked the order history and the refund was issued on Monday; "
    "it usually takes three to five business days to appear on the statement. "
)
WITH_PII = PROSE + "You can reach the customer at ada.lovelace@example.com or +1 415 555 0100. " + PROSE
REQUEST = (
    b'{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "'
    + b"Where is my refund? " * 20
    + b'"}]}'
)


def events(text: str, delta_chars: int = 4) -> list[bytes]:
    reply = Reply(model="gpt-4o-mini", text=text * 4, delta_chars=delta_chars)
    return list(providers.openai_chat_stream(reply, "chatcmpl-bench", include_usage=True))


def echo() -> frozenset[str]:
    """The request's strings, as the service gives them to the relay (protocol_responses.py)."""
    request = inspect_request("POST", "/v1/chat/completions", {}, REQUEST, declared_as="openai")
    return frozenset(text.text for text in request.texts)


def relay_all(chunks: list[bytes], echoed: frozenset[str]) -> None:
    relay = LlmStreamRelay("openai.chat", ActionTable(), judged=True, echo=echoed)
    judgement = relay._by_table()
    for chunk in chunks:
        for piece in relay.feed_events(chunk):
            if isinstance(piece, PendingEvent):
                piece.resolve(judgement)
    relay.finish()


def parse_all(chunks: list[bytes], _: frozenset[str]) -> None:
    parser = SseParser(strict=True)
    for chunk in chunks:
        list(parser.feed(chunk))


def cpu_us_per_event(
    run: Callable[[list[bytes], frozenset[str]], None], chunks: list[bytes], n_events: int, rounds: int = 30
) -> float:
    """Best of five batches of ``rounds`` streams: CPU time of this process per event."""
    echoed = echo()
    run(chunks, echoed)  # warm: the clean-string memory, caches
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            run(chunks, echoed)
        best = min(best, (time.process_time() - started) / rounds / n_events * 1e6)
    return best


def holdback(chunks: list[bytes]) -> tuple[float, int]:
    """Characters of text held back after each delta: the median and the largest."""
    relay = LlmStreamRelay("openai.chat", ActionTable())
    held = []
    for chunk in chunks:
        relay.feed(chunk)
        held.extend(redactor.held for redactor in relay._redactors.values())
    held.sort()
    return held[len(held) // 2], held[-1]


def main() -> None:
    prepare()
    clean, pii = events(PROSE), events(WITH_PII)
    base = cpu_us_per_event(parse_all, clean, len(clean))
    rows = [
        ("relay, nothing to find", cpu_us_per_event(relay_all, clean, len(clean))),
        ("relay, PII redacted in the stream", cpu_us_per_event(relay_all, pii, len(pii))),
        ("relay, PII, the stream in one chunk", cpu_us_per_event(relay_all, [b"".join(pii)], len(pii))),
    ]
    median_held, max_held = holdback(pii)
    print(f"events per stream: {len(clean)} / {len(pii)} (one SSE event per chunk, ~4 characters per delta)")
    print(f"SSE parse only                        {base:8.1f} us CPU/event")
    for name, value in rows:
        print(f"{name:37} {value:8.1f} us CPU/event   ({value / base:.1f}x parse)")
    print(f"holdback after each delta: median {median_held:.0f} chars, max {max_held} (a token: ~4 chars)")


if __name__ == "__main__":
    main()

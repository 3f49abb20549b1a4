"""Python time per streamed LLM event: SSE parse, interpret, rewrite (``python -m tests.bench.protocols``).

For each provider fixture stream, fed one event per chunk as a provider sends them, it reports
the best-of-N microseconds per event of:

- ``json``: ``orjson.loads`` of each event's data alone, the floor any JSON protocol pays, measured
  in the same run (the other columns are also given as a ratio to it);
- ``parse``: ``SseParser.feed``;
- ``+interpret``: parse and ``StreamInterpreter.interpret``;
- ``+rewrite``: parse, interpret and ``rewrite`` of every text to a changed one (the worst case:
  every event is re-encoded; unchanged events are forwarded as their raw bytes at no cost).

Compare the last column with the budget of about 150 µs of Python time per streamed chunk
(parse, scan and re-encode): what is left is the scanners' share. Absolute numbers on a shared
machine are noise; the ratios are steadier.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from ext_proc.protocols.llm import Provider, stream_interpreter
from ext_proc.protocols.sse import SseParser

FIXTURES = Path(__file__).parents[1] / "fixtures" / "llm"
STREAMS: list[tuple[str, Provider]] = [
    ("openai_chat_text.sse", "openai.chat"),
    ("openai_chat_parallel_tools.sse", "openai.chat"),
    ("openai_responses_text.sse", "openai.responses"),
    ("openai_responses_tools.sse", "openai.responses"),
    ("anthropic_text.sse", "anthropic.messages"),
    ("anthropic_tools.sse", "anthropic.messages"),
]


def event_chunks(data: bytes) -> list[bytes]:
    return [event.raw for event in SseParser().feed(data)]


def json_only(chunks: list[bytes], provider: Provider) -> None:
    for chunk in chunks:
        data = chunk.partition(b"data: ")[2].rstrip(b"\n")
        if data != b"[DONE]":
            orjson.loads(data)


def parse(chunks: list[bytes], provider: Provider) -> None:
    parser = SseParser()
    for chunk in chunks:
        parser.feed(chunk)


def interpret(chunks: list[bytes], provider: Provider) -> None:
    parser = SseParser()
    interpreter = stream_interpreter(provider)
    for chunk in chunks:
        for event in parser.feed(chunk):
            interpreter.interpret(event)


def rewrite(chunks: list[bytes], provider: Provider) -> None:
    parser = SseParser()
    interpreter = stream_interpreter(provider)
    for chunk in chunks:
        for event in parser.feed(chunk):
            view = interpreter.interpret(event)
            if view.texts:
                interpreter.rewrite(view, [piece.text + "." for piece in view.texts]).raw  # noqa: B018
            else:
                event.raw  # noqa: B018


Step = Callable[[list[bytes], Provider], None]
STEPS: list[tuple[str, Step]] = [
    ("json", json_only),
    ("parse", parse),
    ("+interpret", interpret),
    ("+rewrite", rewrite),
]


def best_us_per_event(step: Step, chunks: list[bytes], provider: Provider, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            step(chunks, provider)
        best = min(best, (time.perf_counter() - start) / 20)
    return best / len(chunks) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    header = f"{'stream':34} {'events':>6} " + " ".join(f"{name:>18}" for name, _ in STEPS)
    print(header)
    print("-" * len(header))
    for name, provider in STREAMS:
        chunks = event_chunks((FIXTURES / name).read_bytes())
        times = [best_us_per_event(step, chunks, provider, args.repeats) for _, step in STEPS]
        cells = [f"{times[0]:6.2f} µs".rjust(18)]
        cells += [f"{t:6.2f} µs ({t / times[0]:4.1f}x)".rjust(18) for t in times[1:]]
        print(f"{name:34} {len(chunks):>6} " + " ".join(cells))


if __name__ == "__main__":
    main()

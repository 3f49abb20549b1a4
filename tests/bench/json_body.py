"""The strict JSON parser against orjson on realistic bodies (``python -m tests.bench.json_body``).

For each request body (the LLM and MCP fixtures, and a long chat conversation) it reports the
best-of-N CPU microseconds per body of:

- ``orjson``: ``orjson.loads``, the baseline measured in the same run (other columns are also a
  ratio to it). It is not exact: duplicate keys are read last-wins and integers beyond 64 bits
  become floats, which is why bodies are not read with it;
- ``strict``: ``strict_json.loads`` as every body is read (duplicate keys refused);
- ``last-wins``: ``strict_json.loads(duplicates="last")``, opa-envoy-plugin's reading;
- ``dumps``: ``strict_json.dumps`` of the parsed body, the canonical serialization forwarded
  upstream, beside ``orjson.dumps`` (``orjson-dumps``), which it is wherever orjson is exact.

CPU time (``time.process_time``), best of N: absolute numbers on a shared machine are noise,
the ratios are steadier.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ext_proc import strict_json

FIXTURES = Path(__file__).parents[1] / "fixtures"
BODIES = [
    "llm/openai_chat_request.json",
    "llm/openai_responses_request.json",
    "llm/anthropic_request.json",
    "mcp/tools_call_request.json",
    "mcp/batch_request.json",
]


def bodies() -> list[tuple[str, bytes]]:
    found = [(name.split("/")[-1], (FIXTURES / name).read_bytes()) for name in BODIES]
    chat = orjson.loads((FIXTURES / BODIES[0]).read_bytes())
    chat["messages"] = chat["messages"] * 60  # a long conversation, ~56 KB
    found.append(("openai_chat_60_turns", orjson.dumps(chat)))
    return found


Step = Callable[[bytes, Any], object]
STEPS: list[tuple[str, Step]] = [
    ("orjson", lambda data, _: orjson.loads(data)),
    ("strict", lambda data, _: strict_json.loads(data)),
    ("last-wins", lambda data, _: strict_json.loads(data, duplicates="last")),
    ("orjson-dumps", lambda _, value: orjson.dumps(value)),
    ("dumps", lambda _, value: strict_json.dumps(value)),
]


def best_us(step: Step, data: bytes, value: Any, repeats: int) -> float:
    rounds = max(5, 200_000 // max(len(data), 1))
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(rounds):
            step(data, value)
        best = min(best, (time.process_time() - start) / rounds)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    header = f"{'body':28} {'bytes':>7} " + " ".join(f"{name:>20}" for name, _ in STEPS)
    print(header)
    print("-" * len(header))
    for name, data in bodies():
        value = strict_json.loads(data)
        times = [best_us(step, data, value, args.repeats) for _, step in STEPS]
        cells = [f"{times[0]:7.2f} µs".rjust(20)]
        cells += [f"{t:7.2f} µs ({t / times[0]:4.2f}x)".rjust(20) for t in times[1:3]]
        cells += [f"{times[3]:7.2f} µs".rjust(20)]
        cells += [f"{times[4]:7.2f} µs ({times[4] / times[3]:4.2f}x)".rjust(20)]
        print(f"{name:28} {len(data):>7} " + " ".join(cells))


if __name__ == "__main__":
    main()

"""Replay the soak's captured traffic against the service's servicers, in process, no Envoy.

    .venv/bin/python -m tests.soak.capture /tmp/soak.pickle
    .venv/bin/python -m tests.soak.replay /tmp/soak.pickle [--requests N] [--every N]

Ten times the soak's rate on the same machine, for finding what grows: the service is built as
``make soak`` runs it (shipped policies, audit to a rotated file), every Check and ext_proc stream
Envoy sent is replayed in turn (each MCP and A2A call with a number of its own, so loop
detection sees distinct calls, as in the soak), and the resident memory is printed every
``--every`` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import pickle
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import uvloop
import yaml
from envoy.service.auth.v3 import external_auth_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2

from ext_proc.config import load_config
from ext_proc.server import Service
from tests.harness import free_port
from tests.soak.capture import soak_config

MB = 1024 * 1024
SEQ_PATTERN = re.compile(rb"900000\d\d\d")


class _Context:
    """What the servicers use of a grpc.aio context."""

    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._metadata = metadata
        self.written = 0

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    async def write(self, message: Any) -> None:
        message.SerializeToString()
        self.written += 1

    async def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"aborted: {code} {details}")


async def _messages(raw: list[bytes], seq: bytes) -> AsyncIterator[Any]:
    for data in raw:
        yield external_processor_pb2.ProcessingRequest.FromString(SEQ_PATTERN.sub(seq, data))


async def replay(service: Service, recorded: list[tuple[str, Any]], number: int) -> None:
    """One captured call, the ``number``-th of the run."""
    kind, payload = recorded[number % len(recorded)]
    seq = b"%09d" % (100_000_000 + number)
    if kind == "check":
        assert service.authz_servicer is not None
        request = external_auth_pb2.CheckRequest.FromString(SEQ_PATTERN.sub(seq, payload))
        (await service.authz_servicer.Check(request, _Context())).SerializeToString()
    else:
        assert service.ext_proc_servicer is not None
        metadata, raw = payload
        await service.ext_proc_servicer.Process(_messages(raw, seq), _Context(metadata))


async def run(recorded: list[tuple[str, Any]], calls: int, every: int) -> list[tuple[int, float]]:
    process = psutil.Process()
    curve: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="chaperone-replay-") as tmp:
        workdir = Path(tmp)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(soak_config(workdir, free_port())))
        service = Service(load_config(config_path))
        await service.start()
        started = time.monotonic()
        try:
            for number in range(calls):
                await replay(service, recorded, number)
                await asyncio.sleep(0)  # let the tasks the call started run, as on the server
                if number % every == 0:
                    rss = process.memory_info().rss / MB
                    curve.append((number, rss))
                    print(
                        f"{time.monotonic() - started:7.0f} s {number:9d} calls  RSS {rss:7.1f} MB"
                        f"  gc objects {len(gc.get_objects()):8d}",
                        flush=True,
                    )
        finally:
            await service.stop(0)
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=10_000)
    args = parser.parse_args(argv)
    recorded = pickle.loads(args.capture.read_bytes())
    curve = uvloop.run(run(recorded, args.requests, args.every))  # the service's default loop
    warm = curve[len(curve) // 10]
    last = curve[-1]
    grown = last[1] - warm[1]
    print(f"after warm-up ({warm[0]} calls): {grown:+.1f} MB over {last[0] - warm[0]} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())

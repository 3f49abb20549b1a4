"""Replay the soak's captured traffic to the service over gRPC, no Envoy: its RSS curve.

    .venv/bin/python -m tests.soak.capture /tmp/soak.pickle
    .venv/bin/python -m tests.soak.grpc_replay /tmp/soak.pickle [--requests N] [--concurrency C]

The service runs as ``make soak`` runs it (a process of its own, shipped policies, audit to a
rotated file); C clients send the captured Checks and ext_proc streams in turn, each MCP and A2A
call with a number of its own. Between ``tests.soak.replay`` (servicers called in process) and
``make soak`` (through Envoy): it includes grpc.aio's server, at a few times the soak's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import psutil
from envoy.service.ext_proc.v3 import external_processor_pb2

from tests.harness import ServiceProcess, free_port
from tests.soak.capture import soak_config
from tests.soak.replay import SEQ_PATTERN

MB = 1024 * 1024
CHECK = "/envoy.service.auth.v3.Authorization/Check"
PROCESS = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"


async def _one(channel: grpc.aio.Channel, recorded: list[tuple[str, Any]], number: int, reset: bool) -> None:
    kind, payload = recorded[number % len(recorded)]
    seq = b"%09d" % (100_000_000 + number)
    if kind == "check":
        check = channel.unary_unary(CHECK, request_serializer=None, response_deserializer=None)
        await check(SEQ_PATTERN.sub(seq, payload))
        return
    metadata, raw = payload
    process = channel.stream_stream(PROCESS, request_serializer=None, response_deserializer=None)
    call = process(metadata=metadata)
    for data in raw:
        await call.write(SEQ_PATTERN.sub(seq, data))
        reply = external_processor_pb2.ProcessingResponse.FromString(await call.read())
        if reply.HasField("immediate_response"):
            break
    if reset:  # as Envoy ends a stream whose processing is over: RST_STREAM, not a half-close
        call.cancel()
        return
    await call.done_writing()
    while await call.read() is not grpc.aio.EOF:
        pass


async def drive(
    address: str, recorded: list[tuple[str, Any]], calls: int, concurrency: int, reset: bool, on_every: Any
) -> None:
    counter = iter(range(calls))
    async with grpc.aio.insecure_channel(address) as channel:

        async def worker() -> None:
            for number in counter:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await _one(channel, recorded, number, reset)
                on_every(number)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reset", action="store_true", help="end streams with a cancel, not a half-close")
    args = parser.parse_args(argv)
    recorded = pickle.loads(args.capture.read_bytes())
    with tempfile.TemporaryDirectory(prefix="chaperone-grpc-replay-") as tmp:
        workdir = Path(tmp)
        service = ServiceProcess(workdir, soak_config(workdir, free_port())).start()
        assert service.process is not None
        process = psutil.Process(service.process.pid)
        started = time.monotonic()

        def on_every(number: int) -> None:
            if number % args.every == 0:
                rss, fds = process.memory_info().rss / MB, process.num_fds()
                elapsed = time.monotonic() - started
                print(f"{elapsed:7.0f} s {number:9d} calls  RSS {rss:7.1f} MB  fds {fds}", flush=True)

        try:
            calls, concurrency = args.requests, args.concurrency
            asyncio.run(drive(service.address, recorded, calls, concurrency, args.reset, on_every))
            on_every(0)
        finally:
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

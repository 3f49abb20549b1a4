"""A do-nothing ext_authz Check server: the floor that Python's gRPC puts under any servicer.

    .venv/bin/python -m tests.bench.null_server --mode aio|sync --address 127.0.0.1:PORT

It answers every Check with an OK and nothing else, on grpc.aio with uvloop (as the service
runs) or on the synchronous server with a 64-thread pool. ``make bench`` runs both behind the
same Envoy as Chaperone, so that Chaperone's own cost per check is a ratio against them.
``--capture FILE`` also writes the first CheckRequest it receives (serialized protobuf), which
the in-process benchmark (tests.bench.check) uses as a request exactly as Envoy sends it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import uvloop
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc
from google.rpc import code_pb2, status_pb2

SYNC_THREADS = 64
ALLOW = pb.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=pb.OkHttpResponse())


class _Capture:
    def __init__(self, path: str | None) -> None:
        self._path = Path(path) if path else None

    def __call__(self, request: Any) -> None:
        if self._path is not None:
            self._path.write_bytes(request.SerializeToString())
            self._path = None


class AioServicer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(self, capture: _Capture) -> None:
        self._capture = capture

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        self._capture(request)
        return ALLOW


class SyncServicer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(self, capture: _Capture) -> None:
        self._capture = capture

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        self._capture(request)
        return ALLOW


async def serve_aio(address: str, capture: _Capture) -> None:
    server = grpc.aio.server()
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(AioServicer(capture), server)
    server.add_insecure_port(address)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(None)


def serve_sync(address: str, capture: _Capture) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=SYNC_THREADS))
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(SyncServicer(capture), server)
    server.add_insecure_port(address)
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("aio", "sync"), default="aio")
    parser.add_argument("--address", required=True)
    parser.add_argument("--capture", help="write the first CheckRequest received to this file")
    args = parser.parse_args()
    capture = _Capture(args.capture)
    if args.mode == "aio":
        uvloop.run(serve_aio(args.address, capture))
    else:
        serve_sync(args.address, capture)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Record what Envoy sends: the CheckRequest of every request of the real-policy corpus.

    .venv/bin/python -m tests.capture_check_requests [ENTRY ...]

Starts the project's Envoy (envoy/chaperone.yaml, as the integration tests run it, with the
ext_authz filter's ``with_request_body`` set as opa-envoy-plugin deployments set it) in front
of a small gRPC Authorization service that keeps each CheckRequest and answers with a deny (no
upstream is needed), sends each corpus request through it, and writes the CheckRequests as
protojson to tests/fixtures/opa_envoy_corpus/<entry>/captured/<request>.json. The fixtures
change on every run (times, ports, request ids); the decisions they lead to do not.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from ext_proc.demo.envoy_config import http_filters
from tests.harness import EnvoyProcess, free_port, render_envoy_config
from tests.opa_envoy_corpus import WITH_REQUEST_BODY, Entry, entries

EXT_PROC = "envoy.filters.http.ext_proc"


class Recorder(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.seen: queue.Queue[Any] = queue.Queue()

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        self.seen.put(request)
        return external_auth_pb2.CheckResponse(status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED))


def capture_envoy_config(config: dict[str, Any]) -> None:
    """The check with the body; no ext_proc (the recorder answers the check alone)."""
    filters = http_filters(config)
    filters[:] = [f for f in filters if f["name"] != EXT_PROC]
    filters[0]["typed_config"]["with_request_body"] = dict(WITH_REQUEST_BODY)


class RecorderServer:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    def start(self) -> RecorderServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = grpc.aio.server()
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(self.recorder, self._server)
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self._server.start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)


def capture(selected: list[Entry]) -> None:
    server = RecorderServer().start()
    with tempfile.TemporaryDirectory() as workdir:
        listener, admin = free_port(), free_port()
        config = render_envoy_config(
            listener_port=listener,
            admin_port=admin,
            upstream_port=free_port(),
            service_port=server.port,
            edit=capture_envoy_config,
        )
        envoy = EnvoyProcess(config, Path(workdir), listener, admin).start()
        try:
            for entry in selected:
                (entry.directory / "captured").mkdir(exist_ok=True)
                for request in entry.requests:
                    status, _, _ = request.send("127.0.0.1", listener)
                    try:
                        check = server.recorder.seen.get(timeout=5)
                    except queue.Empty:  # Envoy answered without a check (it refused the request)
                        print(f"{entry.name}/{request.name}: no check (Envoy answered {status})")
                        entry.captured_path(request).unlink(missing_ok=True)
                        continue
                    entry.captured_path(request).write_text(json_format.MessageToJson(check, indent=2) + "\n")
                    print(f"{entry.name}/{request.name}: captured")
        finally:
            envoy.stop()
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("entries", nargs="*", help="entry names (default: all)")
    args = parser.parse_args(argv)
    selected = [e for e in entries() if not args.entries or e.name in args.entries]
    capture(selected)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A small server that speaks OPA's Data API with the real OPA engine (Go, in process) inside.

It stands in for a user's OPA sidecar when testing the remote engine: ``POST /v1/data/<path>``
with ``{"input": ...}`` answers ``{"result": ...}``, or ``{}`` when the document is undefined,
or an OPA-style error object with status 500.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

from ext_proc.policy.bundle import load_bundle


def opa_engine_for(directory: Path) -> OpaEngine:
    bundle = load_bundle(directory)
    engine = OpaEngine()
    engine.add_data(bundle.data)
    for path, source in bundle.modules:
        engine.add_policy(path, source)
    return engine


class OpaDataApiServer:
    def __init__(self, policy_dir: Path) -> None:
        self.engine = opa_engine_for(policy_dir)
        self.delay_seconds = 0.0
        self.requests = 0
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def do_POST(self) -> None:
                server.requests += 1
                length = int(self.headers.get("content-length", "0"))
                document = json.loads(self.rfile.read(length) or b"{}")
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                status, reply = server.evaluate(self.path, document.get("input"))
                body = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def evaluate(self, path: str, input_document: Any) -> tuple[int, dict[str, Any]]:
        if not path.startswith("/v1/data/"):
            return 404, {"code": "resource_not_found", "message": "not found"}
        dotted = path.removeprefix("/v1/data/").split("?", 1)[0].strip("/").replace("/", ".")
        try:
            return 200, {"result": self.engine.eval_document(dotted, input_document)}
        except OpaUndefinedError:
            return 200, {}
        except OpaError as exc:
            return 500, {"code": "internal_error", "message": exc.message}

    def start(self) -> OpaDataApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self.engine.close()

"""The remote engine: a thin client for an OPA server's Data API (``POST /v1/data/<path>``).

Why not opa-python-client: its sync client shares one requests.Session (not documented as
thread-safe) across our worker threads, retries failed POSTs by default, and pulls in requests,
aiohttp and aiofiles. On the request path we need the opposite: a per-thread keep-alive
connection, one attempt with a short deadline, and every failure mapped to a stable error code
so the evaluator can fail closed. http.client does that in a few lines.
"""

from __future__ import annotations

import http.client
import threading
from typing import Any
from urllib.parse import urlsplit

import orjson

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.engine import decision_rule

_CONFLICT_MARKER = "conflict"


class RemoteOpaEngine:
    def __init__(self, url: str, decision_path: str, timeout_ms: int) -> None:
        decision_rule(decision_path)  # same path rules as the embedded engine
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChaperoneError(ErrorCode.POLICY_NOT_LOADED, f"invalid OPA URL {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/") + "/v1/data/" + decision_path.strip("/")
        self._timeout = timeout_ms / 1000
        self._local = threading.local()
        self.url = url

    @property
    def revision(self) -> str:
        return "remote-opa"

    def evaluate(self, document: dict[str, Any]) -> Any:
        body = orjson.dumps({"input": document})
        conn = self._connection()
        try:
            conn.request("POST", self._path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
        except TimeoutError:
            self._drop(conn)
            raise ChaperoneError(
                ErrorCode.OPA_TIMEOUT, f"OPA did not answer within {self._timeout * 1000:.0f} ms"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop(conn)
            raise ChaperoneError(
                ErrorCode.OPA_UNAVAILABLE, f"OPA at {self.url} is unreachable", detail=str(exc)
            ) from None
        if response.will_close:
            self._drop(conn)
        return _result(response.status, payload)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._drop(conn)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None


def _result(status: int, payload: bytes) -> Any:
    try:
        data = orjson.loads(payload) if payload else {}
    except orjson.JSONDecodeError:
        raise ChaperoneError(
            ErrorCode.OPA_BAD_RESPONSE, f"OPA answered {status} with a body that is not JSON"
        ) from None
    if status != 200:
        message = data.get("message", "") if isinstance(data, dict) else ""
        if _CONFLICT_MARKER in message:
            raise ChaperoneError(
                ErrorCode.POLICY_MULTIPLE_RESULTS,
                "the decision rule produced conflicting values",
                detail=message,
            )
        code = data.get("code", "unknown") if isinstance(data, dict) else "unknown"
        raise ChaperoneError(
            ErrorCode.OPA_BAD_RESPONSE, f"OPA answered HTTP {status}", detail=f"{code}: {message}"
        )
    if not isinstance(data, dict):
        raise ChaperoneError(
            ErrorCode.OPA_BAD_RESPONSE, "OPA answered with a JSON value that is not an object"
        )
    # The Data API omits "result" when the document is undefined.
    return data.get("result")

"""The remote engine: a thin async client for an OPA server's Data API (``POST /v1/data/<path>``).

Why not opa-python-client: it retries failed POSTs by default (a retried decision doubles the
latency the request-path deadline is meant to bound), it raises generic exceptions that would
have to be re-classified, and it pulls in requests and aiofiles besides aiohttp. On the request
path we need one pooled keep-alive connection set, one attempt with a short deadline, and every
failure mapped to a stable error code so the evaluator can fail closed. A few lines of aiohttp
do exactly that.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.engine import decision_rule
from ext_proc.policy.input_projection import WHOLE_INPUT, InputProjection

_CONFLICT_MARKER = "conflict"
_JSON = {"Content-Type": "application/json"}


class RemoteOpaEngine:
    def __init__(self, url: str, decision_path: str, timeout_ms: int) -> None:
        decision_rule(decision_path)  # same path rules as the embedded engine
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChaperoneError(ErrorCode.POLICY_NOT_LOADED, f"invalid OPA URL {_shown(url)!r}")
        self.url = url
        self._shown_url = _shown(url)
        self._endpoint = url.rstrip("/") + "/v1/data/" + decision_path.strip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
        self._timeout_ms = timeout_ms
        self._session: aiohttp.ClientSession | None = None

    @property
    def revision(self) -> str:
        return "remote-opa"

    async def evaluate(self, document: dict[str, Any]) -> Any:
        body = strict_json.dumps({"input": document})  # integers beyond 64 bits as their digits
        try:
            async with self._client().post(self._endpoint, data=body, headers=_JSON) as response:
                payload = await response.read()
                status = response.status
        except TimeoutError:
            raise ChaperoneError(
                ErrorCode.OPA_TIMEOUT, f"OPA did not answer within {self._timeout_ms} ms"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ChaperoneError(
                ErrorCode.OPA_UNAVAILABLE, f"OPA at {self._shown_url} is unreachable", detail=str(exc)
            ) from None
        return _result(status, payload)

    def input_projection(self) -> InputProjection:
        return WHOLE_INPUT  # OPA's policies are not visible from here

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop, and kept: connections are pooled.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(keepalive_timeout=30),
            )
        return self._session


def _shown(url: str) -> str:
    """The URL as messages may name it: without the credentials of basic authentication
    (``https://user:password@opa``), which every refusal would otherwise carry into the logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


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

"""What an audit event says of the HTTP request: method, path without its query, host."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestSummary:
    method: str
    path: str
    host: str

    @staticmethod
    def of(method: str, path: str, host: str) -> RequestSummary:
        # The query string often carries keys (?api_key=...): it is never logged.
        return RequestSummary(method=method, path=path.split("?", 1)[0], host=host)

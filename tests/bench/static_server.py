"""Chaperone's gRPC server with a Check that answers a prebuilt allow at once (not a test).

    .venv/bin/python -m tests.bench.static_server serve --config FILE

Everything ``chaperone serve`` sets up (every service, the server's options, the tolerant
deserializers, health, the admin API, the audit trail, the policy engine), but the Check body.
`make bench` runs it between the do-nothing grpc.aio servicer and Chaperone's real Check, so that
Chaperone's own cost per check splits into what its server adds and what its Check body costs.
"""

from __future__ import annotations

from typing import Any

from ext_proc import cli
from ext_proc.authz.servicer import AuthorizationServicer
from tests.bench.null_server import ALLOW


async def _allow(_servicer: Any, _request: Any, _context: Any) -> Any:
    return ALLOW


def main() -> int:
    AuthorizationServicer.Check = _allow  # type: ignore[method-assign]
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())

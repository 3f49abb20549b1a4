"""What the operator commands (``chaperone approvals``, ``chaperone kill``) share: their common
options, one authenticated JSON call to a replica's operator API, and one-line error reports.

The token comes from ``--token-file``: bare, or ``<name> <token>`` lines like
``admin.token_file`` (with several, ``--operator NAME`` picks one). It is sent as a bearer token
and never printed, not even in an error.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from ext_proc.admin.app import operator_tokens
from ext_proc.config import DEFAULT_ADMIN_ADDRESS

DEFAULT_ADMIN_URL = f"http://{DEFAULT_ADMIN_ADDRESS}"
TIMEOUT_SECONDS = 10.0


class CliError(Exception):
    """A failure to report in one line (never containing the token)."""


def operator_options() -> argparse.ArgumentParser:
    """The options every operator command takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--admin", default=DEFAULT_ADMIN_URL, help=f"admin API URL (default: {DEFAULT_ADMIN_URL})"
    )
    common.add_argument("--token-file", required=True, help="file holding the operator's token")
    common.add_argument("--operator", help="the operator's name, when the token file has several")
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")
    return common


def run(work: Callable[[], object]) -> int:
    """The command's exit status: 1 with the error on stderr for a CliError."""
    try:
        work()
    except CliError as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    return 0


def request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """The API's JSON answer to ``method path`` on ``args.admin``; CliError for any failure."""
    headers = {
        "authorization": f"Bearer {_token(args.token_file, args.operator)}",
        "accept": "application/json",
    }
    if body is not None:
        headers["content-type"] = "application/json"
    call = urllib.request.Request(
        args.admin.rstrip("/") + path,
        data=None if body is None else orjson.dumps(body),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT_SECONDS) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise CliError(_api_error(exc)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach the admin API at {args.admin}: {reason}") from None
    except orjson.JSONDecodeError:
        raise CliError(f"the admin API at {args.admin} did not answer JSON") from None


def _api_error(exc: urllib.error.HTTPError) -> str:
    try:
        error = orjson.loads(exc.read())["error"]
        return f"{error['code']}: {error['message']} (HTTP {exc.code})"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"the admin API answered HTTP {exc.code}"


def _token(token_file: str, operator: str | None) -> str:
    tokens = operator_tokens(token_file)
    if not tokens:
        raise CliError(f"no token in {token_file}")
    if operator is not None:
        if operator not in tokens:
            raise CliError(f"{token_file} has no token for {operator!r}")
        return tokens[operator]
    if len(tokens) > 1:
        raise CliError(f"{token_file} holds several tokens: choose one with --operator")
    return next(iter(tokens.values()))

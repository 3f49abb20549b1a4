"""``chaperone approvals``: list, approve and deny approval requests through the operator API.

::

    chaperone approvals list [--status pending] [--json]
    chaperone approvals approve ID [--comment TEXT]
    chaperone approvals deny ID [--comment TEXT]

each with ``--admin URL`` (default ``http://127.0.0.1:9002``) and ``--token-file FILE``: a
file with the operator's token, either bare or as ``<name> <token>`` lines like
``admin.token_file`` (with several lines, ``--operator NAME`` picks one). The token is sent as
a bearer token and never printed.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

import orjson

from ext_proc.admin.app import operator_tokens
from ext_proc.config import DEFAULT_ADMIN_ADDRESS

DEFAULT_ADMIN_URL = f"http://{DEFAULT_ADMIN_ADDRESS}"
TIMEOUT_SECONDS = 10.0
STATUSES = ("pending", "approved", "denied", "expired")
_COLUMNS = ("ID", "STATUS", "AGENT", "ACTION", "GROUP", "EXPIRES", "REASON")


class CliError(Exception):
    """A failure to report in one line (never containing the token)."""


def add_commands(commands: Any) -> None:
    """Register ``approvals`` on the ``chaperone`` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--admin", default=DEFAULT_ADMIN_URL, help=f"admin API URL (default: {DEFAULT_ADMIN_URL})"
    )
    common.add_argument("--token-file", required=True, help="file holding the operator's token")
    common.add_argument("--operator", help="the operator's name, when the token file has several")
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")

    approvals = commands.add_parser("approvals", help="list, approve and deny approval requests")
    actions = approvals.add_subparsers(metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list approval requests, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only requests with this status")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    listing.set_defaults(handler=_list)
    for name, verb in (("approve", "approve"), ("deny", "deny")):
        decide = actions.add_parser(name, parents=[common], help=f"{verb} a pending request")
        decide.add_argument("id", help="the approval request's id (apr_...)")
        decide.add_argument("--comment", default="", help="why (recorded with the decision)")
        decide.set_defaults(handler=_decide, approve=name == "approve")


def _list(args: argparse.Namespace) -> int:
    query = f"?limit={args.limit}" + (f"&status={args.status}" if args.status else "")
    return _run(args, lambda: _print_list(_request(args, "GET", "/api/approvals" + query), args.json))


def _decide(args: argparse.Namespace) -> int:
    path = f"/api/approvals/{urllib.parse.quote(args.id, safe='')}/{'approve' if args.approve else 'deny'}"
    body = {"comment": args.comment} if args.comment else {}
    return _run(args, lambda: _print_decision(_request(args, "POST", path, body), args.json))


def _run(args: argparse.Namespace, work: Any) -> int:
    try:
        work()
    except CliError as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    return 0


def _request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = args.admin.rstrip("/") + path
    data = None if body is None else orjson.dumps(body)
    headers = {
        "authorization": f"Bearer {_token(args.token_file, args.operator)}",
        "accept": "application/json",
    }
    if data is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
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


def _print_list(answer: Any, as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    rows = [_row(approval) for approval in answer["approvals"]]
    if not rows:
        out.write("no approval requests\n")
        return
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
    for row in [_COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def _print_decision(approval: Any, as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(orjson.dumps(approval, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    out.write(f"{approval['id']} {approval['status']} by {approval['decided_by']}: {_what(approval)}\n")


def _row(approval: dict[str, Any]) -> tuple[str, ...]:
    return (
        approval["id"],
        approval["status"],
        approval["agent"] or "-",
        _what(approval),
        approval["group"] or "-",
        approval["expires_at"],
        approval["reason"],
    )


def _what(approval: dict[str, Any]) -> str:
    action = approval.get("action") or {}
    names = [str(action[key]) for key in ("protocol", "method", "tool", "model") if action.get(key)]
    return " ".join(names) or "-"

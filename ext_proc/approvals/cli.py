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
import urllib.parse
from typing import Any, TextIO

import orjson

from ext_proc.admin.cli_client import operator_options, request, run

STATUSES = ("pending", "approved", "denied", "expired")
_COLUMNS = ("ID", "STATUS", "AGENT", "ACTION", "GROUP", "EXPIRES", "REASON")


def add_commands(commands: Any) -> None:
    """Register ``approvals`` on the ``chaperone`` command's subparsers."""
    common = operator_options()
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
    return run(lambda: _print_list(request(args, "GET", "/api/approvals" + query), args.json))


def _decide(args: argparse.Namespace) -> int:
    path = f"/api/approvals/{urllib.parse.quote(args.id, safe='')}/{'approve' if args.approve else 'deny'}"
    body = {"comment": args.comment} if args.comment else {}
    return run(lambda: _print_decision(request(args, "POST", path, body), args.json))


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

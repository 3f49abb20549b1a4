"""``chaperone kill``: engage, release and list kill switches through a replica's operator API.

::

    chaperone kill engage --scope agent --target support-bot --reason "refund loop"
    chaperone kill release --scope agent --target support-bot [--reason TEXT]
    chaperone kill list [--json]

each with ``--admin URL`` (default ``http://127.0.0.1:9002``; any replica will do, they share
the kill switches) and ``--token-file FILE``: a file with the operator's token, bare or as
``<name> <token>`` lines like ``admin.token_file`` (with several, ``--operator NAME`` picks one).
The service records the operator the token names as the actor. The token is never printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO
from urllib.parse import urlencode

import orjson

from ext_proc.admin.cli_client import operator_options, request, run
from ext_proc.limits.kill_store import SCOPES

KILL_SWITCH_API = "/api/kill-switch"
_COLUMNS = ("SCOPE", "TARGET", "SINCE", "BY", "REASON")


def add_kill_commands(commands: Any) -> None:
    """Register ``kill engage|release|list`` on the ``chaperone`` command's subparsers."""
    common = operator_options()
    scoped = argparse.ArgumentParser(add_help=False)
    scoped.add_argument("--scope", required=True, choices=SCOPES)
    scoped.add_argument("--target", default="", help="the agent, tool or upstream (none for --scope all)")

    kill = commands.add_parser("kill", help="stop everything, an agent, a tool or an upstream")
    actions = kill.add_subparsers(metavar="ACTION")
    engage = actions.add_parser("engage", parents=[common, scoped], help="engage a kill switch")
    engage.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    engage.set_defaults(handler=_engage)
    release = actions.add_parser("release", parents=[common, scoped], help="release a kill switch")
    release.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    release.set_defaults(handler=_release)
    listing = actions.add_parser("list", parents=[common], help="list the engaged kill switches")
    listing.set_defaults(handler=_list)


def _engage(args: argparse.Namespace) -> int:
    body = {"scope": args.scope, "target": args.target, "reason": args.reason}
    return run(
        lambda: _print_kill("engaged", request(args, "POST", KILL_SWITCH_API, body)["kill"], args.json)
    )


def _release(args: argparse.Namespace) -> int:
    query = {"scope": args.scope} if args.scope == "all" else {"scope": args.scope, "target": args.target}
    path = f"{KILL_SWITCH_API}?{urlencode(query)}"
    body = {"reason": args.reason} if args.reason else None
    return run(lambda: _print_kill("released", request(args, "DELETE", path, body)["released"], args.json))


def _list(args: argparse.Namespace) -> int:
    return run(lambda: _print_list(request(args, "GET", KILL_SWITCH_API)["kills"], args.json))


def _print_kill(what: str, kill: dict[str, Any], as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(orjson.dumps(kill, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    target = kill["target"] or "(everything)"
    out.write(f"{what}: {kill['scope']} {target} (by {kill['actor']}: {kill['reason']})\n")


def _print_list(kills: list[dict[str, Any]], as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(orjson.dumps(kills, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not kills:
        out.write("no kill switch is engaged\n")
        return
    rows = [(k["scope"], k["target"] or "-", k["engaged_at"], k["actor"], k["reason"]) for k in kills]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
    for row in [_COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")

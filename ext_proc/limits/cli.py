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
import urllib.error
import urllib.request
from typing import Any, TextIO
from urllib.parse import urlencode

import orjson

from ext_proc.admin.app import operator_tokens
from ext_proc.config import DEFAULT_ADMIN_ADDRESS
from ext_proc.limits.kill_store import SCOPES

DEFAULT_ADMIN_URL = f"http://{DEFAULT_ADMIN_ADDRESS}"
TIMEOUT_SECONDS = 10.0
_COLUMNS = ("SCOPE", "TARGET", "SINCE", "BY", "REASON")


class CliError(Exception):
    """A failure to report in one line (never containing the token)."""


def add_kill_commands(commands: Any) -> None:
    """Register ``kill engage|release|list`` on the ``chaperone`` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--admin", default=DEFAULT_ADMIN_URL, help=f"admin API URL (default: {DEFAULT_ADMIN_URL})"
    )
    common.add_argument("--token-file", required=True, help="file holding the operator's token")
    common.add_argument("--operator", help="the operator's name, when the token file has several")
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")
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
    return _run(lambda: _print_kill("engaged", _request(args, "POST", "", body)["kill"], args.json))


def _release(args: argparse.Namespace) -> int:
    query = {"scope": args.scope} if args.scope == "all" else {"scope": args.scope, "target": args.target}
    path = "?" + urlencode(query)
    body = {"reason": args.reason} if args.reason else None
    return _run(lambda: _print_kill("released", _request(args, "DELETE", path, body)["released"], args.json))


def _list(args: argparse.Namespace) -> int:
    return _run(lambda: _print_list(_request(args, "GET", "", None)["kills"], args.json))


def _run(work: Any) -> int:
    try:
        work()
    except CliError as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    return 0


def _request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> Any:
    headers = {
        "authorization": f"Bearer {_token(args.token_file, args.operator)}",
        "accept": "application/json",
    }
    if body is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(
        args.admin.rstrip("/") + "/api/kill-switch" + path,
        data=None if body is None else orjson.dumps(body),
        method=method,
        headers=headers,
    )
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

"""``chaperone kill``: engage, release and list kill switches through a replica's admin API.

```sh
chaperone kill engage --scope agent --target support-bot --reason "refund loop" --token-file TOKEN
chaperone kill release --scope agent --target support-bot --token-file TOKEN
chaperone kill list --token-file TOKEN [--json]
```

``--admin`` is the replica's admin URL (default ``http://127.0.0.1:9002``); any replica will do,
since they share the kill switches. The token file holds the operator API's bearer token (the
content of the service's ``admin.token_file``); it is read, never printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from ext_proc.limits.kill_store import SCOPES

DEFAULT_ADMIN_URL = "http://127.0.0.1:9002"
TIMEOUT_SECONDS = 10.0


class _CommandError(Exception):
    pass


def add_kill_commands(commands: Any) -> None:
    """Add ``kill engage|release|list`` to the ``chaperone`` command's subcommands."""
    kill = commands.add_parser("kill", help="stop everything, an agent, a tool or an upstream")
    actions = kill.add_subparsers(metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--admin", default=DEFAULT_ADMIN_URL, help=f"admin URL (default {DEFAULT_ADMIN_URL})")
    common.add_argument("--token-file", required=True, help="file holding the operator API's bearer token")
    scoped = argparse.ArgumentParser(add_help=False)
    scoped.add_argument("--scope", required=True, choices=SCOPES)
    scoped.add_argument("--target", default="", help="the agent, tool or upstream (none for --scope all)")
    scoped.add_argument("--actor", default=_user(), help="who acts, for the audit trail (default: $USER)")

    engage = actions.add_parser("engage", parents=[common, scoped], help="engage a kill switch")
    engage.add_argument("--reason", required=True, help="why, for the audit trail")
    engage.set_defaults(handler=_engage)
    release = actions.add_parser("release", parents=[common, scoped], help="release a kill switch")
    release.add_argument("--reason", default="", help="why, for the audit trail")
    release.set_defaults(handler=_release)
    listing = actions.add_parser("list", parents=[common], help="list the engaged kill switches")
    listing.add_argument("--json", action="store_true", help="print the API's JSON")
    listing.set_defaults(handler=_list)


def _engage(args: argparse.Namespace) -> int:
    body = {"scope": args.scope, "target": args.target, "reason": args.reason, "actor": args.actor}
    return _run(lambda: _print(_request(args, "POST", "", body)["kill"]))


def _release(args: argparse.Namespace) -> int:
    path = "/all" if args.scope == "all" else f"/{args.scope}/{quote(args.target, safe='')}"
    body = {"reason": args.reason, "actor": args.actor}
    return _run(lambda: _print(_request(args, "DELETE", path, body)["released"]))


def _list(args: argparse.Namespace) -> int:
    def show() -> None:
        kills = _request(args, "GET", "", None)["kills"]
        if args.json:
            _print(kills)
            return
        if not kills:
            print("no kill switch is engaged")
        for kill in kills:
            print(
                f"{kill['scope']}\t{kill['target']}\t{kill['engaged_at']}\t{kill['actor']}\t{kill['reason']}"
            )

    return _run(show)


def _run(action: Any) -> int:
    try:
        action()
    except _CommandError as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    return 0


def _request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> Any:
    token = _token(args.token_file)
    request = urllib.request.Request(
        args.admin.rstrip("/") + "/api/kill-switch" + path,
        data=None if body is None else orjson.dumps(body),
        method=method,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _CommandError(f"{method} {request.full_url}: {exc.code} {_error_text(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _CommandError(f"cannot reach the admin API at {args.admin}: {exc}") from None
    except orjson.JSONDecodeError:
        raise _CommandError(f"{method} {request.full_url}: the answer is not JSON") from None


def _token(path: str) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise _CommandError(f"cannot read the token file {path}: {exc.strerror}") from None
    if not token:
        raise _CommandError(f"the token file {path} is empty")
    return token


def _error_text(raw: bytes) -> str:
    try:
        error = orjson.loads(raw)["error"]
        return f"{error['code']}: {error['message']}"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace")


def _print(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"

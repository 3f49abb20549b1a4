"""`chaperone keys`: make and hash agents' API keys (offline; nothing is stored by these commands)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ext_proc.identity.api_keys import MAX_KEY_FILE_BYTES, Pepper, hash_key, new_key, parse_pepper
from ext_proc.identity.model import valid_agent_id
from ext_proc.watch import FileLoadError, read_file

PEPPER_HELP = "hash with HMAC-SHA256 and the pepper in this file (identity.api_keys.pepper_file)"


def add_keys_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="API keys for agents").add_subparsers(metavar="ACTION")
    hash_command = keys.add_parser("hash", help="read a key on standard input, print the hash to store")
    hash_command.add_argument(
        "--pepper-file", help="hash with HMAC-SHA256 and this pepper (api_keys.pepper_file)"
    )
    hash_command.set_defaults(handler=_hash)
    new = keys.add_parser(
        "new", help="make a key for AGENT: print the key once, then the line for the key file"
    )
    new.add_argument("agent", help="the agent id")
    new.add_argument("--pepper-file", help="hash with HMAC-SHA256 and this pepper (api_keys.pepper_file)")
    new.set_defaults(handler=_new)


def _hash(args: argparse.Namespace) -> int:
    key = sys.stdin.readline().strip()
    if not key:
        print("chaperone: no key on standard input", file=sys.stderr)
        return 1
    try:
        pepper = _pepper(args.pepper_file)
    except FileLoadError as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    print(hash_key(key, pepper))
    return 0


def _new(args: argparse.Namespace) -> int:
    if not valid_agent_id(args.agent):
        print("chaperone: an agent id is 1-256 visible ASCII characters", file=sys.stderr)
        return 1
    try:
        pepper = _pepper(args.pepper_file)
    except FileLoadError as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    key = new_key()
    print(key)
    print(f"{args.agent}: {hash_key(key, pepper)}")
    print(
        "# line 1 is the key: give it to the agent, it is shown only now. "
        "Line 2 goes in the key file (identity.api_keys.file).",
        file=sys.stderr,
    )
    return 0


def _pepper(path: str | None) -> Pepper | None:
    if path is None:
        return None
    return parse_pepper(read_file(Path(path), MAX_KEY_FILE_BYTES), Path(path))

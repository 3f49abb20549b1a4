"""RESP2, the Redis wire protocol: commands encoded, replies parsed from a growing buffer.

Only what a client needs: a command is an array of bulk strings; a reply is a simple string,
an error, an integer, a bulk string (or nil) or an array of replies (or nil). Values come back
as redis-py returns them without ``decode_responses``: bytes, int, None, lists; an error reply
becomes the exception redis-py would raise (``NoScriptError`` for NOSCRIPT), returned as a value
so the caller decides to raise it, and an error inside an array stays an element of the array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import DataError, NoScriptError, ResponseError

Arg = str | bytes | int | float

CRLF = b"\r\n"


class IncompleteReplyError(Exception):
    """The buffer ends before the reply does: wait for more bytes."""


class ProtocolError(Exception):
    """Bytes that are not RESP: the connection can no longer be trusted."""


def encode_command(args: Sequence[Arg]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bool):  # refused as redis-py refuses it (True is an int)
            raise DataError("a Redis argument cannot be a bool")
        elif isinstance(arg, int | float):
            data = repr(arg).encode()
        else:
            raise DataError(f"a Redis argument cannot be a {type(arg).__name__}")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def error_reply(message: str) -> ResponseError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


def parse_reply(buffer: bytes | bytearray, start: int) -> tuple[Any, int]:
    """The reply that begins at ``start`` and where the next one begins; IncompleteReplyError if cut short."""
    end = buffer.find(CRLF, start)
    if end < 0:
        raise IncompleteReplyError
    kind, line = buffer[start], bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == 0x24:  # $ bulk string
        length = int(line)
        if length < 0:
            return None, after
        if len(buffer) < after + length + 2:
            raise IncompleteReplyError
        return bytes(buffer[after : after + length]), after + length + 2
    if kind == 0x3A:  # : integer
        return int(line), after
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse_reply(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x2B:  # + simple string
        return line, after
    if kind == 0x2D:  # - error
        return error_reply(line.decode("utf-8", "replace")), after
    raise ProtocolError(f"unexpected RESP type byte {kind!r}")

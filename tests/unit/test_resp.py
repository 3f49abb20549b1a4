"""RESP2: commands as redis-py encodes them; replies parsed whole, or IncompleteReplyError until they are."""

from __future__ import annotations

import pytest
from redis.exceptions import DataError, NoScriptError, ResponseError

from ext_proc.state.resp import IncompleteReplyError, ProtocolError, encode_command, parse_reply


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert encode_command(["EVALSHA", b"ab", 2, 1.5, "é"]) == (
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n$3\r\n1.5\r\n$2\r\n\xc3\xa9\r\n"
    )


def test_floats_keep_every_digit_as_redis_py_sends_them() -> None:
    assert encode_command([1_795_255_200.123456]) == b"*1\r\n$17\r\n1795255200.123456\r\n"


def test_a_bool_is_refused() -> None:
    with pytest.raises(DataError):
        encode_command([True])


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b"+OK\r\n", b"OK"),
        (b":-42\r\n", -42),
        (b"$5\r\nhe\r\no\r\n", b"he\r\no"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*0\r\n", []),
        (b"*3\r\n:0\r\n$1\r\n0\r\n*2\r\n:1\r\n$-1\r\n", [0, b"0", [1, None]]),
    ],
)
def test_replies_parse_to_what_redis_py_returns(wire: bytes, value: object) -> None:
    assert parse_reply(wire + b"+next\r\n", 0) == (value, len(wire))


@pytest.mark.parametrize("wire", [b"*3\r\n:0\r\n$1\r\n0\r\n:99\r\n", b"$5\r\nhe\r\no\r\n"])
def test_a_reply_cut_anywhere_is_incomplete(wire: bytes) -> None:
    for cut in range(len(wire)):
        with pytest.raises(IncompleteReplyError):
            parse_reply(wire[:cut], 0)


def test_error_replies_become_redis_py_exceptions() -> None:
    error, _ = parse_reply(b"-NOSCRIPT No matching script.\r\n", 0)
    assert isinstance(error, NoScriptError)
    error, _ = parse_reply(b"-ERR wrong number of arguments\r\n", 0)
    assert type(error) is ResponseError and str(error) == "ERR wrong number of arguments"
    items, _ = parse_reply(b"*2\r\n-ERR inner\r\n:1\r\n", 0)
    assert isinstance(items[0], ResponseError) and items[1] == 1


def test_bytes_that_are_not_resp_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_reply(b"HTTP/1.1 400\r\n", 0)

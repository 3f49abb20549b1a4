"""The strict JSON parser and canonical serializer (ext_proc/strict_json.py)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode


def nested(levels: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * levels + leaf + b"}" * levels


def refused(data: bytes, **options: Any) -> ChaperoneError:
    with pytest.raises(ChaperoneError) as error:
        strict_json.loads(data, **options)
    return error.value


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1, "a": 2}',
        b'{"tool": {"name": "read", "name": "delete"}}',
        b'[{"x": 1}, {"y": 1, "y": 1}]',
        b'{"\\u0061": 1, "a": 2}',  # the same key once unescaped
    ],
)
def test_a_duplicate_key_is_refused(data: bytes) -> None:
    error = refused(data)
    assert error.code is ErrorCode.BODY_DUPLICATE_KEY
    assert error.http_status == 400
    assert "line 1" in error.message


def test_a_duplicate_key_is_refused_without_naming_it() -> None:
    error = refused(b'{"sk-live-secret": 1, "sk-live-secret": 2}')
    assert "sk-live" not in error.message


def test_last_wins_reads_duplicates_as_go_does() -> None:
    assert strict_json.loads(b'{"a": 1, "a": 2}', duplicates="last") == {"a": 2}


@pytest.mark.parametrize("levels", [1, 50, strict_json.MAX_DEPTH])
def test_nesting_up_to_the_limit_is_read(levels: int) -> None:
    value = strict_json.loads(nested(levels))
    assert strict_json.depth(value) == levels
    assert strict_json.loads(strict_json.dumps(value)) == value


@pytest.mark.parametrize("levels", [strict_json.MAX_DEPTH + 1, 253, 1023, 1024, 100_000])
def test_nesting_beyond_the_limit_is_a_clear_400(levels: int) -> None:
    error = refused(nested(levels))
    assert error.code is ErrorCode.BODY_TOO_DEEP
    assert error.http_status == 400
    assert str(strict_json.MAX_DEPTH) in error.message


@pytest.mark.parametrize(
    "number",
    [
        123456789012345678901234567890,
        -123456789012345678901234567890,
        2**64,
        2**64 - 1,
        -(2**63) - 1,
        10**400,
    ],
)
def test_integers_of_any_size_are_exact_both_ways(number: int) -> None:
    data = b'{"amount": %d}' % number
    value = strict_json.loads(data)
    assert value == {"amount": number}
    assert type(value["amount"]) is int
    assert strict_json.dumps(value) == b'{"amount":%d}' % number


@pytest.mark.parametrize("data", [b"1e400", b"[-1e400]", b'{"x": 1.5e+309}', b"1" * 400 + b".0"])
def test_a_number_beyond_a_double_is_refused(data: bytes) -> None:
    error = refused(data)
    assert error.code is ErrorCode.BODY_PARSE_ERROR
    assert "range" in error.message


def test_text_that_looks_like_a_big_exponent_is_fine() -> None:
    assert strict_json.loads(b'{"note": "1e400 and 5e+999", "n": 1e300}') == {
        "note": "1e400 and 5e+999",
        "n": 1e300,
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.BODY_PARSE_ERROR),
        (b"   ", ErrorCode.BODY_PARSE_ERROR),
        (b"{not json", ErrorCode.BODY_PARSE_ERROR),
        (b'{"a": 1} {"b": 2}', ErrorCode.BODY_PARSE_ERROR),
        (b"[1,]", ErrorCode.BODY_PARSE_ERROR),
        (b"NaN", ErrorCode.BODY_PARSE_ERROR),
        (b"[Infinity]", ErrorCode.BODY_PARSE_ERROR),
        (b"01", ErrorCode.BODY_PARSE_ERROR),
        (b'"a\x01b"', ErrorCode.BODY_PARSE_ERROR),
        (b'"\\ud800"', ErrorCode.BODY_PARSE_ERROR),
        (b"\xef\xbb\xbf{}", ErrorCode.BODY_PARSE_ERROR),
        (b'{"a": "\xff"}', ErrorCode.BODY_DECODE_ERROR),
        (b'"\xed\xa0\x80"', ErrorCode.BODY_DECODE_ERROR),  # an encoded surrogate
        ("é".encode("latin-1"), ErrorCode.BODY_DECODE_ERROR),
    ],
)
def test_what_is_not_strict_json_is_refused_with_its_code(data: bytes, code: ErrorCode) -> None:
    error = refused(data)
    assert error.code is code
    assert error.http_status == 400


def test_the_caller_chooses_the_status_and_subject() -> None:
    error = refused(b"<html>", http_status=502, what="the response")
    assert error.http_status == 502
    assert error.message.startswith("the response is not valid JSON")


def test_loads_text_refuses_a_lone_surrogate() -> None:
    with pytest.raises(ChaperoneError) as error:
        strict_json.loads_text('{"a": "\ud800"}')
    assert error.value.code is ErrorCode.BODY_DECODE_ERROR
    assert strict_json.loads_text('{"a": "é"}') == {"a": "é"}


@pytest.mark.parametrize(
    ("content_type", "refused_with"),
    [
        (None, None),
        ("application/json", None),
        ("application/json; charset=utf-8", None),
        ('application/json; charset="UTF-8"', None),
        ("application/json;charset=utf8", None),
        ("application/json; charset=iso-8859-1", 415),
        ("application/json; charset=utf-16", 415),
        ("application/json; charset=", 415),
        ("application/json; charset=utf-7", 415),
    ],
)
def test_a_charset_other_than_utf8_is_refused(content_type: str | None, refused_with: int | None) -> None:
    if refused_with is None:
        strict_json.check_charset(content_type)
        return
    with pytest.raises(ChaperoneError) as error:
        strict_json.check_charset(content_type)
    assert error.value.code is ErrorCode.UNSUPPORTED_CHARSET
    assert error.value.http_status == refused_with


def test_dumps_is_orjson_where_orjson_is_exact() -> None:
    value = {"model": "m", "n": [1, -2, 0.5, True, None], "text": 'é\u2028"\\/\x00'}
    assert strict_json.dumps(value) == orjson.dumps(value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_any_document_round_trips_exactly(value: Any) -> None:
    data = strict_json.dumps(value)
    assert strict_json.loads(data) == value
    assert strict_json.dumps(strict_json.loads(data)) == data
    # What the upstream's own parser reads is what Chaperone judged.
    assert json.loads(data) == value


@given(st.dictionaries(st.text(max_size=4), st.integers(), min_size=1, max_size=5), st.data())
def test_a_repeated_key_anywhere_is_found(value: dict[str, int], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(value)))
    members = [json.dumps(k) + ":" + str(v) for k, v in value.items()]
    members.insert(data.draw(st.integers(0, len(members))), json.dumps(key) + ":0")
    text = "{" + ",".join(members) + "}"
    assert refused(text.encode()).code is ErrorCode.BODY_DUPLICATE_KEY


@given(json_values)
def test_last_wins_reads_what_strict_reads(value: Any) -> None:
    data = strict_json.dumps(value)
    assert strict_json.loads(data, duplicates="last") == strict_json.loads(data)


@pytest.mark.parametrize(
    "number", [2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(10**19) + 1, 10**19 - 1, 10**40]
)
def test_last_wins_keeps_big_integers_exact(number: int) -> None:
    value = strict_json.loads(b"[%d]" % number, duplicates="last")
    assert value == [number]
    assert type(value[0]) is int


def test_last_wins_limits_nesting_too() -> None:
    assert refused(nested(300), duplicates="last").code is ErrorCode.BODY_TOO_DEEP
    assert refused(b"[" * 300 + b"]" * 300, duplicates="last").code is ErrorCode.BODY_TOO_DEEP
    assert refused(b"[1e400]", duplicates="last").code is ErrorCode.BODY_PARSE_ERROR

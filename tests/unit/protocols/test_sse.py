"""The SSE parser against the WHATWG rules, at every split point of its input, and its encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.sse import SseEvent, SseParser, encode_event, make_event, with_data

FIXTURES = Path(__file__).parents[2] / "fixtures" / "llm"

# Everything the standard allows in one stream: a BOM, comments, CR, LF and CRLF line ends,
# fields without a colon or without the space, unknown fields, a retry that is not a number,
# an id with NUL (ignored), a block without data (not dispatched) and multi-byte characters.
MIXED = (
    "\ufeff: a comment\r\n"
    "\r\n"
    "event: greeting\r"
    "data: héllo\r\n"
    "data:wörld 𝄞\n"
    "id: 7\n"
    "retry: 1500\n"
    "\n"
    "data\n"
    "unknown: field\n"
    "\n"
    "event: no data here\n"
    "id: 8\n"
    "\n"
    ": keep-alive\n"
    "data:  two spaces\r\n"
    "retry: 12a\n"
    "id: bad\0id\n"
    "\r"
    "data: ✓ last"
).encode()

MIXED_EVENTS = [
    SseEvent("héllo\nwörld 𝄞", "greeting", "7", 1500),
    SseEvent("", None, None, None),
    SseEvent(" two spaces", None, None, None),
]
MIXED_REST = "data: ✓ last".encode()


def fields(event: SseEvent) -> tuple[str, str | None, str | None, int | None]:
    return event.data, event.event, event.id, event.retry


def parse_pieces(pieces: list[bytes]) -> tuple[list[SseEvent], bytes, SseParser]:
    parser = SseParser()
    events: list[SseEvent] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    return events, parser.close(), parser


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({min(max(point, 0), len(data)) for point in points})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def check(data: bytes, pieces: list[bytes], expected: list[SseEvent], rest: bytes) -> None:
    events, tail, _ = parse_pieces(pieces)
    assert [fields(e) for e in events] == [fields(e) for e in expected]
    assert b"".join(e.raw for e in events) + tail == data
    assert tail.endswith(rest)


@pytest.mark.parametrize("split", range(len(MIXED) + 1))
def test_every_split_point_of_a_mixed_stream(split: int) -> None:
    check(MIXED, [MIXED[:split], MIXED[split:]], MIXED_EVENTS, MIXED_REST)


def test_one_byte_at_a_time() -> None:
    check(MIXED, [MIXED[i : i + 1] for i in range(len(MIXED))], MIXED_EVENTS, MIXED_REST)


@given(st.lists(st.integers(min_value=0, max_value=len(MIXED)), max_size=20))
def test_random_splits(points: list[int]) -> None:
    check(MIXED, split_at(MIXED, points), MIXED_EVENTS, MIXED_REST)


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.sse")))
def test_provider_streams_at_every_split_point(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    whole, rest, parser = parse_pieces([data])
    assert rest == b""
    assert not parser.ended_mid_event
    assert len(whole) == data.count(b"\n\n")
    for split in range(len(data) + 1):
        events, tail, _ = parse_pieces([data[:split], data[split:]])
        assert events == whole
        assert tail == b""


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.sse")))
def test_provider_streams_one_byte_at_a_time(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    events, rest, _ = parse_pieces([data[i : i + 1] for i in range(len(data))])
    assert events == parse_pieces([data])[0]
    assert rest == b""


@given(st.data())
def test_provider_streams_at_random_splits(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(path.name for path in FIXTURES.glob("*.sse"))))
    stream = (FIXTURES / name).read_bytes()
    points = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=40))
    events, _, _ = parse_pieces(split_at(stream, points))
    assert events == parse_pieces([stream])[0]
    assert b"".join(e.raw for e in events) == stream


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending(end: bytes) -> None:
    data = b"event: e" + end + b"data: a" + end + b"data: b" + end + end + b"data: c" + end + end
    events, rest, _ = parse_pieces([data])
    assert [fields(e) for e in events] == [("a\nb", "e", None, None), ("c", None, None, None)]
    assert rest == b""


def test_a_cr_at_the_end_of_a_chunk_and_an_lf_at_the_start_of_the_next_are_one_line_end() -> None:
    events, rest, _ = parse_pieces([b"data: a\r", b"\ndata: b\r\n\r", b"\n"])
    assert [e.data for e in events] == ["a\nb"]
    # The event is dispatched at the CR; the LF that completes it belongs to what follows.
    assert events[0].raw == b"data: a\r\ndata: b\r\n\r"
    assert rest == b"\n"


def test_two_crs_are_two_line_ends() -> None:
    events, _, _ = parse_pieces([b"data: a\r", b"\r"])
    assert [e.data for e in events] == ["a"]


def test_a_bom_is_ignored_only_at_the_start() -> None:
    bom = "\ufeff".encode()
    events, _, _ = parse_pieces([bom[:1], bom[1:2], bom[2:] + b"data: x\n\n" + bom + b"data: y\n\n"])
    assert [e.data for e in events] == ["x"]  # the second BOM makes an unknown field name


def test_an_incomplete_event_at_the_end_is_not_dispatched() -> None:
    events, rest, parser = parse_pieces([b"data: a\n\ndata: b\n"])
    assert [e.data for e in events] == ["a"]
    assert rest == b"data: b\n"
    assert parser.ended_mid_event


@pytest.mark.parametrize(
    ("tail", "mid_event"),
    [(b"", False), (b": comment\n", False), (b"dat", True), (b"event: x\n", True), (b"\xc3", True)],
)
def test_ended_mid_event(tail: bytes, mid_event: bool) -> None:
    _, rest, parser = parse_pieces([b"data: a\n\n", tail])
    assert rest == tail
    assert parser.ended_mid_event is mid_event


@pytest.mark.parametrize("split", range(1, 4))
def test_multi_byte_characters_split_across_chunks(split: int) -> None:
    data = "data: 𝄞\n\n".encode()
    events, _, _ = parse_pieces([data[: 6 + split], data[6 + split :]])
    assert [e.data for e in events] == ["𝄞"]


@pytest.mark.parametrize(
    "pieces",
    [
        [b"data: \xff\n\n"],
        [b"data: ok\n\n", b"data: \xc3", b"(\n\n"],
        [b": \xe2\x9c\n"],
        [b"\xed\xa0\x80: x\n"],
    ],
)
def test_invalid_utf8_is_an_error(pieces: list[bytes]) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_pieces(pieces)
    assert error.value.code is ErrorCode.SSE_DECODE_ERROR
    assert "byte" in error.value.message


def test_an_event_above_the_size_limit_is_an_error() -> None:
    parser = SseParser(max_event_bytes=100)
    parser.feed(b"data: " + b"x" * 60)
    with pytest.raises(ChaperoneError) as error:
        parser.feed(b"x" * 60)
    assert error.value.code is ErrorCode.BODY_TOO_LARGE


def test_a_long_line_in_many_chunks() -> None:
    value = "é" * 50_000
    data = f"data: {value}\n\n".encode()
    events, _, _ = parse_pieces([data[i : i + 7] for i in range(0, len(data), 7)])
    assert [e.data for e in events] == [value]


def test_take_idle_releases_comments_between_events() -> None:
    parser = SseParser()
    assert parser.feed(b": ping\n\n: ping\n") == []
    assert parser.take_idle() == b": ping\n\n: ping\n"
    assert parser.take_idle() == b""
    assert parser.feed(b"data: a") == []
    assert parser.take_idle() == b""  # a line in progress is part of the next event
    events = parser.feed(b"\n\n")
    assert [(e.data, e.raw) for e in events] == [("a", b"data: a\n\n")]


def test_take_idle_keeps_the_fields_of_an_event_in_progress() -> None:
    parser = SseParser()
    parser.feed(b": c\nevent: x\n")
    assert parser.take_idle() == b""
    assert [fields(e) for e in parser.feed(b"data: y\n\n")] == [("y", "x", None, None)]


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=10))
def test_any_input_is_accounted_for_byte_by_byte(data: bytes, points: list[int]) -> None:
    """Whatever the bytes, the parser raises a coded error or accounts for every input byte."""
    try:
        events, rest, _ = parse_pieces(split_at(data, points))
    except ChaperoneError as error:
        assert error.code is ErrorCode.SSE_DECODE_ERROR
        return
    assert b"".join(e.raw for e in events) + rest == data


line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)))


@given(
    st.lists(line_text, min_size=1, max_size=4),
    st.none() | line_text,
    st.none() | line_text.filter(lambda s: "\0" not in s),
    st.none() | st.integers(min_value=0, max_value=10**9),
)
def test_encode_then_parse_gives_the_same_event(
    lines: list[str], name: str | None, event_id: str | None, retry: int | None
) -> None:
    event = SseEvent("\n".join(lines), name, event_id, retry)
    encoded = encode_event(event)
    events, rest, _ = parse_pieces([encoded])
    assert [fields(e) for e in events] == [fields(event)]
    assert events[0].raw == encoded
    assert rest == b""


def test_encoding() -> None:
    event = SseEvent("a\nb", "message_start", "42", 3000)
    assert encode_event(event) == b"event: message_start\ndata: a\ndata: b\nid: 42\nretry: 3000\n\n"
    assert encode_event(SseEvent("")) == b"data: \n\n"
    assert encode_event(SseEvent("x\r\ny\rz")) == b"data: x\ndata: y\ndata: z\n\n"
    with pytest.raises(ValueError, match="line break"):
        encode_event(SseEvent("x", "bad\nname"))


def test_make_event_and_with_data() -> None:
    event = make_event('{"a":1}', event="e")
    assert event.raw == b'event: e\ndata: {"a":1}\n\n'
    original = parse_pieces([b": c\nevent: e\nid: 9\ndata: old\n\n"])[0][0]
    changed = with_data(original, "new")
    assert fields(changed) == ("new", "e", "9", None)
    assert changed.raw == b"event: e\ndata: new\nid: 9\n\n"

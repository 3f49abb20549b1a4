"""Streaming redaction equals block redaction for every way of cutting the text into deltas."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ext_proc.scanning.actions import REDACT_ALL, ActionTable
from ext_proc.scanning.findings import Finding
from ext_proc.scanning.redaction import redact_text
from ext_proc.scanning.stream import StreamRedactor
from tests.unit.scanning.samples import FRAGMENTS, IN_CONTEXT, POSITIVES

ALLOW_EMAIL = ActionTable.from_decision({"default": "redact", "EMAIL": "allow", "pii": "redact"})


def stream(pieces: list[str], table: ActionTable = REDACT_ALL) -> tuple[str, list[Finding], list[int]]:
    redactor = StreamRedactor(table)
    emitted: list[str] = []
    findings: list[Finding] = []
    held: list[int] = []
    for piece in pieces:
        step = redactor.feed(piece)
        emitted.append(step.emit)
        findings.extend(step.findings)
        held.append(redactor.held)
    step = redactor.finish()
    emitted.append(step.emit)
    findings.extend(step.findings)
    return "".join(emitted), findings, held


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


EXAMPLES = [
    *(f"mine: {value}, ok" for values in POSITIVES.values() for value in values[:2]),
    *(f"{text} and more" for text, _, _ in IN_CONTEXT),
    "call (415) 555-0100 or 415-555-0199x, mail a@b.co.uk.",
    "4111 1111 1111 1111 2024 is not a card but 4111111111111111 is",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_split_point(text: str) -> None:
    expected = redact_text(text)
    for cut in range(len(text) + 1):
        emitted, findings, _ = stream([text[:cut], text[cut:]])
        assert emitted == expected.text, cut
        assert findings == list(expected.findings)


@pytest.mark.parametrize("text", EXAMPLES)
def test_one_character_at_a_time(text: str) -> None:
    emitted, findings, _ = stream(list(text))
    assert emitted == redact_text(text).text
    assert findings == list(redact_text(text).findings)


texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_random_splits(text: str, cuts: list[int]) -> None:
    expected = redact_text(text)
    emitted, findings, _ = stream(split(text, cuts))
    assert emitted == expected.text
    assert findings == list(expected.findings)


@settings(max_examples=100, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_random_splits_with_allowed_types(text: str, cuts: list[int]) -> None:
    emitted, _, _ = stream(split(text, cuts), ALLOW_EMAIL)
    assert emitted == redact_text(text, ALLOW_EMAIL).text


def test_a_value_split_across_many_deltas_is_redacted_and_never_emitted_early() -> None:
    card = "4111 1111 1111 1111"
    redactor = StreamRedactor()
    out = [redactor.feed(piece).emit for piece in ["pay ", "41", "11 1", "111 ", "1111 11", "11", " now"]]
    assert out == ["pay ", "", "", "", "", "", "[REDACTED:CREDIT_CARD] "]
    assert redactor.finish().emit == "now"
    assert card not in "".join(out)


def test_holdback_is_about_one_word_in_prose() -> None:
    words = "The deployment finished without errors and the team reviewed the changes. " * 20
    deltas = [words[i : i + 7] for i in range(0, len(words), 7)]
    _, _, held = stream(deltas)
    assert max(held) <= 16
    assert sum(held) / len(held) < 6


def test_findings_carry_offsets_of_the_whole_stream() -> None:
    text = "first line\nmail john.doe@example.com\n"
    _, findings, _ = stream(split(text, [3, 17, 25]))
    assert [(f.type, text[f.start : f.end]) for f in findings] == [("EMAIL", "john.doe@example.com")]


def test_end_stream_stops_before_the_value_and_reports_it() -> None:
    table = ActionTable.from_decision({"default": "redact", "PRIVATE_KEY": "end_stream"})
    text = "mail a@example.com then " + POSITIVES["PRIVATE_KEY"][0] + " and the rest"
    redactor = StreamRedactor(table)
    steps = [redactor.feed(text[i : i + 5]) for i in range(0, len(text), 5)]
    emitted = "".join(step.emit for step in steps)
    assert emitted == "mail [REDACTED:EMAIL] then "
    stopping = [step for step in steps if step.verdict is not None]
    assert stopping[0].verdict == "end_stream"
    assert stopping[0].stopped_by is not None and stopping[0].stopped_by.type == "PRIVATE_KEY"
    assert all(step.emit == "" for step in stopping[1:])
    final = redactor.finish()
    assert (final.emit, final.verdict) == ("", "end_stream")


def test_block_verdict_in_a_stream() -> None:
    table = ActionTable.from_decision({"default": "allow", "secret": "block"})
    emitted, _, _ = stream(["key AKIAIOSFODNN7", "EXAMPLE and more"], table)
    assert emitted == "key "
    redactor = StreamRedactor(table)
    redactor.feed("key AKIAIOSFODNN7EXAMPLE ")
    assert redactor.feed("more").verdict == "block"


def test_the_emitted_prefix_matches_block_mode_up_to_the_stop() -> None:
    table = ActionTable.from_decision({"JWT": "end_stream"})
    text = f"a@b.co {POSITIVES['JWT'][0]} tail"
    emitted, _, _ = stream(list(text), table)
    expected = redact_text(text, table)
    assert expected.verdict == "end_stream"
    assert expected.stopped_by is not None
    assert emitted == expected.text[: expected.text.index("[REDACTED:JWT]")]


def test_feed_after_finish_is_an_error() -> None:
    redactor = StreamRedactor()
    redactor.finish()
    with pytest.raises(ValueError, match="after finish"):
        redactor.feed("x")
    with pytest.raises(ValueError, match="twice"):
        redactor.finish()


def test_a_large_single_delta_is_handled_like_many_small_ones() -> None:
    text = "".join(f"row {i}: john{i}@example.com 4111111111111111 ok\n" for i in range(300))
    emitted, findings, _ = stream([text[:7000], text[7000:]])
    assert emitted == redact_text(text).text
    assert len(findings) == 600


def test_holdback_is_bounded_by_the_longest_match() -> None:
    redactor = StreamRedactor()
    redactor.feed("-----BEGIN PRIVATE KEY-----\n")
    for _ in range(400):
        redactor.feed("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MTIzNDU2Nzg5MDEy\n")
    assert redactor.held <= 16_000 + 64


# -- feed_split: the deltas of one chunk, one scan ------------------------------------------------


def stream_chunks(chunks: list[list[str]], table: ActionTable = REDACT_ALL) -> tuple[str, list[Finding]]:
    """Each chunk's deltas through ``feed_split``: the steps, one per delta, joined."""
    redactor = StreamRedactor(table)
    emitted: list[str] = []
    findings: list[Finding] = []
    for deltas in chunks:
        steps = redactor.feed_split(deltas)
        assert len(steps) == len(deltas)
        emitted.extend(step.emit for step in steps)
        findings.extend(f for step in steps for f in step.findings)
    step = redactor.finish()
    return "".join([*emitted, step.emit]), [*findings, *step.findings]


@pytest.mark.parametrize("text", EXAMPLES)
def test_split_feeds_at_every_split_point(text: str) -> None:
    expected = redact_text(text)
    for cut in range(len(text) + 1):
        # one chunk of two deltas cut there, and the same after a first chunk of a few characters
        later = max(cut, 2)
        for chunks in ([[text[:cut], text[cut:]]], [[text[:2]], [text[2:later], text[later:]]]):
            emitted, findings = stream_chunks(chunks)
            assert emitted == expected.text, (cut, chunks)
            assert findings == list(expected.findings)


@settings(max_examples=300, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=400), max_size=20), st.lists(st.integers(1, 5)))
def test_split_feeds_of_random_chunks(text: str, cuts: list[int], sizes: list[int]) -> None:
    deltas, chunks = split(text, cuts), []
    for size in [*sizes, len(text) + 1]:
        if deltas:
            chunks.append(deltas[:size])
            deltas = deltas[size:]
    expected = redact_text(text)
    assert stream_chunks(chunks) == (expected.text, list(expected.findings))
    table_emitted, _ = stream_chunks(chunks, ALLOW_EMAIL)
    assert table_emitted == redact_text(text, ALLOW_EMAIL).text


def test_split_feed_gives_each_delta_its_own_text_where_nothing_is_found() -> None:
    deltas = ["The ord", "er was ", "shipped ", "on Mon", "day and"]
    steps = StreamRedactor().feed_split(deltas)
    # Only the last, unfinished word is held (it could start an email address).
    assert [step.emit for step in steps] == ["The ord", "er was ", "shipped ", "on Mon", "day "]


def test_split_feed_sends_a_value_cut_across_deltas_whole_with_the_delta_where_it_ends() -> None:
    redactor = StreamRedactor()
    redactor.feed("Held: jo")  # "jo" is held: it could start an email address
    steps = redactor.feed_split(["hn.d", "oe@exa", "mple.com is", " the contact"])
    assert [step.emit for step in steps] == ["", "", "[REDACTED:EMAIL] is", " the "]
    assert [len(step.findings) for step in steps] == [0, 0, 1, 0]
    assert "example.com" not in "".join(step.emit for step in steps)


def test_split_feed_stops_on_the_delta_where_the_stopping_value_ends() -> None:
    table = ActionTable.from_decision({"default": "redact", "PRIVATE_KEY": "end_stream"})
    key = POSITIVES["PRIVATE_KEY"][0]
    deltas = ["mail a@example.com then ", key[:20], key[20:], " and the rest", " more"]
    redactor = StreamRedactor(table)
    steps = redactor.feed_split(deltas)
    assert [step.emit for step in steps[:3]] == ["mail [REDACTED:EMAIL] then ", "", ""]
    assert [step.verdict for step in steps] == [None, None, "end_stream", "end_stream", "end_stream"]
    assert steps[2].stopped_by is not None and steps[2].stopped_by.type == "PRIVATE_KEY"
    assert steps[3].emit == steps[4].emit == ""
    assert redactor.feed_split(["x", "y"]) == [steps[3], steps[3]]

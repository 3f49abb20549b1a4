"""The scanner's two fast paths against their definitions.

Block scanning (hyperscan anchors, exact patterns in regions) must equal plain ``finditer`` of
every detector over the whole text; the live point (hyperscan ``live`` patterns as a gate, then
``regex`` partial matching) must equal the partial search of every detector from the start.
"""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from ext_proc.scanning import views
from ext_proc.scanning.findings import Finding, Hit, settle_overlaps
from ext_proc.scanning.hyperscan_db import BlockDatabase, HsPattern, scan_bytes
from ext_proc.scanning.redaction import default_scanner
from ext_proc.scanning.scanner import Pending, Scanner, view_hit
from tests.unit.scanning.samples import FRAGMENTS, POSITIVES

SCANNER = default_scanner()
texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=14).map("".join)


def reference_hits(text: str) -> list[Hit]:
    hits = []
    for rank, detector in enumerate(SCANNER.detectors):
        for match in detector.pattern.finditer(text):
            hit = SCANNER._validated(detector, rank, match)
            if hit is not None:
                hits.append(hit)
    return hits


def reference_findings(text: str) -> list[Finding]:
    """Every detector's ``finditer`` over the text and over its normalized view."""
    view = views.build(text)
    hits = reference_hits(text) + [view_hit(view, hit) for hit in reference_hits(view.text)]
    return [SCANNER.finding(hit) for hit in settle_overlaps(hits)]


def reference_live_point(text: str, pos: int) -> int:
    starts = [check.search(text, pos, partial=True) for check in SCANNER._live_checks]
    return min([len(text)] + [m.start() for m in starts if m is not None])


@settings(max_examples=400, deadline=None)
@given(texts)
def test_block_scan_equals_finditer_over_the_whole_text(text: str) -> None:
    assert SCANNER.scan(text) == reference_findings(text)


@settings(max_examples=400, deadline=None)
@given(texts, st.integers(min_value=0, max_value=60))
def test_live_point_equals_a_partial_search_of_every_detector(text: str, pos: int) -> None:
    pos = min(pos, len(text))
    live, matches, _ = SCANNER.step(text, pos)
    assert live == reference_live_point(text, pos)
    assert all(pos <= m.start < live for m in matches)


def test_live_point_holds_the_unfinished_word_only() -> None:
    text = "the deployment fini"
    assert SCANNER.step(text, 0)[0] == text.index("fini")
    assert SCANNER.step(text + "shed ", 0)[0] == len(text) + 5


def test_live_point_holds_a_value_until_it_can_be_judged() -> None:
    card = POSITIVES["CREDIT_CARD"][1]
    for cut in range(1, len(card) + 1):
        assert SCANNER.step("pay " + card[:cut], 0)[0] == 4


def test_long_texts_and_long_deltas_give_the_same_findings() -> None:
    values = [v for vs in POSITIVES.values() for v in vs]
    text = "".join(v + " filler text, " for v in values) * 20
    assert SCANNER.scan(text) == reference_findings(text)
    assert len(SCANNER.scan(text)) == len(values) * 20


def test_scan_bytes_keeps_one_byte_per_character() -> None:
    text = "aé日🎉\udc80z"
    data = scan_bytes(text)
    assert len(data) == len(text)
    assert data[0:1] == b"a" and data[1:2] == b"\xe9" and data[-1:] == b"z"


def test_scan_bytes_of_a_long_text_is_the_same_as_of_its_pieces() -> None:
    pieces = ["Отчёт über €5 \udc80 日本 ", "plain ascii ", "é" * 300]
    text = "".join(pieces) * 20
    assert scan_bytes(text) == b"".join(scan_bytes(piece) for piece in pieces) * 20
    assert len(scan_bytes(text)) == len(text)


def test_lone_surrogates_are_scanned_not_crashed_on() -> None:
    text = "\ud800 john.doe@example.com \udfff"
    assert [(f.type, f.start) for f in SCANNER.scan(text)] == [("EMAIL", 2)]


def test_each_thread_scans_with_its_own_scratch() -> None:
    database = BlockDatabase([HsPattern(1, "needle")])
    data = b"hay needle " * 20_000
    errors: list[BaseException] = []
    counts: list[int] = []

    def work() -> None:
        try:
            for _ in range(20):
                counts.append(len(database.scan(data)))
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counts == [20_000] * 80


def test_a_scanner_with_some_detectors_reports_only_those() -> None:
    scanner = Scanner([d for d in SCANNER.detectors if d.type == "EMAIL"])
    text = "john.doe@example.com AKIAIOSFODNN7EXAMPLE"
    assert [f.type for f in scanner.scan(text)] == ["EMAIL"]


@settings(max_examples=300, deadline=None)
@given(texts, st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=12))
def test_stepping_through_a_growing_text_finds_the_same_live_points(text: str, sizes: list[int]) -> None:
    pending = Pending()
    pos = end = 0
    for size in [*sizes, len(text)]:
        end = min(len(text), end + size)
        live, _, pending = SCANNER.step(text[:end], pos, pending)
        assert live == reference_live_point(text[:end], pos)
        pos = live

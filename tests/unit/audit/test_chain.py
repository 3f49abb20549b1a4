"""The audit trail's hash chain: a written log verifies; edits, deletions, reordering and forged
hashes are each reported at the first broken link; restarts link segments; other lines are skipped."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from ext_proc.audit import AuditLog, Verifier
from ext_proc.audit.chain import event_hash
from ext_proc.cli import main
from tests.unit.audit.helpers import events, lines, memory_log, write_decisions

Edit = Callable[[list[bytes]], list[bytes]]


def verify(log_lines: list[bytes], source: str = "audit.log") -> Verifier:
    verifier = Verifier()
    for number, line in enumerate(log_lines, start=1):
        if not verifier.feed(source, number, line):
            break
    return verifier


def written(count: int = 6) -> list[bytes]:
    audit, buffer = memory_log()
    write_decisions(audit, count)
    return buffer.getvalue().splitlines(keepends=True)


def test_a_written_log_verifies() -> None:
    log = written()
    report = verify(log).report
    assert report.ok
    assert report.events == len(log) == 7  # chain_start and six decisions
    [segment] = report.segments
    assert (segment.first_seq, segment.last_seq, segment.link) == (0, 6, "alone")


def test_every_event_is_linked_to_the_one_before() -> None:
    log = events(b"".join(written(3)))
    assert [e["seq"] for e in log] == [0, 1, 2, 3]
    assert log[0]["event"] == "chain_start" and log[0]["prev"] is None
    for before, after in itertools.pairwise(log):
        assert after["prev"] == before["hash"] and after["chain"] == before["chain"]
    assert all(e["hash"] == event_hash(e) for e in log)


def _edit_field(log: list[bytes]) -> list[bytes]:
    log[3] = log[3].replace(b'"allowed":true', b'"allowed":false')
    return log


def _delete_line(log: list[bytes]) -> list[bytes]:
    del log[3]
    return log


def _reorder_lines(log: list[bytes]) -> list[bytes]:
    log[3], log[4] = log[4], log[3]
    return log


def _forge_hash(log: list[bytes]) -> list[bytes]:
    # An edit whose hash is recomputed: the event itself checks, the next one's prev does not.
    event = orjson.loads(log[3])
    event["allowed"] = False
    event["hash"] = event_hash(event)
    log[3] = orjson.dumps(event) + b"\n"
    return log


def _splice_foreign_event(log: list[bytes]) -> list[bytes]:
    log[3] = written()[3]  # the same place in another process's chain
    return log


def _truncate_line(log: list[bytes]) -> list[bytes]:
    log[3] = log[3][:40] + b"\n"
    return log


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (_edit_field, 4, "the event was altered"),
        (_delete_line, 4, "seq 4 follows seq 2: 1 event missing"),
        (_reorder_lines, 4, "seq 4 follows seq 2"),
        (_forge_hash, 5, "prev is not the hash of the event before it"),
        (_splice_foreign_event, 4, "without a chain_start"),
        (_truncate_line, 4, "not valid JSON"),
    ],
)
def test_tampering_is_reported_at_the_first_broken_link(edit: Edit, line: int, message: str) -> None:
    report = verify(edit(written())).report
    assert report.problem is not None
    assert report.problem.line == line
    assert message in report.problem.message
    assert report.events == line - 1


def test_other_log_lines_are_skipped() -> None:
    log = written(3)
    operational = b'{"event":"serving","level":"info"}\n'
    mixed = [log[0], operational, log[1], b"2026-01-01 console text\n", log[2], b"\n", log[3]]
    report = verify(mixed).report
    assert report.ok and report.events == 4 and report.skipped == 3


def test_removing_the_audit_marker_does_not_hide_a_line() -> None:
    log = written(3)
    event = orjson.loads(log[2])
    del event["audit"]
    log[2] = orjson.dumps(event) + b"\n"
    report = verify(log).report
    assert (
        report.problem is not None
        and report.problem.line == 4
        and "1 event missing" in report.problem.message
    )


def test_a_restart_continues_the_file_in_a_linked_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    for _ in range(2):
        audit = AuditLog.to_file(str(path), 1 << 20, 2, stdout=False)
        write_decisions(audit, 2)
        audit.close()
    log = lines(path)
    report = verify(log).report
    assert report.ok and [s.link for s in report.segments] == ["alone", "linked"]
    # chain_start, 2 decisions, the final checkpoint; then the next segment.
    second_start = orjson.loads(log[4])
    first_end = orjson.loads(log[3])
    assert first_end["event"] == "checkpoint" and first_end["final"] is True
    assert second_start["event"] == "chain_start"
    assert (second_start["prev_chain"], second_start["prev_seq"], second_start["prev"]) == (
        first_end["chain"],
        first_end["seq"],
        first_end["hash"],
    )
    # The last events of a segment cut off before the restart are missed by the next one.
    del log[3]
    problem = verify(log).report.problem
    assert problem is not None and problem.line == 4 and "starts after chain" in problem.message


def test_a_file_that_starts_inside_a_chain_verifies_from_there() -> None:
    log = written(5)[3:]
    report = verify(log).report
    assert report.ok and report.segments[0].link == "continues" and report.segments[0].first_seq == 3


def test_cli_reports_the_broken_line_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"".join(written()))
    assert main(["audit", "verify", str(path)]) == 0
    assert "ok: 7 audit events in 1 segments" in capsys.readouterr().out
    path.write_bytes(b"".join(_delete_line(written())))
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: seq 4 follows seq 2" in out


def test_cli_refuses_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(tmp_path / "nope.log")]) == 2
    assert "cannot read" in capsys.readouterr().err

"""An audit trail that fails loudly: held lines, recorded gaps, refusals, reopened files, and
checkpoints that show a log cut short."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ext_proc.audit import AuditLog, Verifier
from ext_proc.audit.chain import event_hash
from ext_proc.audit.log import CheckpointSettings
from ext_proc.audit.sinks import RotatingFileSink, StreamSink
from ext_proc.cli import main
from ext_proc.errors import ErrorCode
from tests.unit.audit.helpers import events, write_decisions


class FlakySink:
    """A sink that refuses lines (ENOSPC) while ``full`` is set."""

    name = "file"

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.full = False

    def write(self, line: bytes) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.buffer.write(line)

    def close(self) -> None:
        pass


def verify_lines(data: bytes, **options: Any) -> Verifier:
    verifier = Verifier(**options)
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if not verifier.feed("audit.log", number, line):
            break
    verifier.finish()
    return verifier


def log_with(sink: FlakySink, **options: Any) -> tuple[AuditLog, io.BytesIO]:
    other = io.BytesIO()
    return AuditLog([StreamSink(other), sink], **options), other


def test_lines_a_sink_refuses_wait_and_are_written_in_order_when_it_recovers() -> None:
    sink = FlakySink()
    audit, _ = log_with(sink)
    write_decisions(audit, 3)
    sink.full = True
    write_decisions(audit, 5)
    assert not audit.healthy and audit.status().buffered == 5
    sink.full = False
    audit.maintain()
    assert audit.healthy
    written = events(sink.buffer.getvalue())
    assert [e["seq"] for e in written] == list(range(9)), "nothing lost, nothing out of order"
    report = verify_lines(sink.buffer.getvalue()).report
    assert report.ok and not report.gaps


def test_beyond_the_buffer_lines_are_lost_and_the_gap_is_recorded_in_the_chain() -> None:
    sink = FlakySink()
    line_size = 700
    audit, complete = log_with(sink, buffer_bytes=3 * line_size)
    write_decisions(audit, 2)  # seq 1-2
    sink.full = True
    write_decisions(audit, 10)  # seq 3-12: some held, the rest lost
    held = audit.status().buffered
    assert 1 <= held < 10
    sink.full = False
    write_decisions(audit, 1)  # recovery first: held lines, then the gap, then this decision
    written = events(sink.buffer.getvalue())
    gap = next(e for e in written if e["event"] == "audit_gap")
    assert (gap["first_seq"], gap["last_seq"]) == (3 + held, 12)
    assert gap["lost"] == 10 - held and gap["sink"] == "file" and gap["reason"] == os.strerror(errno.ENOSPC)
    assert written[written.index(gap) + 1]["event"] == "checkpoint", "the gap is signed at once"
    assert audit.status().lost == 10 - held
    report = verify_lines(sink.buffer.getvalue()).report
    assert report.ok, report.problem
    assert [(g.first_seq, g.last_seq) for g in report.gaps] == [(3 + held, 12)]
    # The sink that took every line verifies too: the gap is an event in its chain, not a hole.
    assert verify_lines(complete.getvalue()).report.ok
    # A hole the log did not record is still a broken chain.
    doctored = b"".join(
        line for line in sink.buffer.getvalue().splitlines(keepends=True) if b'"audit_gap"' not in line
    )
    assert not verify_lines(doctored).report.ok


def test_with_on_failure_deny_decisions_are_refused_until_the_trail_recovers() -> None:
    sink = FlakySink()
    audit, _ = log_with(sink, on_failure="deny")
    assert audit.unavailable() is None
    sink.full = True
    write_decisions(audit, 1)
    error = audit.unavailable()
    assert error is not None and error.code is ErrorCode.AUDIT_UNAVAILABLE and error.http_status == 503
    assert audit.status().refusing
    sink.full = False
    audit.maintain()
    assert audit.unavailable() is None and not audit.status().refusing


def test_with_on_failure_continue_decisions_go_on() -> None:
    sink = FlakySink()
    audit, _ = log_with(sink, on_failure="continue")
    sink.full = True
    write_decisions(audit, 1)
    assert audit.unavailable() is None and not audit.healthy and not audit.status().refusing


def test_a_removed_or_replaced_file_is_opened_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog.to_file(str(path), 1 << 20, 2, stdout=False)
    write_decisions(audit, 2)
    path.unlink()
    audit.maintain()
    write_decisions(audit, 2)
    assert [e["event"] for e in events(path.read_bytes())][:2] == ["audit_file_reopened", "decision"]
    path.rename(tmp_path / "audit.log.moved")  # logrotate's way
    path.write_bytes(b"")
    audit.maintain()
    write_decisions(audit, 1)
    audit.close()
    reopened = events(path.read_bytes())
    assert reopened[0]["event"] == "audit_file_reopened" and reopened[0]["reason"] == "replaced"
    # The moved file and the new one verify as one log.
    assert main(["audit", "verify", str(tmp_path / "audit.log.moved"), str(path)]) == 0


def test_a_short_write_leaves_no_torn_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.log"
    sink = RotatingFileSink(path, 1 << 20, 1)
    sink.write(b'{"audit":1,"first":true}\n')
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
    with pytest.raises(OSError) as raised:
        sink.write(b'{"audit":1,"second":true}\n')
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.setattr(os, "write", real_write)
    sink.write(b'{"audit":1,"third":true}\n')
    assert path.read_bytes() == b'{"audit":1,"first":true}\n{"audit":1,"third":true}\n'


def test_a_torn_line_repeated_whole_after_it_verifies() -> None:
    log = io.BytesIO()
    audit = AuditLog([StreamSink(log)])
    write_decisions(audit, 3)
    lines = log.getvalue().splitlines(keepends=True)
    torn = [*lines[:2], lines[2][:50] + b"\n", *lines[2:]]
    assert verify_lines(b"".join(torn)).report.ok
    cut = [*lines[:2], lines[2][:50] + b"\n", *lines[3:]]
    report = verify_lines(b"".join(cut)).report
    assert report.problem is not None and report.problem.line == 3


def keypair(tmp_path: Path) -> tuple[ed25519.Ed25519PrivateKey, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    public = tmp_path / "audit-public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, public


def test_signed_checkpoints_verify_and_a_forged_one_does_not(tmp_path: Path) -> None:
    key, public = keypair(tmp_path)
    path = tmp_path / "audit.log"
    settings = CheckpointSettings(every_events=5, key=key)
    audit = AuditLog.to_file(str(path), 1 << 20, 2, stdout=False, checkpoints=settings)
    write_decisions(audit, 12)
    audit.close()
    checkpoints = [e for e in events(path.read_bytes()) if e["event"] == "checkpoint"]
    assert len(checkpoints) == 3 and checkpoints[-1]["final"] is True
    assert main(["audit", "verify", "--public-key", str(public), str(path)]) == 0
    (tmp_path / "other").mkdir()
    _, other_public = keypair(tmp_path / "other")
    assert main(["audit", "verify", "--public-key", str(other_public), str(path)]) == 1


@pytest.mark.parametrize("signature", ["copied", "removed"])
def test_a_log_cut_short_under_a_forged_final_checkpoint_does_not_verify(
    tmp_path: Path, signature: str
) -> None:
    """The attacker's way to hide a cut: drop the newest events and end the log with a final
    checkpoint of their own, its hash chained correctly (anyone can compute it)."""
    key, public = keypair(tmp_path)
    path = tmp_path / "audit.log"
    settings = CheckpointSettings(every_events=4, key=key)
    audit = AuditLog.to_file(str(path), 1 << 20, 2, stdout=False, checkpoints=settings)
    write_decisions(audit, 10)
    audit.close()
    written = events(path.read_bytes())
    kept = written[:7]  # up to a decision after the first checkpoint
    forged = {k: v for k, v in written[-1].items() if k != "hash"}  # the real final checkpoint
    forged.update(seq=kept[-1]["seq"] + 1, prev=kept[-1]["hash"])
    if signature == "removed":
        del forged["signature"], forged["key_id"]
    forged["hash"] = event_hash(forged)
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in [*kept, forged]))
    assert main(["audit", "verify", "--public-key", str(public), str(path)]) == 1


def test_an_anchor_shows_a_log_cut_at_its_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, public = keypair(tmp_path)
    path, anchor = tmp_path / "audit.log", tmp_path / "elsewhere" / "audit.anchor"
    settings = CheckpointSettings(every_events=4, key=key, anchor_file=str(anchor))
    audit = AuditLog.to_file(str(path), 1 << 20, 2, stdout=False, checkpoints=settings)
    write_decisions(audit, 9)
    audit.close()
    assert orjson.loads(anchor.read_bytes())["final"] is True
    assert main(["audit", "verify", "--anchor", str(anchor), "--public-key", str(public), str(path)]) == 0
    assert "the anchored checkpoint is in the log" in capsys.readouterr().out
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-3]))  # the newest events cut off: still a valid chain...
    assert main(["audit", "verify", str(path)]) == 0
    assert "events after the last one" in capsys.readouterr().out
    assert main(["audit", "verify", "--anchor", str(anchor), str(path)]) == 1  # ...but not the anchored one
    assert "cut off its end" in capsys.readouterr().out


def test_a_checkpoint_is_written_when_due_by_time() -> None:
    now = [0.0]
    log = io.BytesIO()
    audit = AuditLog(
        [StreamSink(log)], checkpoints=CheckpointSettings(every_seconds=60), clock=lambda: now[0]
    )
    write_decisions(audit, 2)
    audit.maintain()
    assert "checkpoint" not in [e["event"] for e in events(log.getvalue())]
    now[0] = 61.0
    audit.maintain()
    assert [e["event"] for e in events(log.getvalue())][-1] == "checkpoint"

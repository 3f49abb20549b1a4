"""The rotating file sink: files are rotated by size, the chain runs across them, and a rotated
set verifies as one log (oldest first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ext_proc.audit import AuditLog
from ext_proc.audit.sinks import rotated_set
from ext_proc.cli import main
from tests.unit.audit.helpers import events, write_decisions


def rotated_log(tmp_path: Path, *, backups: int, decisions: int) -> Path:
    path = tmp_path / "audit.log"
    audit = AuditLog.to_file(str(path), 2048, backups, stdout=False)
    write_decisions(audit, decisions)
    audit.close()
    return path


def test_files_rotate_by_size_and_keep_the_configured_backups(tmp_path: Path) -> None:
    path = rotated_log(tmp_path, backups=3, decisions=40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]
    for file in rotated_set(path):
        assert file.stat().st_size <= 2048
        assert events(file.read_bytes()), "no file is left empty by a rotation"


def test_a_rotated_set_verifies_as_one_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = rotated_log(tmp_path, backups=50, decisions=30)
    written = [e for file in rotated_set(path) for e in events(file.read_bytes())]
    # chain_start, 30 decisions, the final checkpoint
    assert [e["seq"] for e in written] == list(range(32)), "the chain continues across the files"
    assert main(["audit", "verify", "--with-backups", str(path)]) == 0
    assert "ok: 32 audit events in 1 segments" in capsys.readouterr().out


def test_a_rotated_set_whose_oldest_files_were_dropped_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rotated_log(tmp_path, backups=2, decisions=40)
    assert main(["audit", "verify", "--with-backups", str(path)]) == 0
    assert "continues a segment that is not in these files" in capsys.readouterr().out
    # Each file also verifies on its own, and files out of order do not.
    for file in rotated_set(path):
        assert main(["audit", "verify", str(file)]) == 0
    assert main(["audit", "verify", str(path), str(tmp_path / "audit.log.1")]) == 1
    assert "follows seq" in capsys.readouterr().out


def test_a_missing_middle_file_breaks_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = rotated_log(tmp_path, backups=5, decisions=40)
    assert (
        main(["audit", "verify", str(tmp_path / "audit.log.3"), str(tmp_path / "audit.log.1"), str(path)])
        == 1
    )
    assert "audit.log.1:1: seq" in capsys.readouterr().out


def test_after_a_restart_the_new_segment_links_to_the_rotated_file(tmp_path: Path) -> None:
    path = rotated_log(tmp_path, backups=5, decisions=30)
    audit = AuditLog.to_file(str(path), 2048, 5, stdout=False)
    write_decisions(audit, 30)
    audit.close()
    assert main(["audit", "verify", "--with-backups", str(path)]) == 0

"""The audit file's disk fills up under a running service, then frees up.

A small tmpfs when the tests run as root (a real full file system: short writes and all), else
the audit path pointed at /dev/full (the kernel's own ENOSPC) and back. With
``audit.on_failure: deny`` requests are refused (503 ``audit_unavailable``) and readiness fails
while the trail cannot be written; with ``continue`` they are served. Either way nothing is lost
silently: what did not fit the buffer is an ``audit_gap`` the verifier accepts, and the log
verifies; a file removed under the service is opened again.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ext_proc.cli import main
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.reliability.conftest import eventually, metric, ready

pytestmark = pytest.mark.envoy


class FullDisk:
    """Makes the audit file's disk full (``fill``) and frees it (``free``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.audit_path = directory / "audit.log"
        self.files: list[Path] = []  # the audit files, oldest first, to verify as one log
        directory.mkdir(parents=True, exist_ok=True)
        self.tmpfs = os.geteuid() == 0 and _mount_tmpfs(directory)
        self._filler = directory / "filler"

    def fill(self) -> None:
        if self.tmpfs:
            fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * 4096)
            finally:
                os.close(fd)
        else:  # the service notices the path now names another file, and opens it
            moved = self.directory / f"audit.log.{len(self.files)}"
            self.audit_path.rename(moved)
            self.files.append(moved)
            self.audit_path.symlink_to("/dev/full")

    def free(self) -> None:
        if self.tmpfs:
            self._filler.unlink()
        else:
            self.audit_path.unlink()
            self.audit_path.write_bytes(b"")

    def log_files(self) -> list[Path]:
        return [*self.files, self.audit_path]

    def close(self) -> None:
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.directory)], check=False)


def _mount_tmpfs(directory: Path) -> bool:
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], capture_output=True
    )
    return mounted.returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[FullDisk]:
    full = FullDisk(tmp_path / "audit-disk")
    yield full
    full.close()


@contextlib.contextmanager
def audit_stack(tmp_path: Path, upstream: UpstreamServer, disk: FullDisk, on_failure: str) -> Iterator[Stack]:
    policies = copy_policies("default", tmp_path / "policies")
    audit = {"file": {"path": str(disk.audit_path)}, "on_failure": on_failure, "buffer_bytes": 4096}
    yield from start_stack(tmp_path, policies, upstream, service_sections={"audit": audit})


def status(stack: Stack) -> tuple[int, str]:
    with stack.client() as client:
        response = client.get("/echo/x")
    code = response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
    return response.status_code, code


def verify(*paths: Path) -> str:
    """``chaperone audit verify``'s report (in this process: a CLI start costs seconds)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = main(["audit", "verify", *map(str, paths)])
    assert status == 0, output.getvalue()
    return output.getvalue()


def test_on_failure_deny_refuses_until_the_disk_has_room_and_records_the_gap(
    tmp_path: Path, upstream: UpstreamServer, disk: FullDisk
) -> None:
    with audit_stack(tmp_path, upstream, disk, "deny") as stack:
        admin = stack.service.admin_url
        assert status(stack) == (200, "") and ready(admin) == 200
        disk.fill()
        eventually(lambda: status(stack) == (503, "audit_unavailable"), timeout=5)
        assert ready(admin) == 503
        assert metric(admin, "chaperone_audit_healthy") == 0
        assert metric(admin, "chaperone_audit_refusing") == 1
        refused = [status(stack) for _ in range(20)]  # their events overflow the 4 KB buffer
        assert set(refused) == {(503, "audit_unavailable")}
        disk.free()
        eventually(lambda: status(stack) == (200, ""), timeout=5)
        assert ready(admin) == 200 and metric(admin, "chaperone_audit_healthy") == 1
        assert metric(admin, "chaperone_audit_lost_lines_total") > 0
    report = verify(*disk.log_files())
    assert "recorded gap" in report and "No space left on device" in report
    # Standard output got every line: its chain verifies without a gap.
    assert "recorded gap" not in verify(stack.service.log_path)
    events = [orjson.loads(line) for line in disk.audit_path.read_bytes().splitlines()]
    assert events[-1]["event"] == "checkpoint" and events[-1]["final"] is True


def test_on_failure_continue_serves_and_a_removed_file_is_opened_again(
    tmp_path: Path, upstream: UpstreamServer, disk: FullDisk
) -> None:
    with audit_stack(tmp_path, upstream, disk, "continue") as stack:
        admin = stack.service.admin_url
        disk.fill()
        eventually(lambda: metric(admin, "chaperone_audit_healthy") == 0 or status(stack) != (200, ""))
        assert {status(stack) for _ in range(20)} == {(200, "")}
        assert ready(admin) == 200  # continue: serving matters more here; the metric says it
        disk.free()
        eventually(lambda: metric(admin, "chaperone_audit_healthy") == 1, timeout=5)
        with contextlib.suppress(FileNotFoundError):
            disk.audit_path.unlink()  # removed by someone else
        eventually(disk.audit_path.exists, timeout=5)
        assert status(stack) == (200, "")
        first = orjson.loads(disk.audit_path.read_bytes().splitlines()[0])
        assert first["event"] == "audit_file_reopened" and first["reason"] == "removed"
    assert "ended by a final checkpoint" in verify(disk.audit_path)

"""Watched files and the polling thread that policies, key files and secrets reload with."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ext_proc.watch import FileLoadError, Poller, WatchedFile


def parse_number(data: bytes, path: Path) -> int:
    try:
        return int(data)
    except ValueError:
        raise FileLoadError(f"{path}: not a number") from None


def test_a_watched_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "n"
    path.write_text("1")
    watched = WatchedFile("test.n", path, parse_number, max_bytes=16)
    assert watched.value == 1 and not watched.refresh()
    path.write_text("22")
    assert watched.refresh() and watched.value == 22
    assert not watched.refresh()


def test_a_broken_change_keeps_the_last_good_value_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "n"
    path.write_text("1")
    watched = WatchedFile("test.n", path, parse_number, max_bytes=16)
    path.write_text("one")
    assert not watched.refresh()
    assert watched.value == 1 and watched.error == f"{path}: not a number"
    path.unlink()
    watched.refresh()
    assert watched.value == 1 and watched.error is not None and "cannot read" in watched.error
    path.write_text("333")
    assert watched.refresh() and watched.value == 333 and watched.error is None


def test_limits_and_start_up_errors(tmp_path: Path) -> None:
    path = tmp_path / "n"
    path.write_text("1" * 17)
    with pytest.raises(FileLoadError, match="larger than 16 bytes"):
        WatchedFile("test.n", path, parse_number, max_bytes=16)
    with pytest.raises(FileLoadError, match="cannot read"):
        WatchedFile("test.n", tmp_path / "missing", parse_number, max_bytes=16)


def test_a_configmap_symlink_swap_is_a_change(tmp_path: Path) -> None:
    for generation, value in (("..1", "7"), ("..2", "8")):
        (tmp_path / generation).mkdir()
        (tmp_path / generation / "n").write_text(value)  # same size, same name: only the inode differs
    (tmp_path / "..data").symlink_to("..1")
    (tmp_path / "n").symlink_to("..data/n")
    watched = WatchedFile("test.n", tmp_path / "n", parse_number, max_bytes=16)
    (tmp_path / "..data_tmp").symlink_to("..2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert watched.refresh() and watched.value == 8


def test_the_poller_survives_a_failing_poll_and_stops() -> None:
    calls = 0
    enough = threading.Event()

    def poll() -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            enough.set()
        raise RuntimeError("surprise")

    poller = Poller("test-poller", 0.01, poll)
    poller.start()
    assert enough.wait(5)
    poller.stop()
    stopped_at = calls
    assert not any(t.name == "test-poller" for t in threading.enumerate())
    assert calls == stopped_at

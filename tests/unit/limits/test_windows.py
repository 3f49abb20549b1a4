"""Calendar windows: UTC days and months, their ids and ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ext_proc.limits.windows import calendar_window


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moment", "window", "expected_id", "start", "end"),
    [
        (at(2026, 11, 21, 10), "day", "d2026-11-21", at(2026, 11, 21), at(2026, 11, 22)),
        (at(2026, 11, 21, 23, 59, 59), "day", "d2026-11-21", at(2026, 11, 21), at(2026, 11, 22)),
        (at(2026, 11, 22), "day", "d2026-11-22", at(2026, 11, 22), at(2026, 11, 23)),
        (at(2026, 12, 31, 23, 59, 59), "day", "d2026-12-31", at(2026, 12, 31), at(2027, 1, 1)),
        (at(2026, 11, 21, 10), "month", "m2026-11", at(2026, 11, 1), at(2026, 12, 1)),
        (at(2026, 12, 31, 12), "month", "m2026-12", at(2026, 12, 1), at(2027, 1, 1)),
        (at(2028, 2, 29, 12), "month", "m2028-02", at(2028, 2, 1), at(2028, 3, 1)),
        (at(2028, 2, 29, 12), "day", "d2028-02-29", at(2028, 2, 29), at(2028, 3, 1)),
    ],
)
def test_windows(moment: float, window: str, expected_id: str, start: float, end: float) -> None:
    found = calendar_window(window, moment)  # type: ignore[arg-type]
    assert (found.id, found.start, found.end) == (expected_id, start, end)
    assert found.seconds_left(moment) == end - moment


def test_a_moment_a_microsecond_before_midnight_is_in_the_old_day() -> None:
    assert calendar_window("day", at(2026, 11, 22) - 1e-6).id == "d2026-11-21"

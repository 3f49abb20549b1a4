"""The audit time stamp reads as structlog's ISO UTC stamper wrote it, at every point of a second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ext_proc.audit.clock import UtcStamper

SECOND = 1_796_398_400


def structlog_stamp(nanos: int) -> str:
    """What structlog's ``TimeStamper(fmt="iso", utc=True)`` writes at that moment: ``isoformat``
    of an aware UTC datetime, "+00:00" written "Z"."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "nanos",
    [
        0,
        SECOND * 10**9,  # a whole second: no fraction
        SECOND * 10**9 + 999,  # under a microsecond: still a whole second
        SECOND * 10**9 + 1_000,
        SECOND * 10**9 + 753_078_000,
        SECOND * 10**9 + 999_999_999,
        951_782_400 * 10**9 + 500_000_000,  # 29 February 2000
    ],
)
def test_the_stamp_is_structlogs(nanos: int) -> None:
    assert UtcStamper(clock_ns=lambda: nanos).now() == structlog_stamp(nanos)


def test_each_new_second_is_formatted_again() -> None:
    now = [SECOND * 10**9 + 999_999_000]
    stamper = UtcStamper(clock_ns=lambda: now[0])
    first = stamper(None, "info", {})["time"]
    now[0] += 1_000
    assert (first, stamper.now()) == ("2026-12-04T15:33:20.999999Z", "2026-12-04T15:33:21Z")

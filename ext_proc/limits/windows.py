"""Calendar windows of budgets: the UTC day or month that a moment falls in.

A budget's counter is per window: its key ends with the window's id (``d2026-11-21`` for a day,
``m2026-11`` for a month), so a new window starts from zero without any reset job, and the key
expires at the window's end plus the reservation time-to-live (a reservation made just before
midnight can still be reconciled into the window it was charged to). All times are Unix seconds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ext_proc.limits.fields import Window

SECONDS_PER_DAY = 86400


@dataclass(frozen=True, slots=True)
class CalendarWindow:
    id: str
    start: float
    end: float

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.end - now)


def calendar_window(window: Window, now: float) -> CalendarWindow:
    # Unix time has exactly 86,400 seconds a day (POSIX: no leap seconds), so the day number
    # names the day, and the few windows in use are computed once each.
    return _window(window, math.floor(now / SECONDS_PER_DAY))


@functools.lru_cache(maxsize=64)
def _window(window: Window, day: int) -> CalendarWindow:
    moment = datetime.fromtimestamp(day * SECONDS_PER_DAY, UTC)
    if window == "day":
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        return CalendarWindow(f"d{start:%Y-%m-%d}", start.timestamp(), end.timestamp())
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return CalendarWindow(f"m{start:%Y-%m}", start.timestamp(), end.timestamp())

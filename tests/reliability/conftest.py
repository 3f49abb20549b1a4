"""Fault tests: the service, through real Envoy, while its process, disk, Redis or policy fail."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def eventually(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def metric(admin_url: str, name: str) -> float:
    """A sample's value from the admin port's /metrics (the first line that names it)."""
    for line in httpx.get(f"{admin_url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def ready(admin_url: str) -> int:
    return httpx.get(f"{admin_url}/readyz", timeout=5).status_code

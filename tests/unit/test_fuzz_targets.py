"""A short run of every fuzz target (``make fuzz`` runs a million inputs): each parser of
untrusted input refuses what it cannot read with a ChaperoneError, and never crashes."""

from __future__ import annotations

import pytest

from tests.fuzz.strategies import drive
from tests.fuzz.targets import TARGETS

EXAMPLES = {"exchange": 60}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_fuzz_run_finds_no_crash(name: str) -> None:
    drive(name, EXAMPLES.get(name, 300))

"""One fuzz target under atheris (started by tests/fuzz/run.py): ext_proc's code is instrumented
for coverage, the target's refusals are not crashes, and the service's log goes nowhere."""

from __future__ import annotations

import io
import sys

import atheris

with atheris.instrument_imports(include=["ext_proc"]):
    from tests.fuzz.targets import TARGETS

from ext_proc.logs import configure_logging


def main() -> None:
    name = sys.argv.pop(1)
    target = TARGETS[name]
    configure_logging("critical", "json", stream=io.BytesIO())
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

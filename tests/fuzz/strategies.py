"""The fuzz targets under hypothesis: random bytes, and the seeds mutated (bytes flipped, cut,
repeated, spliced), for the short run of ``make test`` and ``make fuzz`` without atheris."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.seeds import SEEDS
from tests.fuzz.targets import TARGETS

# Bytes that matter to the parsers: line ends, NUL, invalid UTF-8, JSON structure, an SSE field.
TOKENS = (b"\n", b"\r", b"\x00", b"\xff", b'"', b"{", b"[", b"data: ")


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(("flip", "cut", "insert", "repeat", "splice"))):
            case "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            case "cut":
                del data[at : at + draw(st.integers(1, 16))]
            case "insert":
                data[at:at] = draw(
                    st.sampled_from((b"\n", b"\r", b"\x00", b"\xff", b'"', b"{", b"[", b"data: "))
                )
            case "repeat":
                data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(2, 50))
            case "splice":
                data[at:] = draw(st.sampled_from(seeds))
    return bytes(data)


def inputs(name: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), mutated(SEEDS[name]))


def drive(name: str, examples: int) -> None:
    """Run the target on ``examples`` inputs; a crash is raised (shrunk) with its example."""
    target = TARGETS[name]
    for seed in SEEDS[name]:
        target(seed)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(name))
    def check(data: bytes) -> None:
        target(data)

    check()

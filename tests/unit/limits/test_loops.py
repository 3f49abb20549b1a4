"""Loop facts: repeats of one call (canonical arguments) in a sliding window, calls per session."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ext_proc.limits.loop_store import LoopWindow, MemoryLoopStore
from ext_proc.limits.loops import call_fingerprint, canonical
from ext_proc.limits.settings import LoopsConfig
from tests.unit.limits.conftest import START, State

LOOPS = LoopsConfig(window_seconds=60, session_ttl_seconds=600, max_tracked=50)


async def test_the_same_call_repeated_is_counted(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    facts = [await loops.observe("bot", "s1", "search", {"q": "refund", "page": 1}) for _ in range(3)]
    assert [f.repeats_in_window for f in facts] == [1, 2, 3]
    assert [f.session_calls for f in facts] == [1, 2, 3]
    assert facts[-1].as_input() == {
        "repeats_in_window": 3,
        "session_calls": 3,
        "window_seconds": 60.0,
        "state_unavailable": False,
    }


async def test_arguments_are_compared_canonically(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    await loops.observe("bot", "s1", "search", {"q": "refund", "filters": {"a": 1, "b": [1.0, 2]}})
    facts = await loops.observe("bot", "s1", "search", {"filters": {"b": [1, 2.0], "a": 1.0}, "q": "refund"})
    assert facts.repeats_in_window == 2
    other = await loops.observe("bot", "s1", "search", {"q": "refund ", "filters": {"a": 1, "b": [1, 2]}})
    assert other.repeats_in_window == 1


async def test_other_tools_agents_and_arguments_are_other_calls(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    await loops.observe("bot", "s1", "search", {"q": "x"})
    assert (await loops.observe("bot", "s1", "fetch", {"q": "x"})).repeats_in_window == 1
    assert (await loops.observe("other-bot", "s9", "search", {"q": "x"})).repeats_in_window == 1
    assert (await loops.observe("bot", "s1", "search", {"q": "y"})).repeats_in_window == 1
    assert (await loops.observe("bot", "s1", "search", None)).repeats_in_window == 1


async def test_repeats_are_counted_per_agent_across_sessions(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    for session in ("s1", "s2", "s3"):
        facts = await loops.observe("bot", session, "search", {"q": "x"})
    assert (facts.repeats_in_window, facts.session_calls) == (3, 1)


async def test_repeats_leave_the_window(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    for offset in (0, 25, 50):
        state.clock.now = START + offset
        await loops.observe("bot", "s1", "search", {"q": "x"})
    state.clock.now = START + 60  # the call at 0 has left (now - 60, now]
    assert (await loops.observe("bot", "s1", "search", {"q": "x"})).repeats_in_window == 3


async def test_a_runaway_loop_is_counted_up_to_max_tracked(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    for _ in range(80):
        facts = await loops.observe("bot", "s1", "search", {"q": "x"})
    assert facts.repeats_in_window == 50
    assert facts.session_calls == 80


async def test_an_idle_session_starts_again(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    await loops.observe("bot", "s1", "a", {})
    state.clock.advance(599)
    assert (await loops.observe("bot", "s1", "b", {})).session_calls == 2
    state.clock.advance(600)
    assert (await loops.observe("bot", "s1", "c", {})).session_calls == 1


async def test_without_a_session_only_repeats_are_counted(state: State) -> None:
    loops = state.limits(loops=LOOPS).loops
    facts = [await loops.observe("bot", None, "search", {"q": "x"}) for _ in range(2)]
    assert [(f.repeats_in_window, f.session_calls) for f in facts] == [(1, 0), (2, 0)]


async def test_replicas_on_one_state_count_together(state: State) -> None:
    first = state.limits(loops=LOOPS).loops
    second = state.limits(loops=LOOPS, new_backend=True).loops
    await first.observe("bot", "s1", "search", {"q": "x"})
    facts = await second.observe("bot", "s1", "search", {"q": "x"})
    assert (facts.repeats_in_window, facts.session_calls) == (2, 2)


def test_huge_numbers_and_odd_values_still_fingerprint() -> None:
    assert call_fingerprint("a", "t", {"n": 2**80}) == call_fingerprint("a", "t", {"n": 2**80})
    assert call_fingerprint("a", "t", {"n": 2**80}) != call_fingerprint("a", "t", {"n": 2**80 + 1})
    assert call_fingerprint("a", "t", {"x": float("nan")})  # no crash
    assert canonical({"a": [1.0, -0.0, 1e300]}) == {"a": [1, 0, 1e300]}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_key_order_never_changes_the_fingerprint(value: object) -> None:
    def reversed_keys(item: object) -> object:
        if isinstance(item, dict):
            return {key: reversed_keys(item[key]) for key in reversed(list(item))}
        if isinstance(item, list):
            return [reversed_keys(element) for element in item]
        return item

    assert call_fingerprint("a", "t", value) == call_fingerprint("a", "t", reversed_keys(value))


async def test_the_memory_store_forgets_the_least_recently_seen_past_its_cap() -> None:
    # An agent sending distinct calls, each with a new session id, never grows it past the cap.
    store = MemoryLoopStore(max_keys=50)
    window = LoopWindow(window_seconds=300, max_tracked=10, session_ttl_seconds=3600)
    assert await store.observe("kept", "kept-session", START, "m0", window) == (1, 1)
    for n in range(500):
        await store.observe(f"call-{n}", f"session-{n}", START + n / 1000, f"m{n}", window)
        if n % 40 == 0:  # the call and the session in use are seen again: they stay
            await store.observe("kept", "kept-session", START + n / 1000, f"k{n}", window)
    assert len(store._logs) <= 50 and len(store._sessions) <= 50
    assert await store.observe("kept", "kept-session", START + 1, "last", window) == (
        10,
        15,
    )  # max_tracked: 10
    assert await store.observe("call-0", "session-0", START + 1, "again", window) == (1, 1)

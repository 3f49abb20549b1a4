"""What reaches the audit trail: no secret, credential or personal value, whatever field of an
event carries it (policy reasons, the action summary, the path, operator comments)."""

from __future__ import annotations

import io

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.audit.scrub import MAX_SCANNED_CHARS, OMITTED
from ext_proc.audit.sinks import StreamSink
from ext_proc.logs import REDACTED
from tests.unit.audit.helpers import events, memory_log, outcome, strings
from tests.unit.scanning.samples import IN_CONTEXT, POSITIVES

SECRETS = [(kind, value) for kind, values in POSITIVES.items() for value in values]
IN_TEXT = [(text, value) for text, _kind, value in IN_CONTEXT]


def write_with(value: str) -> list[dict[str, object]]:
    audit, buffer = memory_log()
    audit.decision(
        decision_id="d-1",
        phase="request_body",
        request=RequestSummary.of("POST", f"/tools/{value}?q={value}", "api.example.com"),
        outcome=outcome(False, reasons=(f"tool argument {value} is not allowed",)),
        status=403,
        agent=f"agent {value}",
        upstream="mcp",
        action={"protocol": "mcp", "method": "tools/call", "tool": f"send {value}", "uri": value},
        approval={"id": "a-1", "status": "denied", "comment": f"no: {value}"},
    )
    audit.event("operator_action", operator="alice", comment=value, tags=[value, {"note": value}])
    return events(buffer.getvalue())


def assert_absent(value: str, written: list[dict[str, object]]) -> None:
    for event in written:
        for text in strings(event):
            assert value not in text, f"{value!r} reached the audit trail in {event['event']}"


def test_no_known_secret_or_personal_value_reaches_any_field() -> None:
    for kind, value in SECRETS:
        written = write_with(value)
        assert_absent(value, written)
        decision = next(e for e in written if e["event"] == "decision")
        assert kind in decision["log_redactions"], kind  # type: ignore[operator]
        assert f"[REDACTED:{kind}]" in decision["reasons"][0]  # type: ignore[index]


def test_values_found_only_in_context_are_redacted_too() -> None:
    for text, value in IN_TEXT:
        written = write_with(text)
        assert_absent(value, written)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.sampled_from([value for _, value in SECRETS]),
    before=st.text(alphabet=st.characters(categories=("L", "Zs", "P")), max_size=40),
    after=st.text(alphabet=st.characters(categories=("L", "Zs", "P")), max_size=40),
)
def test_a_secret_anywhere_in_a_reason_is_redacted(secret: str, before: str, after: str) -> None:
    # "with" keeps a random word from reading as an id label right before the value ("po", "id",
    # "ts"): the PHONE detector deliberately reads a bare ten-digit number after one as an id.
    written = write_with(f"{before} with {secret} {after}")
    assert_absent(secret, written)


def test_keys_that_name_credentials_are_dropped_whole() -> None:
    audit, buffer = memory_log()
    audit.event("x", authorization="Bearer t0k", nested={"password": "pw", "body": "raw"}, token="abc")
    [_, event] = events(buffer.getvalue())
    assert event["authorization"] == REDACTED and event["token"] == REDACTED
    assert event["nested"] == {"password": REDACTED, "body": REDACTED}


def test_an_overlong_string_is_omitted_not_cut() -> None:
    # Cutting first could leave a secret's prefix that the scanner no longer recognizes.
    key = POSITIVES["OPENAI_API_KEY"][0]
    long_reason = "x" * (MAX_SCANNED_CHARS - 10) + " " + key
    audit, buffer = memory_log()
    audit.decision(
        decision_id="d",
        phase="check",
        request=RequestSummary.of("GET", "/", "h"),
        outcome=outcome(False, reasons=(long_reason, "short reason")),
        status=403,
    )
    decision = events(buffer.getvalue())[1]
    assert decision["reasons"] == [OMITTED, "short reason"]


def test_stdout_and_file_sinks_get_the_same_redacted_line() -> None:
    first, second = io.BytesIO(), io.BytesIO()
    audit = AuditLog([StreamSink(first), StreamSink(second)])
    audit.event("operator_action", comment=POSITIVES["EMAIL"][0])
    assert first.getvalue() == second.getvalue()
    assert b"[REDACTED:EMAIL]" in first.getvalue()
    assert orjson.loads(first.getvalue().splitlines()[1])["log_redactions"] == {"EMAIL": 1}


def test_a_repeated_value_is_redacted_the_same_every_time_from_the_cache() -> None:
    audit, buffer = memory_log()
    for _ in range(3):  # the second and third events are served by the cache
        audit.event("decision", host="10.1.2.3:8080", reason="mail ada@example.com", path="/plain")
    written = events(buffer.getvalue())
    assert [e["host"] for e in written[-3:]] == ["[REDACTED:IP_ADDRESS]:8080"] * 3
    assert [e["log_redactions"] for e in written[-3:]] == [{"IP_ADDRESS": 1, "EMAIL": 1}] * 3
    assert_absent("ada@example.com", written)

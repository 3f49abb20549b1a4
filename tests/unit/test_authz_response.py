"""Allow responses are copied from a prebuilt one per decision: nothing of one request leaks into
the next, and what belongs to the request (decision id, credentials, hand-off) is always set."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict

from ext_proc.authz.response import allowed_response
from ext_proc.enforcement.credentials import UpstreamCredentials
from ext_proc.enforcement.handoff import Handoff
from ext_proc.policy.decision import ALLOW, parse_decision

CONTEXT = {"upstream": "openai"}


def chaperone(response: object) -> dict:  # type: ignore[type-arg]
    return MessageToDict(response)["dynamicMetadata"]["chaperone"]  # type: ignore[arg-type, no-any-return]


def test_each_response_has_its_own_decision_id_and_nothing_of_the_others() -> None:
    decision = parse_decision({"allowed": True, "headers": {"x-policy": "p"}, "dynamic_metadata": {"k": "v"}})
    credentials = UpstreamCredentials(set=(("authorization", "Bearer brokered"),), remove=("x-api-key",))
    handoff = Handoff(agent={"id": "bot", "authenticated": True})
    first = allowed_response(decision, "id-1", CONTEXT, credentials, handoff)
    second = allowed_response(decision, "id-2", CONTEXT)
    ids = [MessageToDict(r)["dynamicMetadata"]["decision_id"] for r in (first, second)]
    assert ids == ["id-1", "id-2"]
    assert chaperone(first)["agent"] == {"id": "bot", "authenticated": True}
    assert "agent" not in chaperone(second)
    ok_first, ok_second = MessageToDict(first)["okResponse"], MessageToDict(second)["okResponse"]
    assert [h["header"]["key"] for h in ok_first["headers"]] == ["x-policy", "authorization"]
    assert ok_first["headersToRemove"] == ["x-api-key"]
    assert [h["header"]["key"] for h in ok_second["headers"]] == ["x-policy"]
    assert "headersToRemove" not in ok_second
    for response in (first, second):
        assert MessageToDict(response)["dynamicMetadata"]["k"] == "v"
        assert chaperone(response)["context_extensions"] == CONTEXT


def test_the_context_extensions_are_the_requests_own() -> None:
    one = allowed_response(ALLOW, "a", {"upstream": "one"})
    other = allowed_response(ALLOW, "b", {"upstream": "other"})
    none = allowed_response(ALLOW, "c")
    assert chaperone(one)["context_extensions"] == {"upstream": "one"}
    assert chaperone(other)["context_extensions"] == {"upstream": "other"}
    assert "context_extensions" not in chaperone(none)

"""What the ext_authz check tells the ext_proc phases of the same request, besides the decision.

It travels in the check's dynamic metadata (``chaperone`` key, beside the decision id and the
inspection plan; see authz/response.py and processing/protocol.py), because ext_proc cannot
learn it again: the agent's credential has been removed from the request by then.

- ``agent``: the ``input.agent`` document, when the request carried a credential;
- ``require_approval``: the check decision's field, held for in ext_proc where a call can wait;
- ``budgets``: the check decision's field, charged where the tokens are known (the body phases);
- ``hidden_headers``: the headers that now carry a brokered credential: the later phases' input
  leaves them out, so no policy (and no log of its input) ever sees an upstream secret;
- ``attributes``: what the check's input had that ext_proc cannot read again (the request's
  time and size, the metadata contexts, the peers' principals), so that every later phase's
  input is a superset of the check's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ext_proc.errors import ChaperoneError, ErrorCode

AGENT = "agent"
REQUIRE_APPROVAL = "require_approval"
BUDGETS = "budgets"
HIDDEN_HEADERS = "hidden_headers"
ATTRIBUTES = "attributes"


@dataclass(frozen=True, slots=True)
class Handoff:
    agent: Mapping[str, Any] | None = None
    require_approval: Mapping[str, Any] | None = None
    budgets: list[Any] | None = None
    hidden_headers: tuple[str, ...] = ()
    attributes: Mapping[str, Any] | None = None

    def as_fields(self) -> dict[str, Any]:
        """The metadata fields (only those that are set)."""
        fields: dict[str, Any] = {}
        if self.agent is not None:
            fields[AGENT] = dict(self.agent)
        if self.require_approval is not None:
            fields[REQUIRE_APPROVAL] = dict(self.require_approval)
        if self.budgets:
            fields[BUDGETS] = list(self.budgets)
        if self.hidden_headers:
            fields[HIDDEN_HEADERS] = list(self.hidden_headers)
        if self.attributes:
            fields[ATTRIBUTES] = dict(self.attributes)
        return fields


NO_HANDOFF = Handoff()


def read_handoff(summary: Mapping[str, Any]) -> Handoff:
    """The hand-off fields of the check metadata; PROTOCOL_ERROR when one has the wrong type
    (the metadata is ours, so a wrong type means something else wrote it: fail closed)."""
    agent = summary.get(AGENT)
    approval = summary.get(REQUIRE_APPROVAL)
    budgets = summary.get(BUDGETS)
    hidden = summary.get(HIDDEN_HEADERS, [])
    attributes = summary.get(ATTRIBUTES)
    if agent is None and approval is None and budgets is None and not hidden and attributes is None:
        return NO_HANDOFF
    if agent is not None and not isinstance(agent, dict):
        raise _malformed(AGENT)
    if approval is not None and not isinstance(approval, dict):
        raise _malformed(REQUIRE_APPROVAL)
    if budgets is not None and not isinstance(budgets, list):
        raise _malformed(BUDGETS)
    if not isinstance(hidden, list) or not all(isinstance(name, str) for name in hidden):
        raise _malformed(HIDDEN_HEADERS)
    if attributes is not None and not (
        isinstance(attributes, dict) and isinstance(attributes.get("request", {}), dict)
    ):
        raise _malformed(ATTRIBUTES)
    return Handoff(agent, approval, budgets, tuple(hidden), attributes)


def _malformed(key: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.PROTOCOL_ERROR, f"the ext_authz hand-off field {key!r} is malformed")

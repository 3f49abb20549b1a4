"""The policy-engine interface shared by the embedded and the remote engine.

Evaluation is a coroutine: the embedded engine answers at once on the event loop's thread, the
remote one awaits an HTTP round trip without holding up other streams.

``evaluate`` returns the raw value of the decision document (``None`` when it is undefined) or
raises ChaperoneError with a stable code. It never returns a partially checked decision: shape
checks and error-to-deny mapping live in evaluator.py, so both engines obey one contract.
"""

from __future__ import annotations

from typing import Any, Protocol

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.input_projection import InputProjection


class PolicyEngine(Protocol):
    @property
    def revision(self) -> str:
        """An identifier of the policy set that answers now (for the audit trail)."""
        ...

    async def evaluate(self, document: dict[str, Any]) -> Any:
        """Evaluate the decision for one input document."""
        ...

    def input_projection(self) -> InputProjection:
        """What the current policy can read of an input (input_projection.py): callers need not
        build the rest. An engine that cannot tell reads it all (``WHOLE_INPUT``)."""
        ...

    async def close(self) -> None: ...


def decision_rule(decision_path: str) -> str:
    """``envoy/authz/allow`` -> ``data.envoy.authz.allow``, checking each segment is a Rego name."""
    segments = [s for s in decision_path.strip("/").split("/") if s]
    if not segments or not all(s.isidentifier() for s in segments):
        raise ChaperoneError(
            ErrorCode.POLICY_NOT_LOADED, f"decision path {decision_path!r} is not a slash-separated rule path"
        )
    return "data." + ".".join(segments)

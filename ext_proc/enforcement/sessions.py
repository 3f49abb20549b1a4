"""``input.session`` for one request: the action recorded, what came before it returned.

Each request is recorded once, where its action is known: recognized traffic (LLM calls, MCP,
A2A) in ext_proc's request body phase, one record per message of a batch; any other request at
the ext_authz check, as an ``http`` action. When the shared state does not answer, the request
is refused (``state_unavailable``) unless ``state.fail_open``, in which case the policy sees no
``input.session`` for it. A session belongs to an agent (a verified identity) or to an MCP
session: anonymous requests outside an MCP session have none. With ``sessions.record: auto`` (the
default), sessions are recorded while the loaded policy reads ``input.session``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.request import is_candidate
from ext_proc.policy.bundle import PolicyBundle
from ext_proc.protocols import mcp
from ext_proc.sessions import SessionFacts, SessionTracker
from ext_proc.sessions.model import Fact

log = structlog.get_logger("chaperone.sessions")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_COMMENT = re.compile(r"#[^\n]*")
_NAMES_SESSION = re.compile(r"\binput\s*\.\s*session\b|[\"`]session[\"`]")
_WHOLE_INPUT = re.compile(r"\binput\b(?!\s*[.\[])")


def reads_sessions(bundle: PolicyBundle) -> bool:
    """Could a decision of this bundle read ``input.session``? Conservative: ``input.session``,
    a ``"session"`` key anywhere (``input["session"]``, ``object.get(input, "session", ...)``) or
    the whole input handed on (``walk(input)``, ``f(input)``) all count. Rego unit tests
    (``*_test.rego``) and comments do not decide anything and are not looked at."""
    for path, source in bundle.modules:
        if path.endswith("_test.rego"):
            continue
        code = _COMMENT.sub("", source)
        if _NAMES_SESSION.search(code) or _WHOLE_INPUT.search(code):
            return True
    return False


def decided_on_body(headers: Mapping[str, str], body_protocols: bool) -> bool:
    """Will ext_proc read this request's body as recognized traffic? (then it records it)."""
    return body_protocols and headers.get(":method", "") in BODY_METHODS and is_candidate(headers)


async def observe(
    tracker: SessionTracker,
    *,
    active: bool = True,
    fail_open: bool,
    agent: str | None,
    headers: Mapping[str, str],
    action: Any,
    upstream: str | None,
) -> SessionFacts | None:
    """Record the action (an ``input.action`` object, a batch of them, or None) and return the
    session as it was before it: for a batch, before its first message."""
    session = headers.get(mcp.SESSION_HEADER)
    if not active or (agent is None and session is None):
        return None  # anonymous traffic of no MCP session: nobody's history to keep
    actions = action if isinstance(action, list) and action else [action]
    try:
        first = await tracker.observe(agent, session, _action(actions[0]), upstream)
        for later in actions[1:]:
            await tracker.observe(agent, session, _action(later), upstream)
    except ChaperoneError as exc:
        if exc.code is not ErrorCode.STATE_UNAVAILABLE or not fail_open:
            raise
        log.warning("session_state_unavailable", fail_open=True)
        return None
    return first


async def mark(tracker: SessionTracker, facts: SessionFacts | None, fact: Fact) -> None:
    """Note a fact on the session (an answer carried sensitive data, or injection signals); a
    failure is logged and left: the answer has already been judged on its own."""
    if facts is None:
        return
    try:
        await tracker.mark(facts.key, fact)
    except ChaperoneError as exc:
        log.warning("session_mark_failed", fact=fact.value, code=exc.code.value)


def _action(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None

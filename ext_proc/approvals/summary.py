"""What an operator is shown of an action that waits for approval.

The summary is the action document the policy saw (``input.action``: protocol, method, tool or
model, arguments), with every string redacted by the sensitive-data scanner whatever the
request's own table says (an operator deciding on a refund needs the amount, not the card
number), long strings cut and deep or wide structures bounded, so that a hostile argument
cannot fill the store or the console. The fingerprint that recognizes "the same action" is
computed over the unredacted action instead (``model.fingerprint``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ext_proc.scanning import redact_text

MAX_STRING = 1000
MAX_ITEMS = 50
MAX_DEPTH = 6
CUT = "…"


def action_summary(action: Any, request: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The operator's view of ``action`` (an ``input.action`` object, a batch of them, or None for
    a request of no recognized protocol, which ``request`` then describes: method, path, host)."""
    if isinstance(action, dict):
        return _bounded(action, 0)  # type: ignore[no-any-return]
    if isinstance(action, list):
        return {"batch": _bounded(action, 0)}
    return {"protocol": "http", **_bounded(dict(request or {}), 0)}


def _bounded(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        text = redact_text(value).text
        return text if len(text) <= MAX_STRING else text[:MAX_STRING] + CUT
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return CUT
        items = list(value.items())[:MAX_ITEMS]
        return {str(key)[:MAX_STRING]: _bounded(item, depth + 1) for key, item in items}
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return CUT
        return [_bounded(item, depth + 1) for item in value[:MAX_ITEMS]]
    return value

"""What to do with each finding type: the policy's redaction table, checked once.

A policy decision carries an object such as::

    {"default": "redact", "EMAIL": "allow", "secret": "block", "PRIVATE_KEY": "end_stream"}

Keys are finding type names (``FINDING_TYPES``), the categories ``pii`` and ``secret``, and
``default``. The most specific key wins: type, then category, then ``default`` (itself "redact"
when absent: an unlisted finding is never let through by omission). Values are actions:

- ``allow``: leave the text as it is (the finding is still reported);
- ``redact``: replace the value with ``[REDACTED:<TYPE>]``;
- ``block``: refuse the request (block mode) or stop the stream;
- ``end_stream``: stop the stream at the finding, after the text before it.

An action that is not one of these is an error (``redaction_policy_invalid``), never a silent
allow. A type name Chaperone does not know is accepted (a newer policy may name a type an older
Chaperone lacks) and listed in ``unknown_types`` so that it can be reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.scanning.detectors import FINDING_TYPES

Action = Literal["allow", "redact", "block", "end_stream"]
ACTIONS: tuple[Action, ...] = ("allow", "redact", "block", "end_stream")
STOPPING_ACTIONS: frozenset[Action] = frozenset({"block", "end_stream"})
CATEGORIES = ("pii", "secret")
DEFAULT_KEY = "default"


@dataclass(frozen=True, slots=True)
class ActionTable:
    default: Action = "redact"
    by_key: Mapping[str, Action] = field(default_factory=dict)
    unknown_types: tuple[str, ...] = ()

    @classmethod
    def from_decision(cls, value: object) -> ActionTable:
        """Build from the policy's object; raises ``ChaperoneError`` on a bad shape or action."""
        if not isinstance(value, Mapping):
            raise _invalid(f"expected an object of finding type to action, got {_type_name(value)}")
        by_key: dict[str, Action] = {}
        for key, action in value.items():
            if not isinstance(key, str):
                raise _invalid(f"keys must be strings, got {_type_name(key)}")
            by_key[key] = _action(key, action)
        default = by_key.pop(DEFAULT_KEY, "redact")
        unknown = tuple(sorted(k for k in by_key if k not in FINDING_TYPES and k not in CATEGORIES))
        return cls(default, by_key, unknown)

    def action_for(self, finding_type: str, category: str) -> Action:
        return self.by_key.get(finding_type) or self.by_key.get(category) or self.default


REDACT_ALL = ActionTable()


def placeholder(finding_type: str) -> str:
    return f"[REDACTED:{finding_type}]"


def _action(key: str, value: object) -> Action:
    for action in ACTIONS:
        if value == action:
            return action
    shown = repr(value) if isinstance(value, str) and len(value) <= 32 else _type_name(value)
    raise _invalid(f"action for {key!r} must be one of {', '.join(ACTIONS)}; got {shown}")


def _invalid(message: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.REDACTION_POLICY_INVALID, f"redaction table: {message}")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__

"""The JSON name of a parsed value's type, for error messages that must not quote the value."""

from __future__ import annotations

_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type(value: object) -> str:
    if value is None:
        return "null"
    for kind, name in _NAMES.items():  # bool first: it is also an int
        if isinstance(value, kind):
            return name
    return type(value).__name__

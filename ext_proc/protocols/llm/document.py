"""Reading and writing a JSON document at a path (a tuple of object keys and array indexes).

The parsers locate every text they report (``TextField.path``); these functions put a new text
back there, either in place (``set_at``) or into a copy that shares every untouched subtree with
the original (``replace_texts``), so a parsed document can be kept as it was received.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ext_proc.protocols.llm.model import JsonPath, TextField


def get_at(document: Any, path: JsonPath) -> Any:
    node = document
    for key in path:
        node = node[key]
    return node


def set_at(document: Any, path: JsonPath, value: Any) -> None:
    """Replace the value at ``path`` in place (the path must exist, and not be empty)."""
    if not path:
        raise ValueError("cannot replace the root of a document in place")
    get_at(document, path[:-1])[path[-1]] = value


def replace_texts(document: Any, replacements: Iterable[tuple[TextField, str]]) -> Any:
    """A copy of ``document`` with each field's text replaced; the original is not changed.

    Only the objects and arrays on the paths to the replaced texts are copied. A field with
    ``json_value`` takes the parsed replacement (ValueError when it is not valid JSON).
    """
    return replace_at(document, [(field.path, _value(field, text)) for field, text in replacements])


def replace_at(document: Any, replacements: Iterable[tuple[JsonPath, Any]]) -> Any:
    """A copy of ``document`` with the value at each path replaced (copying only what changes)."""
    root = _shallow_copy(document)
    copied = {id(root)}
    for path, value in replacements:
        if not path:
            raise ValueError("a replacement needs a path")
        node = root
        for key in path[:-1]:
            child = node[key]
            if id(child) not in copied:
                child = _shallow_copy(child)
                node[key] = child
                copied.add(id(child))
            node = child
        node[path[-1]] = value
    return root


def _value(field: TextField, text: str) -> Any:
    if not field.json_value:
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError(f"the replacement for {format_path(field.path)} is not valid JSON") from None


def _shallow_copy(node: Any) -> Any:
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    raise TypeError(f"cannot descend into a {type(node).__name__}")


def format_path(path: JsonPath) -> str:
    """``("messages", 2, "content")`` -> ``messages[2].content`` (for error messages)."""
    out: list[str] = []
    for key in path:
        if isinstance(key, int):
            out.append(f"[{key}]")
        else:
            out.append(f".{key}" if out else key)
    return "".join(out) or "(root)"

"""Texts inside a JSON document, with the location of each, and rewriting at a location.

The MCP and A2A layers hand scanners the texts a peer sends back (tool results, task artifacts)
as ``TextAt`` values. A location is the path of keys and indexes from the top of the JSON-RPC
message (``("result", "content", 0, "text")``); ``pointer`` renders it as an RFC 6901 JSON
Pointer for logs and policy input. Rewriting copies only the containers along the path, so the
original message stays intact and the cost does not grow with the size of the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from ext_proc.errors import ChaperoneError, ErrorCode

Path = tuple[str | int, ...]

# Deeper JSON than this is not walked for texts (orjson itself refuses documents nested deeper
# than 1024); the walk is iterative, so the limit bounds work, not the Python stack.
MAX_DEPTH = 1024


@dataclass(frozen=True, slots=True)
class TextAt:
    """A text and where it is. ``kind`` names what it is, e.g. "text", "structured", "part"."""

    path: Path
    text: str
    kind: str

    @property
    def pointer(self) -> str:
        return pointer(self.path)


def pointer(path: Path) -> str:
    """``("result", "content", 0, "text")`` -> ``/result/content/0/text`` (RFC 6901)."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


def get_at(document: Any, path: Path) -> Any:
    """The value at ``path``; a path that does not exist is a protocol_error."""
    value = document
    for depth, step in enumerate(path):
        value = _child(value, step, path, depth)
    return value


def replace_at(document: Any, path: Path, value: Any) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced (copy on write along the path)."""
    containers = [document]
    for depth, step in enumerate(path[:-1]):
        containers.append(_child(containers[-1], step, path, depth))
    if path:
        _child(containers[-1], path[-1], path, len(path) - 1)
    # Rebuild bottom-up without recursion: paths can be as deep as the JSON allows.
    for container, step in zip(reversed(containers), reversed(path), strict=False):
        copied = list(container) if isinstance(container, list) else dict(container)
        copied[step] = value  # type: ignore[index]  # _child checked the step fits the container
        value = copied
    return value


def rewrite_text(document: Any, path: Path, text: str) -> Any:
    """Replace the string at ``path``; anything but a string there is a protocol_error."""
    if not isinstance(get_at(document, path), str):
        _missing(path, len(path), "is not a string")
    return replace_at(document, path, text)


def string_leaves(value: Any, path: Path, kind: str) -> Iterator[TextAt]:
    """Every string inside ``value`` (object values and array items, not keys), in document order."""
    stack: list[tuple[Any, Path]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, str):
            yield TextAt(where, current, kind)
        elif len(where) - len(path) >= MAX_DEPTH:
            continue
        elif isinstance(current, dict):
            stack.extend((item, (*where, key)) for key, item in reversed(current.items()))
        elif isinstance(current, list):
            stack.extend((item, (*where, i)) for i, item in reversed(list(enumerate(current))))


def _child(value: Any, step: str | int, path: Path, depth: int) -> Any:
    if isinstance(value, dict) and isinstance(step, str) and step in value:
        return value[step]
    if isinstance(value, list) and type(step) is int and 0 <= step < len(value):
        return value[step]
    _missing(path, depth + 1, "does not exist")


def _missing(path: Path, depth: int, what: str) -> NoReturn:
    raise ChaperoneError(ErrorCode.PROTOCOL_ERROR, f"the JSON location {pointer(path[:depth])} {what}")

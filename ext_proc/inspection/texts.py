"""Every text of a JSON request body, for the scanners: protocol knowledge adds meaning, never blind spots.

A protocol parser knows some fields (a chat message's text, a tool result, a tool's description)
and says who wrote each (``source``: the user, a tool's output, anyone else). But an API grows
fields faster than a parser learns them, and an attacker puts a secret or an instruction where
nobody looks (``prediction``, ``metadata``, a tool parameter's ``default``, an ``image_url``
whose URL the provider fetches). So the texts of a body are **every string in it**: the fields
the protocol knows, with their meaning, and every other string value, with the source of the
message it sits in (``source_of``). Object keys are texts too (a secret can be a key); they are
joined into one text per body, one per line, so that they cost one scan.

Adjacent parts of one message (the items of a ``content`` or ``parts`` array: chat content
parts, Anthropic content blocks, A2A message parts) form a *group*: scanners also read them
joined, so a key split across two parts is still found (``guard.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ext_proc.inspection.request_model import OTHER, USER, Path, ScanText

# Arrays whose items are the parts of one message.
PART_ARRAYS = frozenset({"content", "parts"})
FIELD = "field"  # the kind of a string no protocol parser named
KEYS = "keys"  # the kind of a body's object keys
KEYS_GROUP = "\x00keys"  # the group of a body's keys (not a JSON key: a step no path has)

SourceOf = Callable[[Path], str]
_SPACE = re.compile(r"\s")


def every_text(
    document: Any,
    known: Sequence[ScanText] = (),
    source_of: SourceOf | None = None,
    *,
    at: Path = (),
) -> tuple[ScanText, ...]:
    """The known texts, then every other string value under ``at`` (with its message's source),
    then the object keys as one text; each string once."""
    by_path = {text.path: text for text in known}
    inside_json = tuple(text.path for text in known if text.json_value)
    texts: list[ScanText] = [text for text in known]
    keys: list[tuple[Path, str]] = []
    for path, value, is_key in _strings(_at(document, at), at):
        if is_key:
            keys.append((path, value))
        elif path not in by_path and not _under(path, inside_json):
            # A string no protocol names is content its sender wrote (scored like a user's),
            # unless it is one token (an id, a name, an enum value, a URL): an instruction is
            # words, and a token is read for sensitive data only.
            source = source_of(path) if source_of is not None else USER
            if source != OTHER and not _has_space(value):
                source = OTHER
            texts.append(ScanText(path, value, source, FIELD, group=part_group(path)))
    # A JSON-valued text (Anthropic tool_use.input) already holds the keys under it.
    group = (*at, KEYS_GROUP)
    texts += [
        ScanText(path, key, OTHER, KEYS, is_key=True, group=group)
        for path, key in keys
        if not _under(path, inside_json)
    ]
    return tuple(texts)


def _has_space(text: str) -> bool:
    return _SPACE.search(text) is not None


def part_group(path: Path) -> Path | None:
    """The array of message parts a string sits in (the innermost), or None."""
    for index in range(len(path) - 1, 0, -1):
        if isinstance(path[index], int) and path[index - 1] in PART_ARRAYS:
            return path[:index]
    return None


def all_strings(document: Any) -> Iterator[str]:
    """Every string value and object key of a document: what a budget counts as text sent."""
    for _, value, _ in _strings(document, ()):
        yield value


def _strings(document: Any, at: Path) -> Iterator[tuple[Path, str, bool]]:
    """(path, string, is_key) in document order; a key's path is the path of its value."""
    stack: list[tuple[Any, Path]] = [(document, at)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            yield path, value, False
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                yield (*path, key), key, True
                children.append((item, (*path, key)))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in reversed(list(enumerate(value))))


def _at(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def _under(path: Path, prefixes: Sequence[Path]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in prefixes)

"""Every string of a JSON document, object keys included, and rewriting them in a copy.

Scanners must read every string an upstream sends, not only the fields a protocol parser knows:
an unknown field is content, and an object key is a string a model or a client reads too (the
property names of a tool's schema, say). ``leaves`` walks a parsed document and yields each
string with its location; a key's location is its object's path followed by ``Key(name)``.
``rewrite`` puts new strings back in a copy: values replaced, keys renamed in place (order
kept), copying only the containers on the changed paths.

The walk is iterative (JSON can nest as deep as its parser allows) and yields in document order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Step = Any  # str (object member), int (array index) or Key (the key itself)
Path = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Key:
    """The last step of a key's location: the key ``name`` of the object at the path before it."""

    name: str


def leaves(document: Any, path: Path = (), *, skip: Collection[Path] = ()) -> Iterator[tuple[Path, str]]:
    """(location, string) for every string value and object key, in document order.

    Values at a path in ``skip`` are not yielded (a protocol layer reads them itself); their
    keys still are, and so are the strings inside a skipped container.
    """
    stack: list[tuple[Any, Path]] = [(document, path)]
    pop, push = stack.pop, stack.append
    while stack:
        value, where = pop()
        if isinstance(value, str):
            if where not in skip:
                yield where, value
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                yield (*where, Key(key)), key
                children.append((item, (*where, key)))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                push((value[i], (*where, i)))


def is_key(path: Path) -> bool:
    return bool(path) and isinstance(path[-1], Key)


def rewrite(document: Any, changes: Sequence[tuple[Path, str]]) -> Any:
    """A copy of ``document`` with each location's string replaced (keys renamed).

    Values are replaced first, then keys, deepest first, so that every location still names the
    document as it was read. A renamed key that collides with another key of its object gets a
    numbered suffix: no member is lost.
    """
    if not changes:
        return document
    root = _copy(document)
    copied = {id(root)}
    values = [(path, text) for path, text in changes if not is_key(path)]
    keys = sorted((change for change in changes if is_key(change[0])), key=lambda c: -len(c[0]))
    for path, text in values:
        if not path:
            return text
        parent = _writable(root, path[:-1], copied)
        parent[path[-1]] = text
    for path, text in keys:
        parent = _writable(root, path[:-1], copied)
        _rename(parent, path[-1].name, text)
    return root


def _writable(root: Any, path: Path, copied: set[int]) -> Any:
    """The container at ``path`` in ``root``, copied (once) along with every container above it."""
    node = root
    for step in path:
        child = node[step]
        if id(child) not in copied:
            child = _copy(child)
            copied.add(id(child))
            node[step] = child
        node = child
    return node


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    raise TypeError(f"cannot descend into a {type(value).__name__}")


def _rename(obj: dict[str, Any], old: str, new: str) -> None:
    if old not in obj or old == new:
        return
    name, n = new, 2
    while name in obj:
        name, n = f"{new} ({n})", n + 1
    items = [(name if key == old else key, value) for key, value in obj.items()]
    obj.clear()
    obj.update(items)

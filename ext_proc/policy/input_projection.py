"""The parts of ``input`` a bundle can read, so that the engine is handed only those.

Handing the input over costs the engine in proportion to its size (regorus builds a value per
key: ~14 µs for an input of 50 strings, ~0.4 µs for an empty one), and a decision reads a few
fields of it: ``default allow := true`` reads none, the default policy reads the phase, the
agent, the action and a few request fields, not the headers or the peers' addresses. Every
module of the bundle is read once, at load, for the references to ``input`` in it:

- ``input.a.b[x]`` (any chain of field names and string keys, then anything) can read the whole
  value at ``a.b`` and nothing else of the input;
- ``input`` anywhere else (alone, as an argument, ``input[x]`` with a variable key) can read all
  of it, and the input is then handed over whole;
- the target of ``with input... as v`` is not read: it is replaced for the query it modifies.

Nothing in Rego reads the input without naming ``input``, so a decision over the projected input
is the decision over the whole one (tests/unit/test_input_projection.py checks this against the
engine with the shipped policies and random inputs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# A projection tree: key -> the subtree of it that is read, or None when the whole value is.
Tree = dict[str, "Tree | None"]

_REFS = ("RefDot", "RefBrack")


class NotRead:
    """Nothing at this key is read (``InputProjection.subtree``)."""


NOT_READ = NotRead()
_STRING_LITERALS = ("String", "RawString")


class InputProjection:
    """What of the input a bundle reads; ``apply`` keeps only that."""

    def __init__(self, paths: Iterable[tuple[str, ...]]) -> None:
        tree: Tree | None = {}
        for path in paths:
            tree = _insert(tree, path)
        self._tree = tree

    @property
    def whole(self) -> bool:
        return self._tree is None

    def reads(self, *path: str) -> bool:
        """Whether anything at or under ``input.<path>`` can be read."""
        tree = self._tree
        for key in path:
            if tree is None:
                return True
            if key not in tree:
                return False
            tree = tree[key]
        return True

    def subtree(self, key: str) -> Tree | NotRead | None:
        """What is read under ``input.<key>``: a tree, None for all of it, or NOT_READ."""
        if self._tree is None:
            return None
        return self._tree.get(key, NOT_READ)

    def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        if self._tree is None:
            return document
        projected: dict[str, Any] = _project(document, self._tree)
        return projected

    @classmethod
    def of_modules(cls, modules: Any) -> InputProjection:
        """From regorus's AST of every module (``Engine.get_ast_as_json``, parsed)."""
        paths: list[tuple[str, ...]] = []
        _walk(modules, paths)
        return cls(paths)


def _insert(tree: Tree | None, path: tuple[str, ...]) -> Tree | None:
    if tree is None or not path:
        return None
    key, rest = path[0], path[1:]
    if key in tree:
        tree[key] = _insert(tree[key], rest)
    else:
        tree[key] = _insert({}, rest) if rest else None
    return tree


def _project(value: Any, tree: Tree) -> Any:
    if type(value) is not dict:
        return value  # a string or a list where an object was read: kept whole, read as OPA would
    kept: dict[str, Any] = {}
    for key, subtree in tree.items():
        if key in value:
            item = value[key]
            kept[key] = item if subtree is None else _project(item, subtree)
    return kept


def _walk(node: Any, paths: list[tuple[str, ...]]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, paths)
    elif isinstance(node, dict):
        if any(kind in node for kind in _REFS):
            _walk_ref(node, paths)
            return
        var = node.get("Var")
        if isinstance(var, dict) and var.get("value") == "input":
            paths.append(())  # the input itself, not through a chain of keys
            return
        for key, item in node.items():
            if key == "with_mods":
                for modifier in item:
                    # ``with input... as v`` replaces that part of the input: the target is written,
                    # not read (whatever reads the input under it names it elsewhere).
                    _walk(modifier.get("as"), paths)
            elif key != "source":  # the module's text
                _walk(item, paths)


def _walk_ref(node: dict[str, Any], paths: list[tuple[str, ...]]) -> None:
    """A chain of ``.field`` and ``[index]`` over a base: the static prefix of an input reference."""
    steps: list[str | None] = []  # inner to outer once reversed: a key, or None for any other index
    indexes: list[Any] = []
    while True:
        if "RefDot" in node:
            ref = node["RefDot"]
            steps.append(str(ref["field"][1]))
        elif "RefBrack" in node:
            ref = node["RefBrack"]
            index = ref["index"]
            literal = next((index[k]["value"] for k in _STRING_LITERALS if k in index), None)
            steps.append(literal if isinstance(literal, str) else None)
            indexes.append(index)
        else:
            break
        node = ref["refr"]
    for index in indexes:
        _walk(index, paths)  # an index may itself read the input
    var = node.get("Var")
    if not (isinstance(var, dict) and var.get("value") == "input"):
        if var is None:
            _walk(node, paths)  # a call or a literal, whose arguments may read the input
        return
    prefix: list[str] = []
    for step in reversed(steps):
        if step is None:
            break
        prefix.append(step)
    paths.append(tuple(prefix))


WHOLE_INPUT = InputProjection([()])

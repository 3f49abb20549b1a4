"""Reading regorus's AST (``Engine.get_ast_as_json``): package paths and rule names.

Some names appear in the AST only as a span (``some`` variables, ``every`` variables, import
aliases); ``span_text`` reads them from the module's source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def ast_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object of an AST subtree, depth first (spans are positions, not nodes)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key != "span":
                yield from ast_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from ast_objects(item)


def ref_parts(ref: dict[str, Any]) -> list[str]:
    """The dotted names of a reference node (package paths, rule heads); [] for anything else."""
    if "Var" in ref:
        return [ref["Var"]["value"]]
    if "RefDot" in ref:
        node = ref["RefDot"]
        return [*ref_parts(node["refr"]), node["field"][1]]
    if "RefBrack" in ref:
        node = ref["RefBrack"]
        literal = node.get("index", {}).get("String", {}).get("value")
        return [*ref_parts(node["refr"]), str(literal)]
    return []


def package_path(module: dict[str, Any]) -> str:
    return "data." + ".".join(ref_parts(module["ast"]["package"]["refr"]))


def rule_head_ref(rule: dict[str, Any]) -> dict[str, Any]:
    if "Default" in rule:
        return dict(rule["Default"]["refr"])
    head = rule["Spec"]["head"]
    return dict(next(iter(head.values()))["refr"])


def rule_names(rules: list[dict[str, Any]]) -> Iterator[str]:
    """The first name of each rule's head (``a`` for ``a.b[x] := 1``), in order, repeated."""
    for rule in rules:
        parts = ref_parts(rule_head_ref(rule))
        if parts:
            yield parts[0]


def span_text(source: str, span: dict[str, Any]) -> str:
    return source.encode()[span["start"] : span["end"]].decode()


def defined_paths(modules: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """The package paths, and the ``package.rule`` paths, that the modules define."""
    packages: set[str] = set()
    rules: set[str] = set()
    for module in modules:
        package = package_path(module)
        packages.add(package)
        rules.update(f"{package}.{name}" for name in rule_names(module["ast"]["rules"]))
    return packages, rules

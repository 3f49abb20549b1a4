"""``not f(undefined)``: make regorus answer as OPA, by rewriting the module source at load.

OPA's compiler moves the operands of a call inside ``not`` out of the negation: in
``not startswith(input.auth, "Basic ")`` the reference ``input.auth`` is evaluated before the
``not``, so when it is undefined the whole body fails and the rule does not fire. regorus keeps
the operand inside the negation, where undefined makes the call undefined and ``not`` true: the
rule fires. For ``allow if { not startswith(input.auth, "Basic ") }`` that is an allow where OPA
denies.

Measured against OPA 1.20 (tests/unit/policy/test_negation.py): every operand of a call, an
operator (``!=``, ``<``, ``+``, ``in``...) or a user function that is a reference or another call
is evaluated outside the ``not``; ``==`` and ``=`` keep references inside (OPA unifies them) and
move only calls out; a bare reference (``not input.x``) and comprehensions stay inside.

The rewrite hoists those operands into fresh variables assigned just before the ``not``, on the
same line, so error lines are unchanged: ``x := input.auth; not startswith(x, "Basic ")``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

Node = dict[str, Any]

HOISTED_PREFIX = "__chaperone_not_"
_CALL_KINDS = ("Call", "ArithExpr", "BinExpr", "UnaryExpr")
_REF_KINDS = ("RefDot", "RefBrack")


def hoisted_operands(expr: Node, is_local: Any) -> list[Node]:
    """The operands of a negated expression that OPA evaluates before the negation."""
    kind, node = next(iter(expr.items()))
    if kind == "AssignExpr":
        return []
    if kind == "BoolExpr" and node["op"] == "Eq":
        return [side for side in (node["lhs"], node["rhs"]) if next(iter(side)) in _CALL_KINDS]
    if kind == "Call":
        operands = node["params"]
    elif kind in ("BoolExpr", "ArithExpr", "BinExpr"):
        operands = [node["lhs"], node["rhs"]]
    elif kind == "Membership":
        operands = [n for n in (node.get("key"), node["value"], node["collection"]) if n is not None]
    else:
        return []
    return [op for op in operands if _moves_out(op, is_local)]


def _moves_out(operand: Node, is_local: Any) -> bool:
    kind, node = next(iter(operand.items()))
    if kind in _CALL_KINDS or kind in _REF_KINDS:
        return True
    return kind == "Var" and not is_local(node["value"])


def rewrite_module(source: str, module: Node, is_local_in: Any) -> str:
    """The module with hoisted operands, or the source unchanged when nothing needs it.

    ``is_local_in(statement_node)`` returns a predicate telling local variables from rules.
    """
    data = source.encode()
    edits: list[tuple[int, int, bytes]] = []
    counter = 0
    for statement in _negations(module["ast"]["rules"]):
        if statement.get("with_mods"):
            continue  # the operands must stay under `with`
        expr = statement["literal"]["NotExpr"]["expr"]
        operands = hoisted_operands(expr, is_local_in(statement))
        if not operands:
            continue
        assignments = []
        for operand in operands:
            span = next(iter(operand.values()))["span"]
            name = f"{HOISTED_PREFIX}{counter}__"
            counter += 1
            assignments.append(f"{name} := {data[span['start'] : span['end']].decode()}; ")
            edits.append((span["start"], span["end"], name.encode()))
        start, end = statement["span"]["start"], statement["span"]["end"]
        braces = _after_if(data, start)
        edits.append((start, start, (("{ " if braces else "") + "".join(assignments)).encode()))
        if braces:
            edits.append((end, end, b" }"))
    if not edits:
        return source
    edits.sort(key=lambda e: (e[0], e[1]))
    for first, second in itertools.pairwise(edits):
        if second[0] < first[1]:
            return source  # overlapping rewrites (a negation inside a hoisted operand): leave it
    for start, end, text in reversed(edits):
        data = data[:start] + text + data[end:]
    return data.decode()


def _after_if(data: bytes, start: int) -> bool:
    """Whether the statement is a rule's whole body written without braces (``r if not x``)."""
    before = data[:start].rstrip()
    return before.endswith(b"if") and (len(before) == 2 or not before[-3:-2].isalnum())


def _negations(node: Any) -> Iterator[Node]:
    """Every statement whose literal is a ``not``, at any depth (comprehensions, every)."""
    if isinstance(node, dict):
        literal = node.get("literal")
        if isinstance(literal, dict) and "NotExpr" in literal and "span" in node:
            yield node
        for key, value in node.items():
            if key != "span":
                yield from _negations(value)
    elif isinstance(node, list):
        for item in node:
            yield from _negations(item)

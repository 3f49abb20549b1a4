"""OPA's rule index, made explicit as guards at the start of each rule body.

Before OPA evaluates a rule's body it consults its rule index (v1/ast/index.go): every top-level
expression of the body of the form ``ref = value`` (a scalar, a variable, an array pattern) or a
bare ``ref``, where ``ref`` is a ground reference to input or to base data, is a condition the
input must meet. A rule whose condition fails (the reference is undefined, another scalar, not
an array of that length) is skipped whole: an error that an earlier expression of the body would
raise never happens, and OPA answers undefined where a body evaluated in order fails.

OPA's compiler first moves every reference and call used as an operand of a call, an operator,
a membership test or a composite value out into ``__local = ref`` expressions of their own
(``rewriteDynamics``), so those references are conditions of the index too:
``trim_space(input.a); startswith(input.b, "x")`` is skipped when ``input.b`` is undefined, even
though ``trim_space(1)`` comes first and would fail. References inside a comprehension, an
``every`` body, a ``with`` statement, or compared with another reference (``input.a == input.b``)
are not conditions. Each condition becomes a guard statement at the front of its body
(``__chaperone_idx_0__ := input.b``), which has no effect other than OPA's skip.
Measured against OPA 1.20: tests/unit/policy/test_rule_index.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

Node = dict[str, Any]
Edit = tuple[int, int, bytes]

GUARD_PREFIX = "__chaperone_idx_"
_REF_KINDS = ("RefDot", "RefBrack")
_CALL_KINDS = ("Call", "ArithExpr", "BinExpr", "UnaryExpr", "BoolExpr", "Membership")
_SCALAR_KINDS = ("String", "RawString", "Number", "Bool", "Null")


def index_guard_edits(
    data: bytes,
    module: Node,
    is_local_in: Callable[[Node], Callable[[str], bool]],
    *,
    is_virtual: Callable[[str], bool],
    hoisted_from_not: Callable[[Node, Callable[[str], bool]], list[Node]],
    bounds: Callable[[bytes, Node], tuple[int, int]],
    after_if: Callable[[bytes, int], bool],
    head_terms: Callable[[Node], list[Node]],
) -> list[Edit]:
    """Guards inserted at the start of every rule body (else branches included).

    The references in a rule's head (its value, key, the indexes of its name) are moved into
    its body by OPA's compiler, so they are conditions too."""
    edits: list[Edit] = []
    counter = 0
    for rule in module["ast"]["rules"]:
        spec = rule.get("Spec")
        if not spec:
            continue
        conditions = _Conditions(data, is_local_in(rule), is_virtual, hoisted_from_not)
        head = next(iter(spec["head"].values()))
        for index, body in enumerate(spec["bodies"]):
            statements = body["query"]["stmts"]
            if not statements:
                continue
            start = bounds(data, statements[0])[0]
            if after_if(data, start):
                continue
            guards: list[str] = []
            terms = [body["assign"]["value"]] if body.get("assign") else []
            terms += head_terms(head) if index == 0 else []
            for term in terms:
                for guard in conditions.operand(term):
                    if guard not in guards:
                        guards.append(guard)
            for statement in statements:
                for guard in conditions.of(statement):
                    if guard not in guards:
                        guards.append(guard)
            if not guards:
                continue
            texts = []
            for guard in guards:
                if guard.startswith("="):
                    texts.append(f"{GUARD_PREFIX}{counter}__ := {guard[1:]}; ")
                    counter += 1
                else:
                    texts.append(f"{guard}; ")
            edits.append((start, start, "".join(texts).encode()))
    return edits


class _Conditions:
    """The index conditions of one rule's statements, as guard texts (``=REF`` for "defined")."""

    def __init__(
        self,
        data: bytes,
        is_local: Callable[[str], bool],
        is_virtual: Callable[[str], bool],
        hoisted_from_not: Callable[[Node, Callable[[str], bool]], list[Node]],
    ) -> None:
        self.data = data
        self.is_local = is_local
        self.is_virtual = is_virtual
        self.hoisted_from_not = hoisted_from_not

    def of(self, statement: Node) -> Iterator[str]:
        if statement.get("with_mods"):
            return
        literal = statement["literal"]
        if "NotExpr" in literal:
            expr = literal["NotExpr"]["expr"]
            for operand in self.hoisted_from_not(expr, self.is_local):
                yield from self.operand(operand)
            for ref in _outer_refs(expr):
                yield from self.nested(ref)
            return
        if "Every" in literal:  # its domain is assigned before the iteration
            yield from self.operand(literal["Every"]["domain"])
            return
        if "SomeIn" in literal:  # the collection is not a condition, its dynamic indexes are
            collection = literal["SomeIn"]["collection"]
            if next(iter(collection)) in _REF_KINDS:
                yield from self.nested(collection)
            return
        if "Expr" not in literal:
            return
        yield from self.expression(literal["Expr"]["expr"])

    def expression(self, expr: Node) -> Iterator[str]:
        kind, node = next(iter(expr.items()))
        if kind in _REF_KINDS:
            yield from self.nested(expr)
            if self.ground(expr):
                yield "=" + self.text(expr)
        elif kind == "AssignExpr" or (kind == "BoolExpr" and node["op"] == "Eq"):
            yield from self.equality(node["lhs"], node["rhs"])
        elif kind in _CALL_KINDS:
            for operand in _operands(expr):
                yield from self.operand(operand)
        elif kind in ("Array", "Set", "Object"):
            for item in _items(expr):
                yield from self.operand(item)

    def equality(self, lhs: Node, rhs: Node) -> Iterator[str]:
        sides = (lhs, rhs)
        for side in sides:
            kind = next(iter(side))
            if kind in _REF_KINDS:
                yield from self.nested(side)
            elif kind in _CALL_KINDS:
                for operand in _operands(side):
                    yield from self.operand(operand)
            elif kind in ("Array", "Set", "Object"):
                for item in _items(side):
                    if next(iter(item)) != "Var":
                        yield from self.operand(item)
        for ref, other in ((lhs, rhs), (rhs, lhs)):
            if next(iter(ref)) not in _REF_KINDS or not self.ground(ref):
                continue
            kind = next(iter(other))
            text = self.text(ref)
            if kind == "Var" or kind in _CALL_KINDS:  # a call's result is a variable to OPA
                yield "=" + text
            elif kind in _SCALAR_KINDS:
                yield f"{text} == {self.text(other)}"
            elif kind == "Array" and all(next(iter(i)) == "Var" for i in other["Array"]["items"]):
                yield f"is_array({text}); count({text}) == {len(other['Array']['items'])}"
            break

    def operand(self, term: Node) -> Iterator[str]:
        """An operand OPA moves into an expression of its own: a reference, or what a call,
        an operator or a composite value holds."""
        kind = next(iter(term))
        if kind in _REF_KINDS:
            yield from self.nested(term)
            if self.ground(term):
                yield "=" + self.text(term)
        elif kind in _CALL_KINDS:
            for operand in _operands(term):
                yield from self.operand(operand)
        elif kind in ("Array", "Set", "Object"):
            for item in _items(term):
                yield from self.operand(item)

    def nested(self, ref: Node) -> Iterator[str]:
        """References and calls used as an index inside a reference (``data.d[input.s]``)."""
        refr = ref
        while next(iter(refr)) in _REF_KINDS:
            kind, node = next(iter(refr.items()))
            if kind == "RefBrack":
                yield from self.operand(node["index"])
            refr = node["refr"]

    def ground(self, ref: Node) -> bool:
        """A reference to input or base data with literal keys only."""
        parts: list[str] = []
        refr = ref
        while next(iter(refr)) in _REF_KINDS:
            kind, node = next(iter(refr.items()))
            if kind == "RefDot":
                parts.append(str(node["field"][1]))
            else:
                index_kind, index = next(iter(node["index"].items()))
                if index_kind not in ("String", "Number"):
                    return False
                parts.append(str(index["value"]))
            refr = node["refr"]
        if next(iter(refr)) != "Var":
            return False
        root = refr["Var"]["value"]
        if root == "input":
            return not self.is_local(root)
        if root != "data" or self.is_local(root):
            return False
        return not self.is_virtual("data." + ".".join(reversed(parts)))

    def text(self, term: Node) -> str:
        kind, node = next(iter(term.items()))
        if kind in ("String", "RawString"):  # their spans leave the quotes out
            return json.dumps(node["value"])
        span = node["span"]
        return self.data[span["start"] : span["end"]].decode()


def _operands(term: Node) -> list[Node]:
    kind, node = next(iter(term.items()))
    if kind == "Call":
        return list(node["params"])
    if kind == "UnaryExpr":
        return [node["expr"]]
    if kind == "Membership":
        return [n for n in (node.get("key"), node["value"], node["collection"]) if n is not None]
    return [node["lhs"], node["rhs"]]


def _items(term: Node) -> list[Node]:
    kind, node = next(iter(term.items()))
    if kind == "Object":
        return [part for _, key, value in node["fields"] for part in (key, value)]
    return list(node["items"])


def _outer_refs(term: Node) -> Iterator[Node]:
    """The references in an expression, outside comprehensions (whose bodies OPA keeps)."""
    kind, node = next(iter(term.items()))
    if kind in _REF_KINDS:
        yield term
    elif kind in _CALL_KINDS:
        for operand in _operands(term):
            yield from _outer_refs(operand)
    elif kind in ("Array", "Set", "Object"):
        for item in _items(term):
            yield from _outer_refs(item)
    elif kind == "AssignExpr":
        yield from _outer_refs(node["lhs"])
        yield from _outer_refs(node["rhs"])

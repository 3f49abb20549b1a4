"""Where regorus's evaluation order differs from OPA's: rewrite the module source at load.

OPA's rule index (which skips a whole body before it runs) is made explicit by
ext_proc/policy/rule_index.py. Three more places, each measured against OPA 1.20
(tests/unit/policy/test_negation.py): the operands of a negated call (below);
``some x in <scalar>``, undefined in OPA and an error in regorus; the references in a rule's
head, which OPA evaluates before the body.

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

from collections.abc import Iterator
from typing import Any

from ext_proc.policy.rule_index import index_guard_edits

Node = dict[str, Any]

HOISTED_PREFIX = "__chaperone_not_"
_CALL_KINDS = ("Call", "ArithExpr", "BinExpr", "UnaryExpr")
_REF_KINDS = ("RefDot", "RefBrack")
_COMPOSITE_KINDS = ("Array", "Set", "Object")


def hoisted_operands(expr: Node, is_local: Any) -> list[Node]:
    """The operands of a negated expression that OPA evaluates before the negation."""
    kind, node = next(iter(expr.items()))
    if kind == "AssignExpr":
        return []
    if kind == "BoolExpr" and node["op"] == "Eq":
        # References stay inside (OPA unifies them); calls and composites holding references
        # are evaluated first.
        return [
            side
            for side in (node["lhs"], node["rhs"])
            if next(iter(side)) in _CALL_KINDS
            or (next(iter(side)) in _COMPOSITE_KINDS and _contains_ref(side))
        ]
    if kind == "Call":
        operands = node["params"]
    elif kind in ("BoolExpr", "ArithExpr", "BinExpr"):
        operands = [node["lhs"], node["rhs"]]
    elif kind == "Membership":
        operands = [n for n in (node.get("key"), node["value"], node["collection"]) if n is not None]
    elif kind in _COMPOSITE_KINDS:
        return [expr] if _contains_ref(expr) else []  # `not {input.x}`: the set needs input.x
    else:
        return []
    return [op for op in operands if _moves_out(op, is_local)]


def _contains_ref(term: Node) -> bool:
    kind, node = next(iter(term.items()))
    if kind in _REF_KINDS:
        return True
    if kind in ("Array", "Set"):
        return any(_contains_ref(item) for item in node["items"])
    if kind == "Object":
        return any(_contains_ref(key) or _contains_ref(value) for _, key, value in node["fields"])
    return False


def _moves_out(operand: Node, is_local: Any) -> bool:
    kind, node = next(iter(operand.items()))
    if kind in _CALL_KINDS or kind in _REF_KINDS:
        return True
    if kind in _COMPOSITE_KINDS:
        return _contains_ref(operand)
    return kind == "Var" and not is_local(node["value"])


Edit = tuple[int, int, bytes]


def rewrite_module(source: str, module: Node, is_local_in: Any, is_virtual: Any = lambda _path: False) -> str:
    """The module as OPA evaluates it (negations and iterations), or the source unchanged.

    ``is_local_in(statement_node)`` returns a predicate telling local variables from rules;
    ``is_virtual("data.a.b")`` tells a path that rules define from base data.
    """
    data = source.encode()
    edits = index_guard_edits(
        data,
        module,
        is_local_in,
        is_virtual=is_virtual,
        hoisted_from_not=hoisted_operands,
        bounds=_bounds,
        after_if=_after_if,
        head_terms=_head_terms,
    )
    edits += negation_edits(data, module, is_local_in) + iteration_edits(data, module)
    edits += head_edits(data, module, is_local_in) + lookup_first_edits(data, module, is_local_in)
    edits += with_edits(data, module) + copy_edits(data, module, is_local_in)
    if not edits:
        return source
    edits.sort(key=lambda e: (e[0], e[1]))
    kept: list[Edit] = []
    for edit in edits:
        if kept and edit[0] < kept[-1][1]:
            continue  # overlapping rewrites (one inside an operand the other moves): keep the first
        kept.append(edit)
    for start, end, text in reversed(kept):
        data = data[:start] + text + data[end:]
    return data.decode()


def head_edits(data: bytes, module: Node, is_local_in: Any) -> list[Edit]:
    """Head values that index with a body variable are computed at the body's end (below);
    the head's other references are conditions of OPA's rule index (rule_index.py)."""
    edits: list[Edit] = []
    counter = 0
    for rule in module["ast"]["rules"]:
        spec = rule.get("Spec")
        if not spec or not spec["bodies"]:
            continue
        head = next(iter(spec["head"].values()))
        is_local = is_local_in(rule)
        for index, body in enumerate(spec["bodies"]):
            terms = [body["assign"]["value"]] if body.get("assign") else []
            if index == 0:
                terms += _head_terms(head)
            statements = body["query"]["stmts"]
            if not statements:
                continue
            edits += _local_value_edits(data, terms, statements, is_local, counter)
            counter += len(terms)
    return edits


def with_edits(data: bytes, module: Node) -> list[Edit]:
    """A ``with`` value that refers to rules or input is evaluated before the modified
    expression in OPA; regorus evaluates it under the modification (``r with input as {r}``
    sees the new input). The value is assigned to a variable just before the statement."""
    edits: list[Edit] = []
    counter = 0
    for statement in _statements_with_modifiers(module["ast"]["rules"]):
        start = _bounds(data, statement)[0]
        if _after_if(data, start):
            continue
        assignments = []
        for modifier in statement["with_mods"]:
            value = modifier["as"]
            if next(iter(value)) in ("String", "RawString", "Number", "Bool", "Null") or not _whole(
                data, value
            ):
                continue
            name = f"__chaperone_with_{counter}__"
            counter += 1
            assignments.append(f"{name} := {_text(data, value)}; ")
            span = next(iter(value.values()))["span"]
            edits.append((span["start"], span["end"], name.encode()))
        if assignments:
            edits.append((start, start, "".join(assignments).encode()))
    return edits


def _statements_with_modifiers(node: Any) -> Iterator[Node]:
    if isinstance(node, dict):
        if node.get("with_mods") and "span" in node and "literal" in node:
            yield node
        for key, value in node.items():
            if key != "span":
                yield from _statements_with_modifiers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _statements_with_modifiers(item)


def lookup_first_edits(data: bytes, module: Node, is_local_in: Any) -> list[Edit]:
    """OPA's rule index skips a rule whose body tests a reference that is undefined (``input.x``,
    ``v := input.x``, ``input.x == "a"``) before evaluating anything else in it, so a call that
    would fail earlier in the body is never made. Those lookups are moved to the front of their
    body (they have no other effect), and the call's error turns into undefined as in OPA."""
    edits: list[Edit] = []
    for rule in module["ast"]["rules"]:
        spec = rule.get("Spec")
        if not spec:
            continue
        is_local = is_local_in(rule)
        for body in spec["bodies"]:
            statements = body["query"]["stmts"]
            lookups = [s for s in statements if _is_lookup(s, is_local)]
            first_other = next((i for i, s in enumerate(statements) if s not in lookups), None)
            moved = [
                s
                for i, s in enumerate(statements)
                if s in lookups and first_other is not None and i > first_other
            ]
            if not moved:
                continue
            start = _bounds(data, statements[0])[0]
            if _after_if(data, start):
                continue
            texts = "".join(f"{_span_text(data, s)}; " for s in moved)
            edits.append((start, start, texts.encode()))
            edits += [(*_bounds(data, s), b"true") for s in moved]
    return edits


def _span_text(data: bytes, node: Node) -> str:
    start, end = _bounds(data, node)
    return data[start:end].decode()


def _bounds(data: bytes, node: Node) -> tuple[int, int]:
    """A statement's byte range; regorus's spans leave out the quotes of a string literal that
    begins or ends the statement."""
    start, end = node["span"]["start"], node["span"]["end"]
    if start > 0 and data[start - 1 : start] in (b'"', b"`"):
        start -= 1
    if data[end : end + 1] in (b'"', b"`"):
        end += 1
    return start, end


def _is_lookup(statement: Node, is_local: Any) -> bool:
    """A statement that only looks up global references (and literals): no call, no local input."""
    if statement.get("with_mods") or "Expr" not in statement["literal"]:
        return False
    kind, node = next(iter(statement["literal"]["Expr"]["expr"].items()))
    if kind in _REF_KINDS:
        operands = [statement["literal"]["Expr"]["expr"]]
    elif kind == "AssignExpr" and node["op"] == "ColEq" and "Var" in node["lhs"]:
        operands = [node["rhs"]]
    elif kind == "BoolExpr" and node["op"] == "Eq":
        operands = [node["lhs"], node["rhs"]]
        if all(next(iter(op)) in _REF_KINDS for op in operands):
            return False  # the index only looks up a reference against a value
    else:
        return False
    return all(_pure(op, is_local) for op in operands) and any(
        next(iter(op)) in _REF_KINDS for op in operands
    )


def _pure(term: Node, is_local: Any) -> bool:
    kind = next(iter(term))
    if kind in _REF_KINDS:
        return not any(is_local(name) for name in _ref_vars(term))
    return kind in ("String", "RawString", "Number", "Bool", "Null")


def _local_value_edits(
    data: bytes, terms: list[Node], statements: list[Node], is_local: Any, counter: int
) -> list[Edit]:
    """A head value that indexes with a body variable (``r := input.a[v] if { v := 1 } else ...``,
    also inside a call or a composite: ``count(input.a[v])``) is computed at the end of the body:
    regorus fails on an undefined one there when the rule has an ``else``; OPA finds it
    undefined."""
    edits: list[Edit] = []
    end = _bounds(data, statements[-1])[1]
    if _after_if(data, _bounds(data, statements[0])[0]):
        return edits
    for offset, term in enumerate(terms):
        kind = next(iter(term))
        movable = kind in _REF_KINDS or (kind in ("Call", *_COMPOSITE_KINDS) and _whole(data, term))
        if movable and _indexes_with_local(term, is_local):
            name = f"__chaperone_value_{counter + offset}__"
            span = next(iter(term.values()))["span"]
            edits.append((span["start"], span["end"], name.encode()))
            edits.append((end, end, f"; {name} := {_text(data, term)}".encode()))
    return edits


def _indexes_with_local(node: Any, is_local: Any) -> bool:
    """Whether a reference inside ``node`` indexes with a local variable."""
    if isinstance(node, dict):
        ref = node.get("RefBrack")
        if isinstance(ref, dict) and any(is_local(name) for name in _ref_vars(ref["index"])):
            return True
        return any(_indexes_with_local(value, is_local) for key, value in node.items() if key != "span")
    if isinstance(node, list):
        return any(_indexes_with_local(item, is_local) for item in node)
    return False


def _head_terms(head: Node) -> list[Node]:
    terms = [head["assign"]["value"]] if head.get("assign") else []
    if head.get("key"):
        terms.append(head["key"])
    refr = head["refr"]
    while "RefBrack" in refr:
        terms.append(refr["RefBrack"]["index"])
        refr = refr["RefBrack"]["refr"]
    return terms


def _ref_vars(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "Var" in node and isinstance(node["Var"], dict):
            yield node["Var"]["value"]
        for key, value in node.items():
            if key != "span":
                yield from _ref_vars(value)
    elif isinstance(node, list):
        for item in node:
            yield from _ref_vars(item)


def iteration_edits(data: bytes, module: Node) -> list[Edit]:
    """``some k, v in X`` over a scalar is undefined in OPA and an error in regorus; written as
    ``some k, v; v = X[k]`` both engines iterate alike (arrays, objects, sets) and a scalar is
    simply undefined. Patterns (``some [a, b] in X``) are unified the same way."""
    edits: list[Edit] = []
    for statement in _statements(module["ast"]["rules"], "SomeIn"):
        node = statement["literal"]["SomeIn"]
        collection = node["collection"]
        if next(iter(collection)) not in (*_REF_KINDS, "Var"):
            continue
        parts = [part for part in (node.get("key"), node["value"]) if part is not None]
        names = sorted({name for part in parts for name in _ref_vars(part)} - {"_"})
        key = _text(data, node["key"]) if node.get("key") else "_"
        declared = f"some {', '.join(names)}; " if names else ""
        text = f"{declared}{_text(data, node['value'])} = {_text(data, collection)}[{key}]"
        start, end = _bounds(data, statement)
        if _after_if(data, start):
            text = "{ " + text + " }"
        edits.append((start, end, text.encode()))
    return edits


def copy_edits(data: bytes, module: Node, is_local_in: Any) -> list[Edit]:
    """``v2 := v1`` (a local copied into another) makes regorus refuse, at evaluation, a later
    reference indexed by ``v2`` ("var used before definition"); OPA runs it. ``v2 := [v1][0]``
    is the same value, and regorus takes it."""
    edits: list[Edit] = []
    for statement in _statements(module["ast"]["rules"], "Expr"):
        expr = statement["literal"]["Expr"]["expr"]
        assign = expr.get("AssignExpr")
        if not assign or assign["op"] != "ColEq" or "Var" not in assign["lhs"] or "Var" not in assign["rhs"]:
            continue
        name = assign["rhs"]["Var"]["value"]
        if name != "_" and is_local_in(statement)(name):
            span = assign["rhs"]["Var"]["span"]
            edits.append((span["start"], span["end"], f"[{name}][0]".encode()))
    return edits


def _text(data: bytes, term: Node) -> str:
    span = next(iter(term.values()))["span"]
    return data[span["start"] : span["end"]].decode()


_BRACKETS = {"Array": ("[", "]"), "Set": ("{", "}"), "Object": ("{", "}")}


def _whole(data: bytes, term: Node) -> bool:
    """Whether the term's span covers it whole (regorus's spans of composite literals do not
    always start at the opening bracket: those are left as they are)."""
    kind = next(iter(term))
    if kind not in _BRACKETS:
        return True
    text = _text(data, term).strip()
    opening, closing = _BRACKETS[kind]
    return text.startswith(opening) and text.endswith(closing)


def negation_edits(data: bytes, module: Node, is_local_in: Any) -> list[Edit]:
    edits: list[Edit] = []
    counter = 0
    for statement in _statements(module["ast"]["rules"], "NotExpr"):
        if statement.get("with_mods"):
            continue  # the operands must stay under `with`
        expr = statement["literal"]["NotExpr"]["expr"]
        operands = hoisted_operands(expr, is_local_in(statement))
        if not operands or not all(_whole(data, operand) for operand in operands):
            continue
        assignments = []
        for operand in operands:
            span = next(iter(operand.values()))["span"]
            name = f"{HOISTED_PREFIX}{counter}__"
            counter += 1
            assignments.append(f"{name} := {data[span['start'] : span['end']].decode()}; ")
            edits.append((span["start"], span["end"], name.encode()))
        start, end = _bounds(data, statement)
        braces = _after_if(data, start)
        edits.append((start, start, (("{ " if braces else "") + "".join(assignments)).encode()))
        if braces:
            edits.append((end, end, b" }"))
    return edits


def _after_if(data: bytes, start: int) -> bool:
    """Whether the statement is a rule's whole body written without braces (``r if not x``)."""
    before = data[:start].rstrip()
    return before.endswith(b"if") and (len(before) == 2 or not before[-3:-2].isalnum())


def _statements(node: Any, kind: str) -> Iterator[Node]:
    """Every statement whose literal is of ``kind``, at any depth (comprehensions, every)."""
    if isinstance(node, dict):
        literal = node.get("literal")
        if isinstance(literal, dict) and kind in literal and "span" in node:
            yield node
        for key, value in node.items():
            if key != "span":
                yield from _statements(value, kind)
    elif isinstance(node, list):
        for item in node:
            yield from _statements(item, kind)

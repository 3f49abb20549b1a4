"""``not`` over a call whose operand is undefined: the embedded engine answers as OPA.

OPA evaluates the operands of a negated call before the negation, so an undefined operand fails
the body; regorus alone would make the negation true (a fail-open). Each form is compared with
real OPA on an input where the operands are missing and one where they are present.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.rego_oracle import opa_case, regorus_case

FORMS = [
    'not startswith(input.auth, "Basic ")',
    "not f(input.a)",
    "not f(input.a) == 1",
    "not input.a + 1 == 2",
    "not input.a == input.b",
    "not [input.a] == [1]",
    'not {"k": input.a} == {}',
    "not {input.a} == input.o",
    "not input.a = 1",
    "not input.a != 1",
    "not input.a < 1",
    "not 1 in input.o",
    "not input.l[0] in input.o",
    "not count(input.l) > 0",
    "not count([x | x := input.l[_]]) == 1",
    "not input.a == count(input.l)",
    "not input.o[1]",
    "not input.a",
    'not object.get(input.o, "k", 1)',
    'not startswith(data.nope, "a")',
    'not startswith(s, "a")',
    'not startswith(input.l[1], "a")',
    'not startswith(lower(input.a), "a")',
    'not startswith(input.l[_], "a")',
    'not startswith(input.a, "x") with input.a as "y"',
    'x := input.a; not startswith(x, "B")',
    'not [y | some y in input.l; not startswith(y, "a")]',
]
MODULE = """package g

f(x) := x

s := input.s

r if {{ {form} }}

short if not startswith(input.auth, "Basic ")
"""
INPUTS: list[dict[str, Any]] = [{}, {"auth": "Bearer t", "a": "b", "l": ["b", "a"], "o": {}, "s": "x"}]


@pytest.mark.parametrize("document", INPUTS, ids=["missing", "present"])
@pytest.mark.parametrize("form", FORMS)
def test_a_negated_call_answers_as_opa(form: str, document: dict[str, Any]) -> None:
    modules = [("g.rego", MODULE.format(form=form))]
    assert regorus_case(modules, {}, "g", document) == opa_case(modules, {}, "g", document)


def test_the_quoted_fail_open_is_closed() -> None:
    # The example: no Authorization header must not allow.
    source = (
        "package envoy.authz\n\ndefault allow := false\n\n"
        'allow if {\n    not startswith(input.attributes.request.http.headers.authorization, "Basic ")\n}\n'
    )
    modules = [("authz.rego", source)]
    document = {"attributes": {"request": {"http": {"headers": {}}}}}
    expected = opa_case(modules, {}, "envoy.authz.allow", document)
    assert regorus_case(modules, {}, "envoy.authz.allow", document) == expected
    assert expected.value is False  # type: ignore[union-attr]


HEADS = [
    'r := input.a.a if { startswith("a", input.a) }',
    "r := input.a.a if { 1 / input.z == 0 }",
    "r := [input.a.a, 1] if { 1 / input.z == 0 }",
    "r contains input.a.a if { 1 / input.z == 0 }",
    "r[input.a.a] := 1 if { 1 / input.z == 0 }",
    "f(y) := input.a.a if { 1 / input.z == 0 }\n\nr := f(1)",
    "r := count(input.a) if { 1 / input.z == 0 }",
    "r := input.a.a if { 1 / input.z == 0 } else := input.b if { 1 / input.z == 0 } else := 3",
    "r := x if { x := input.a.a; 1 / input.z == 0 }",
    "r := count(input.a[v]) if { v := null } else := 1",
    'r := [input.a[v], 2] if { v := "x" } else := 1',
    "r := {input.a[v]} if { v := input.q } else := 1",
]
ITERATIONS = [
    "r := [v | some v in input.n]",
    "r := [[k, v] | some k, v in input.s]",
    "r if { some v in input.l; v == 2 }",
    "r := {k: v | some k, v in input.o}",
    "r if { some [a, b] in input.l; a == b }",
]

# A local copied into another, then used as an index (regorus: "var used before definition").
COPIES = [
    "r if { v1 := input.q; v2 := v1; input.a[v2] }",
    "r := input.a[v2] if { v1 := input.q; v2 := v1 }",
    "r contains input.a[v2] if { v1 := input.q; v2 := v1 }",
    "r if { some v1 in [input.q]; v2 := v1; v3 := v2; input.a[v3] == 1 }",
    "r := [x | some v1 in input.l; v2 := v1; x := input.a[v2]]",
    "r if { v1 := input.q; v2 := v1; [input.a[v2]] }",
]


@pytest.mark.parametrize("rules", HEADS + ITERATIONS + COPIES)
def test_head_references_and_iterations_answer_as_opa(rules: str) -> None:
    modules = [("p.rego", f"package p\n\n{rules}\n")]
    for document in (
        {"a": None, "z": 0, "n": 5, "s": "str", "l": 4, "o": None},
        {"l": [1, 2], "o": {"k": 1}},
        {"a": {"x": 1, "1": 2}, "q": "x", "l": ["x", "y"]},
    ):
        assert regorus_case(modules, {}, "p", document) == opa_case(modules, {}, "p", document)

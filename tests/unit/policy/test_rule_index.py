"""OPA's rule index skips a body before any of it runs: the embedded engine answers as OPA.

Every body starts with an expression that fails (``trim_space`` of a number, an error in OPA and
here). What follows decides whether OPA ever evaluates it: a reference its rule index needs
(an operand of a call, an operator, ``in``, a composite value, an ``every`` domain, an index
inside a reference, an array pattern's length...) that is undefined or of another shape skips
the rule (undefined); one it does not index (compared with another reference, under ``with``, in
a comprehension, a rule's value) leaves the error. Each form is compared with real OPA 1.20 on
inputs where the reference is missing, of another kind, and present.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.rego_oracle import opa_case, regorus_case

FORMS = [
    'startswith(input.b, "x")',
    'not startswith(input.b, "x")',
    "not data.d[input.s]",
    "not input.c == data.d[input.s]",
    "data.d[input.s]",
    'sprintf("%v", [input.b])',
    "{input.b} == {1}",
    "v := [input.b]",
    "input.b != 1",
    "x := 1 + input.b",
    "input.b in data.d.x",
    "input.z in [1]",
    "every x in data.d.x { x }",
    "[v1, v2] = input.b",
    "v1 = input.b",
    'input.b = "x"',
    "input.b",
    "input.b[0]",
    "x := input.b",
    "input.b == input.c",
    "some v in data.d.x; v != {}",
    "some v in data.d[input.s]; v != {}",
    "r0",
    "input.b with input.c as 1",
    "[x | x := input.b]",
    "x := input.a; x.b",
    # A call compared with a reference: OPA holds the call's result in a variable, and indexes
    # the reference against it.
    "count(input.c) == input.b",
    "input.b == upper(input.c)",
    "input.b = count(input.c)",
    "input.b == 1 + input.c",
]
MODULE = """package g

r0 if {{ input.q == 7 }}

r if {{ trim_space(input.a); {form} }}

e := 1 if {{ trim_space(input.a); {form} }} else := 2
"""
INPUTS: list[dict[str, Any]] = [
    {"a": 1},
    {"a": 1, "b": 1, "s": "k"},
    {"a": 1, "b": [1]},
    {"a": 1, "b": [1, 2], "c": 1, "s": "x", "z": 1},
    {"a": 1, "b": "x", "c": "x", "s": "k"},
]
DATA = {"d": {"x": [1], "k": True}}


@pytest.mark.parametrize("document", INPUTS, ids=["missing", "number", "short", "present", "string"])
@pytest.mark.parametrize("form", FORMS)
def test_a_body_the_index_skips_answers_as_opa(form: str, document: dict[str, Any]) -> None:
    modules = [("g.rego", MODULE.format(form=form))]
    assert regorus_case(modules, DATA, "g", document) == opa_case(modules, DATA, "g", document)

"""What OPA refuses at compile time is refused at load, naming file and line; what OPA accepts loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ext_proc.cli import main
from tests.rego_oracle import LOAD_ERROR, opa_case, regorus_case

REFUSED = {
    "unsafe var in a rule nobody evaluates": "other if { x := y }",
    "unsafe head": "r[x] := 1",
    "unsafe in not": "r if { not x == 1 }",
    "unsafe comprehension": "r := [x | x == 1]",
    "unsafe every domain": "r if { every x in y { x } }",
    "some declared, never bound": "r if { some x; x == 1 }",
    "some variable unused": "r if { some x; input.a == 1 }",
    "every variable unused": "r if { every v in input.m { true } }",
    "wildcard in a negated call": 'r if { not startswith(input.l[_], "a") }',
    "undefined function": "r if { foo(1) }",
    "undefined user function": "r if { data.p.g(1) }",
    "builtin arity": 'r if { startswith("a") }',
    "builtin literal type": 'r if { startswith(1, "a") }',
    "arithmetic on a string literal": 'r := 1 + "a"',
    "deprecated builtin": "r := any([true])",
    "user function arity": "f(x) := x\nr := f(1, 2, 3)",
    "complete and partial rules": "r := 1\nr contains 1",
    "functions of two arities": "f(x) := 1\nf(x, y) := 2",
    "two defaults": "default r := 1\ndefault r := 2",
    "recursion": "r if s\ns if r",
    "assigned twice": "r if { x := 1; x := 2 }",
    "partial object compared with a number": "o[input.a] := 1 if { input.b }\nr if { o == -2 }",
    "partial set as a builtin's string": 's contains 1 if { input.b }\nr if { startswith(s, "a") }',
    "object under a ref head in arithmetic": "o.x := 1 if { input.b }\nr := o + 1",
    "set union compared with null": "r if { (input.a | input.b) == null }",
    "set intersection compared with an array": "r if { not (input.a & set()) == [] }",
    "rule of a set union compared with a string": 'u := input.a | set()\nr if { u == "a" }',
    "rule of a product compared with a string": 'p := input.a * 2\nr if { p == "a" }',
    "builtin the engine lacks": 'r := net.lookup_ip_addr("localhost")',
    # A comprehension needs its outer variables bound by another expression, never its own.
    "comprehension bound only by its own expression": "r if { input.b[v] == [1 | v == 1] }",
    # OPA refuses an expression whose comprehensions close over exactly the variables its own
    # references iterate with (it orders the expression before their binding), whatever binds
    # them earlier, in a comparison, a membership, a call or a bare term; nested bodies too.
    "comprehension over a reference's index": "r if { v := 1; input.b[v] == [1 | v == 1] }",
    "comprehension over indexes in a membership": (
        "r if { some v in input.a; input.a[v] in [w | some w in v] }"
    ),
    "comprehension over indexes of a local": "r if { v := 1; i := input; i[v] != {w | w := v} }",
    "comprehension over two indexes": "r if { v := 1; w := 2; input.b[v][w] == [1 | v == w] }",
    "comprehension over indexes, in a call": "r if { v := 1; object.get(input.b[v], [w | w := v], 1) }",
    "comprehension over a rule's indexes": "s contains 1\nr if { v := 1; s[v] == [1 | v == 1] }",
    "comprehension over indexes, bare": "r if { v := 1; [input.b[v], [1 | v == 1]] }",
    # OPA's checker types local variables from what binds them, and refuses a comparison (`==`
    # is checked as `=`) or an argument of a type that cannot match.
    "local bound to null compared with a string": 'r if { v := null; not v == "a" }',
    "local through another local": 'r if { v := 1; w := v; w == "a" }',
    "local unified, then compared": 'r if { v = null; v == "a" }',
    "local of a builtin's result": 'r if { v := count([]); v == "a" }',
    "local as a builtin's argument": 'r if { v := null; startswith(v, "a") }',
    "local in a comprehension's body": 'r if { v := null; x := [w | w := v; w == "a"] }',
    "element of a literal array": 'r if { v := [1]; v[0] == "a" }',
    "field of a literal object": 'r if { v := {"a": 1}; v.a == "a" }',
    "any element of a literal array": 'r if { v := [1, "a"]; v[_] == null }',
    "some-in over a literal": 'r if { some v in [null]; v == "a" }',
    "some-in key of an object": 'r if { some k, v in {"a": null}; k == 1 }',
    "array destructuring": 'r if { [v, w] := [null, 1]; v == "a" }',
    "array result of a builtin compared with null": "r if { split(input.a, input.b) == null }",
    "set result of a builtin compared with a string": 'r if { net.cidr_expand(input.a) == "a" }',
    "rule of a builtin's result compared": 'c := count(input.a)\nr if { c == "a" }',
    "function of a builtin's result compared": 'f(x) := count(x)\nr if { f(input.a) == "a" }',
    "missing key of a literal object": 'r if { v := {"a": 1}; v.b == 1 }',
    "missing key under a negation": 'r if { v := {"a": 1}; not v.b }',
    "missing key in an every body": 'r if { v := {"a": 1}; every x in [1] { x; v.b } }',
    "index past a literal array": "r if { v := [[1]]; v[0][3] }",
    "string key of a literal array": 'r if { v := [1]; v["a"] }',
    "key of a scalar": 'r if { v := "s"; v.a == 1 }',
    "missing key of a some-in element": 'r if { some v in [{"a": 1}]; v.b }',
    "field of an array comprehension": "r if { v := [x | some x in input.l]; v.a }",
    "string key of an object comprehension over numbers": "r if { v := {x: 1 | x := 1}; v.a }",
    "string member of a set comprehension of numbers": "r if { v := {x | x := 1}; v.a }",
    "comprehension of numbers compared with strings": 'r if { [x | x := 1] == ["a"] }',
    "string key of a partial set of nulls": "s contains null if { input.x }\nr if { v := s; v.a }",
    "function of a difference compared with null": "f(x) := input.a - x\nr if { f(1) == null }",
    "local unified with a boolean rule, then read into": "b if { input.x }\nr := v.a if { v = b }",
    "number key of a partial object keyed by null": "o[null] := 1 if { input.x }\nr if { v := o; v[0] }",
    "arrays of different element types": 'r if { v := [1]; v == ["a"] }',
    "objects of different keys": 'r if { v := {"a": 1}; v == {"b": 1} }',
    "sets of different element types": 'r if { v := {1}; v == {"a"} }',
    "comprehension over indexes, nested": (
        "r := [v | some v in input.a; [w | some w in input.a[v]] in input.a[v]]"
    ),
}
ACCEPTED = {
    "output variable of a call": "r if { count([1], n); n == 1 }",
    "iteration index": "r contains i if { input.l[i] }",
    "rule of a difference compared with a set": "d := input.a - input.b\nr if { d == set() }",
    "partial set compared with a set": "s contains 1 if { input.b }\nr if { s == set() }",
    "partial object counted": "o[input.a] := 1 if { input.b }\nr if { count(o) == 0 }",
    "reordered unification": "r if { x == 1; x = input.a }",
    "comprehension over an outer var": "r := [y | some y in input.l; y != z] if { z := input.z }",
    "every over outer var": "r if { z := 1; every v in input.l { v != z } }",
    "conflict only at evaluation": "r := 1\nr := 2 if input.x",
    "ref heads": "a.b := 1\na.c := 2",
    "jwt builtin": "r := io.jwt.decode(input.t)",
    "print": "r if { print(input.x) }",
    "some used": "r if { some k, v in input.m; k == v }",
    "some-in variable unused": "r if { some k, v in input.m; v == 1 }",
    "dynamic key of a literal object": 'r if { v := {"a": 1}; v[input.k] == 1 }',
    "any key of a literal set": "r if { v := {1, 2}; v[3] }",
    "present key of a literal object": 'r if { v := {"a": {"b": 1}}; v.a.b == 1 }',
    "index of an array comprehension": "r if { v := [x | x := 1]; v[5] }",
    "member of a partial set of strings": 's contains "a" if { input.x }\nr if { s.b }',
    "member of a partial set of unknown elements": "s contains input.x if { input.x }\nr if { s.b }",
    "string key of a partial object keyed by strings": 'o["a"] := 1 if { input.x }\nr if { o.b }',
    "key of a partial object keyed by a variable": "o[k] := 1 if { some k in input.l }\nr if { o[0] }",
    "local of input compared twice": 'r if { v := input.x; v == 1; v == "a" }',
    "local not compared but ordered": 'r if { v := null; v != "a"; v < "a" }',
    "some-in over a mixed literal": 'r if { some v in [null, "b"]; v == "a" }',
    "local in an every body (not type checked)": 'r if { v := null; every x in [1] { x; v == "a" } }',
    "empty array against a typed one": "r if { v := [1]; v == [] }",
    "empty set against a typed one": "r if { v := {1}; v == set() }",
    "local shadowed in a comprehension": 'r if { v := null; x := [v | v := "a"; v == "a"] }',
    "comprehension over more than the indexes": "r if { v := 1; w := 2; input.b[v] == [1 | v == w] }",
    "comprehension over fewer than the indexes": "r if { v := 1; w := 2; input.b[v][w] == [1 | v == 1] }",
    "comprehension over another variable": "r if { v := 1; w := 2; input.b[v] == [1 | w == 1] }",
    "comprehension in an assignment beside a reference": "r if { v := 1; x := [input.b[v], [1 | v == 1]] }",
    "comprehension under a negation": "r if { v := 1; not input.b[v] == [1 | v == 1] }",
    "comprehension in a nested call": "r if { v := 1; count(input.b[v]) == count([1 | v == 1]) }",
    "comprehension over a function's argument": "f(x) := 1 if { input.b[x] == [1 | x == 1] }",
}


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_what_opa_refuses_is_refused_at_load(body: str) -> None:
    modules = [("p.rego", f"package p\n\nallow := true\n\n{body}\n")]
    if "lookup_ip_addr" not in body:  # OPA has that one; the embedded engine does not
        assert opa_case(modules, {}, "p.allow", {}) == LOAD_ERROR
    assert regorus_case(modules, {}, "p.allow", {}) == LOAD_ERROR


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_opa_accepts_loads(body: str) -> None:
    modules = [("p.rego", f"package p\n\nallow := true\n\n{body}\n")]
    assert opa_case(modules, {}, "p.allow", {}) != LOAD_ERROR
    assert regorus_case(modules, {}, "p.allow", {}) == opa_case(modules, {}, "p.allow", {})


def test_imports_are_names_not_variables() -> None:
    source = "package p\n\nimport input.attributes as attrs\nimport data.lib\n\nr if { attrs.x; lib.y }\n"
    modules = [("p.rego", source)]
    assert regorus_case(modules, {}, "p", {}) == opa_case(modules, {}, "p", {}) != LOAD_ERROR


def test_policy_check_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "authz.rego").write_text(
        "package envoy.authz\n\ndefault allow := false\n\nallow if input.ok\n\nunused if { x := y }\n"
    )
    assert main(["policy", "check", str(tmp_path)]) == 1
    assert "authz.rego:7: rego_unsafe_var_error: var y is unsafe" in capsys.readouterr().err
    (tmp_path / "authz.rego").write_text("package envoy.authz\n\ndefault allow := false\n")
    assert main(["policy", "check", str(tmp_path)]) == 0

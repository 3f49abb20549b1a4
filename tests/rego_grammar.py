"""Random Rego modules, inputs and data for the differential test against real OPA.

The grammar aims at where engines disagree: references that may be undefined (missing input
keys, missing data, out-of-range indexes) in assignments, unification, comparisons and calls;
``not``; ``some``/``every``/``in``; comprehensions; ``default`` and ``else``; functions; partial
sets and objects (multi-value rules); ``with``; common builtins. Every choice is a hypothesis draw,
so a failing module shrinks to a small one.

A module is ``package g`` with rules ``r0``..``rN`` (each may only use the rules before it, so
there is no recursion) and functions ``f0``, ``f1``. Variables are tracked per body so that most
bodies are safe; a few draws use a variable nobody binds, which OPA refuses at compile time.
Locals are also read into (``v1.a``, ``v1[0]``), so OPA's types of local variables (and its
``undefined ref`` on literal values) are exercised as real policies exercise them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from ext_proc.policy.builtin_signatures import SIGNATURES

# One draw in 40 uses a variable nothing binds; one argument in 20 may be of any kind (OPA's type
# checker refuses a literal of the wrong kind at compile time).
UNSAFE_ODDS = (False,) * 39 + (True,)
UNTYPED_ODDS = (False,) * 19 + (True,)
KIND_LITERALS = {
    "string": ['"a"', '"B"', '""', '"10.0.0.0/8"', '"%v"'],
    "number": ["0", "1", "-2", "2.5", "123456789012345678901234567890"],
    "boolean": ["true", "false"],
    "null": ["null"],
    # Empty collections: OPA's checker also knows element types (sum(["a"]) is refused), which
    # the load-time checks do not follow; non-empty collections come from input and data.
    "array": ["[]"],
    "object": ["{}"],
    "set": ["set()"],
}
KEYS = ["a", "b", "c", "n", "s", "l", "o"]
VAR_SUFFIXES = ("", "", "", "", ".a", "[0]", '["b"]')
STRINGS = ["", "a", "ab", "B", "Bearer x", "x-y", "10.0.0.1", "1", "é"]
SMALL_INTS = [-1, 0, 1, 2, 3, 10]
BIG_INTS = [2**63 - 1, 2**64, 123456789012345678901234567890]

# Builtins that take one or two arguments of any type (errors on a wrong type are part of the test).
UNARY = [
    "count", "is_string", "is_number", "is_array", "is_object", "is_boolean", "is_null", "is_set",
    "type_name", "lower", "upper", "to_number", "abs", "sum", "max", "min", "sort", "json.marshal",
    "object.keys", "trim_space", "crypto.sha256", "base64.encode", "units.parse_bytes", "array.reverse",
]  # fmt: skip
BINARY = [
    "startswith", "endswith", "contains", "concat", "split", "indexof", "object.get_default",
    "array.concat", "trim", "format_int", "regex.match", "glob.match_default",
    "net.cidr_contains", "net.cidr_intersects", "crypto.hmac.sha256", "sprintf",
]  # fmt: skip
# Some names stand for a call of a different arity or form.
CALL_FORMS = {
    "object.get_default": "object.get({0}, {1}, null)",
    "union_pair": "union({{{0}, {1}}})",
    "glob.match_default": "glob.match({0}, [], {1})",
    "sprintf": 'sprintf("%v-%v", [{0}, {1}])',
}
for _name, _kinds in (
    ("object.get_default", "object,any"),
    ("union_pair", "set,set"),
    ("glob.match_default", "string,string"),
):
    SIGNATURES = {**SIGNATURES, _name: _kinds}


@functools.cache
def json_values(depth: int = 2) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(SMALL_INTS),
        st.sampled_from(BIG_INTS),
        st.sampled_from([0.5, -2.5, 1e20]),
        st.sampled_from(STRINGS),
    )
    if depth == 0:
        return scalars
    inner = json_values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS + STRINGS[:3]), inner, max_size=3),
    )


documents = st.dictionaries(st.sampled_from(KEYS), json_values(), max_size=6)


def rego_literal(value: Any) -> str:
    """A JSON value as Rego source (JSON text is a Rego term)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Scope:
    bound: list[str] = field(default_factory=list)
    counter: list[int] = field(default_factory=lambda: [0])
    declared: list[str] = field(default_factory=list)  # by `some`, to be used later in the body
    used: set[str] = field(default_factory=set)
    untyped: list[str] = field(default_factory=list)  # bound to input or data: of unknown type

    def fresh(self) -> str:
        self.counter[0] += 1
        return f"v{self.counter[0]}"

    def child(self) -> Scope:
        return Scope(list(self.bound), self.counter, untyped=list(self.untyped))


@functools.cache
def _choice(options: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


@dataclass
class ModuleBuilder:
    draw: Any
    rules: list[str] = field(default_factory=list)  # names of rules defined so far
    functions: list[str] = field(default_factory=list)

    # -- terms -------------------------------------------------------------------------------

    def pick(self, options: Any) -> Any:
        return self.draw(_choice(tuple(options)))

    def term(self, scope: Scope, depth: int = 0) -> str:
        kinds = ["literal", "input", "input", "data", "var", "rule", "call", "arith", "compr", "func"]
        kind = self.pick(kinds if depth < 2 else kinds[:6])
        return getattr(self, f"_term_{kind}")(scope, depth)

    def _term_literal(self, scope: Scope, depth: int) -> str:
        if depth < 2 and self.draw(st.integers(0, 5)) == 5:
            items = [self.term(scope, depth + 1) for _ in range(self.draw(st.integers(1, 2)))]
            return "{" + ", ".join(items) + "}"  # a set
        return rego_literal(self.draw(json_values(1)))

    def plain_literal(self) -> str:
        """A value without references (default values must be ground)."""
        return rego_literal(self.draw(json_values(1)))

    def _term_input(self, scope: Scope, depth: int) -> str:
        path = "input." + self.pick(KEYS)
        suffix = self.pick(["", "", ".a", "[0]", "[1]", '["b"]', ".o.a"])
        if suffix == "" and scope.bound and self.draw(st.booleans()):
            suffix = f"[{self.pick(tuple(scope.bound))}]"
        return path + suffix

    def _term_data(self, scope: Scope, depth: int) -> str:
        key = self.pick(KEYS)
        if self.draw(st.booleans()):
            return f"data.d[input.{self.pick(['s', 'a', 'n'])}]"
        return f"data.d.{key}"

    def _term_var(self, scope: Scope, depth: int) -> str:
        if self.pick(UNSAFE_ODDS):
            return "unbound"  # unsafe: OPA refuses the module
        if not scope.bound:
            return self._term_input(scope, depth)
        recent = tuple(scope.bound[-2:])
        name = self.pick(recent if self.draw(st.booleans()) else tuple(scope.bound))
        scope.used.add(name)
        # Policies read into their locals (`claims.sub`): OPA types those references too.
        return name + self.pick(VAR_SUFFIXES)

    def _term_rule(self, scope: Scope, depth: int) -> str:
        if not self.rules:
            return self._term_input(scope, depth)
        return self.pick(tuple(self.rules))

    def typed(self, scope: Scope, depth: int, kinds: str) -> str:
        """An argument OPA's type checker accepts where ``kinds`` (``a|b``) are wanted: a reference
        to input or data (of unknown type), an untyped variable, or a literal of a wanted kind."""
        if self.pick(UNTYPED_ODDS):
            # A literal of any kind: OPA refuses a wrong one at compile time, and so must we.
            return str(self.pick(KIND_LITERALS[self.pick(tuple(KIND_LITERALS))]))
        choice = self.pick(["input", "data", "var", "literal"])
        if choice == "var" and scope.untyped:
            return self.pick(tuple(scope.untyped))
        if choice == "literal":
            wanted = [k for k in kinds.split("|") if k in KIND_LITERALS] or list(KIND_LITERALS)
            return self.pick(KIND_LITERALS[self.pick(wanted)])
        return self._term_data(scope, depth) if choice == "data" else self._term_input(scope, depth)

    def _term_call(self, scope: Scope, depth: int) -> str:
        name = self.pick(UNARY + BINARY)
        signature = SIGNATURES.get(name) or ("any,any" if name in CALL_FORMS else "any")
        args = [self.typed(scope, depth, kinds) for kinds in signature.split(",")]
        return CALL_FORMS.get(
            name, name + "(" + ", ".join(f"{{{i}}}" for i in range(len(args))) + ")"
        ).format(*args)

    def _term_arith(self, scope: Scope, depth: int) -> str:
        op = self.pick(["+", "-", "*", "/", "%", "|", "&"])
        kinds = "set" if op in "|&" else "number"
        return f"({self.typed(scope, depth, kinds)} {op} {self.typed(scope, depth, kinds)})"

    def _term_compr(self, scope: Scope, depth: int) -> str:
        inner = scope.child()
        collection = self.collection(scope, depth + 1)
        x = inner.fresh()
        inner.bound.append(x)
        condition = self.statement(inner, depth + 1)
        form = self.pick(["array", "set", "object"])
        if form == "object":
            k = inner.fresh()
            return f"{{{k}: {x} | some {k}, {x} in {collection}; {condition}}}"
        body = f"{x} | some {x} in {collection}; {condition}"
        return f"[{body}]" if form == "array" else f"{{{body}}}"

    def _term_func(self, scope: Scope, depth: int) -> str:
        if not self.functions:
            return self._term_call(scope, depth)
        return f"{self.pick(tuple(self.functions))}({self.term(scope, depth + 1)})"

    # -- statements ----------------------------------------------------------------------------

    def statement(self, scope: Scope, depth: int = 0) -> str:
        kinds = ["assign", "compare", "unify", "not", "some", "in", "every", "call", "truthy", "with"]
        kind = self.pick(kinds if depth < 2 else kinds[:4])
        return getattr(self, f"_stmt_{kind}")(scope, depth)

    def _stmt_assign(self, scope: Scope, depth: int) -> str:
        value = self.term(scope, depth)
        name = scope.fresh()
        scope.bound.append(name)
        if value.startswith(("input.", "data.")):
            scope.untyped.append(name)
        return f"{name} := {value}"

    def _stmt_compare(self, scope: Scope, depth: int) -> str:
        op = self.pick(["==", "!=", "<", "<=", ">", ">="])
        # One side of unknown type, so that `==` is never a match error OPA's type inference
        # would find (the load-time checks follow literal kinds, builtin results and literal
        # rule values, not every variable's type).
        other = self.typed(scope, depth, "any") if op == "==" else self.term(scope, depth)
        return f"{self.term(scope, depth)} {op} {other}"

    def _stmt_unify(self, scope: Scope, depth: int) -> str:
        if self.draw(st.booleans()):
            value = self.pick(["input", "data"])
            value = self._term_input(scope, depth) if value == "input" else self._term_data(scope, depth)
            first, second = scope.fresh(), scope.fresh()
            scope.bound += [first, second]
            scope.untyped += [first, second]
            return f"[{first}, {second}] = {value}"
        value = self.term(scope, depth)
        name = scope.fresh()
        scope.bound.append(name)
        return f"{name} = {value}"

    def _stmt_not(self, scope: Scope, depth: int) -> str:
        inner = scope.child()
        kind = self.pick(["compare", "call", "truthy", "in"])
        return "not " + getattr(self, f"_stmt_{kind}")(inner, depth + 1)

    def collection(self, scope: Scope, depth: int) -> str:
        """Something to iterate: what OPA's type checker cannot prove is not a collection."""
        kind = self.pick(["input", "data", "var", "literal", "compr"])
        if kind == "literal":
            return rego_literal(self.draw(st.lists(json_values(0), max_size=3)))
        if kind == "compr" and depth < 2:
            return self._term_compr(scope, depth + 1)
        if kind == "var" and scope.untyped:
            # Only variables of unknown type: OPA refuses to iterate one it knows is a scalar.
            return str(self.pick(tuple(scope.untyped)))
        return getattr(self, f"_term_{kind if kind in ('input', 'data') else 'input'}")(scope, depth)

    def _stmt_some(self, scope: Scope, depth: int) -> str:
        collection = self.collection(scope, depth)
        value = scope.fresh()
        if self.draw(st.booleans()):
            key = scope.fresh()
            scope.bound += [key, value]
            scope.declared += [key, value]
            if collection.startswith(("input.", "data.")):
                scope.untyped += [key, value]
            return f"some {key}, {value} in {collection}"
        scope.bound.append(value)
        scope.declared.append(value)
        if collection.startswith(("input.", "data.")):
            scope.untyped.append(value)
        return f"some {value} in {collection}"

    def _stmt_in(self, scope: Scope, depth: int) -> str:
        return f"{self.term(scope, depth)} in {self.term(scope, depth)}"

    def _stmt_every(self, scope: Scope, depth: int) -> str:
        inner = scope.child()
        x = inner.fresh()
        inner.bound.append(x)
        body = self.statement(inner, depth + 1)
        if x not in inner.used and self.pick((True,) * 9 + (False,)):
            body += f"; {x} != {{}}"  # OPA refuses an `every` variable the body does not use
        return f"every {x} in {self.collection(scope, depth)} {{ {body} }}"

    def _stmt_call(self, scope: Scope, depth: int) -> str:
        name = self.pick(["startswith", "endswith", "contains", "regex.match"])
        return f"{name}({self.typed(scope, depth, 'string')}, {self.typed(scope, depth, 'string')})"

    def _stmt_truthy(self, scope: Scope, depth: int) -> str:
        return self.term(scope, depth)

    def _stmt_with(self, scope: Scope, depth: int) -> str:
        target = self.pick(["input", "input.a", "input.s", "data.d.a"])
        value = self._term_literal(Scope(), depth + 1)
        subject = self._term_rule(scope, depth) if self.rules else self._term_input(scope, depth)
        return f"{subject} with {target} as {value}"

    def body(self, scope: Scope) -> str:
        count = self.draw(st.integers(1, 3))
        statements = [self.statement(scope) for _ in range(count)]
        # OPA refuses a `some` variable nothing uses; most bodies use theirs.
        for name in scope.declared:
            if name not in scope.used and self.pick((True,) * 9 + (False,)):
                statements.append(f"{name} != {{}}")
        return "; ".join(statements)

    # -- rules ---------------------------------------------------------------------------------

    def function(self, name: str) -> str:
        scope = Scope(["x"])
        body = self.body(scope)
        value = self.term(scope)
        text = f"{name}(x) := {value} if {{ {body} }}"
        if self.draw(st.booleans()):
            text += f" else := {self.plain_literal()}"
        self.functions.append(name)
        return text

    def rule(self, name: str) -> list[str]:
        kind = self.pick(["complete", "boolean", "else", "set", "object", "multi"])
        scope = Scope()
        lines = []
        if self.draw(st.integers(0, 2)) == 0 and kind in ("complete", "boolean", "else"):
            lines.append(f"default {name} := {self.plain_literal()}")
        if kind == "boolean":
            lines.append(f"{name} if {{ {self.body(scope)} }}")
        elif kind == "complete":
            body = self.body(scope)
            lines.append(f"{name} := {self.term(scope)} if {{ {body} }}")
        elif kind == "else":
            first = self.body(scope)
            value = self.term(scope)
            second_scope = Scope(counter=scope.counter)
            second = self.body(second_scope)
            lines.append(
                f"{name} := {value} if {{ {first} }} else := {self.term(second_scope)} if {{ {second} }}"
                f" else := {self.plain_literal()}"
            )
        elif kind == "set":
            body = self.body(scope)
            lines.append(f"{name} contains {self.term(scope)} if {{ {body} }}")
        elif kind == "object":
            body = self.body(scope)
            lines.append(f"{name}[{self.term(scope, 2)}] := {self.term(scope)} if {{ {body} }}")
        else:  # several definitions of one complete rule
            for _ in range(2):
                inner = Scope(counter=scope.counter)
                body = self.body(inner)
                lines.append(f"{name} := {self.term(inner)} if {{ {body} }}")
        self.rules.append(name)
        return lines


@st.composite
def modules(draw: Any) -> str:
    builder = ModuleBuilder(draw)
    lines = ["package g", ""]
    for index in range(draw(st.integers(0, 2))):
        lines.append(builder.function(f"f{index}"))
    for index in range(draw(st.integers(1, 4))):
        lines.extend(builder.rule(f"r{index}"))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    module: str
    input: dict[str, Any]
    data: dict[str, Any]


cases = st.builds(Case, modules(), documents, st.builds(lambda d: {"d": d}, documents))

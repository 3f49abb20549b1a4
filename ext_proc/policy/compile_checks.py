"""The checks OPA's compiler runs over every module, done at load over regorus's AST.

regorus checks names and safety lazily, for the rules an evaluation reaches, so a policy with an
unsafe variable in a rule nobody evaluated yet loads there and fails in OPA (or at request time).
OPA refuses it at compile time. This module reports, with file and line, what OPA reports then:

- ``rego_unsafe_var_error``: a variable no expression binds (safety, with OPA's reordering);
- ``rego_compile_error``: a ``some x`` or ``every`` variable never used; a ``:=`` of a name declared
  above;
- ``rego_type_error``: an undefined function, a wrong number of arguments, an argument literal of
  a kind the builtin does not take, a deprecated builtin (Rego v1), conflicting rules (complete
  and partial, functions of different arities), several ``default`` rules;
- ``rego_recursion_error``: a rule that depends on itself.

A builtin OPA has but the embedded engine lacks is refused here too, rather than at request time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ext_proc.policy import rego_types
from ext_proc.policy.builtin_signatures import DEPRECATED, RESULTS, SIGNATURES, UNSUPPORTED, VOID
from ext_proc.policy.builtins import EXTENSIONS
from ext_proc.policy.negation import hoisted_operands
from ext_proc.policy.rego_ast import ref_parts, rule_head_ref, span_text

Node = dict[str, Any]

LITERAL_KINDS = {
    "String": "string",
    "RawString": "string",
    "Number": "number",
    "Bool": "boolean",
    "Null": "null",
    "Array": "array",
    "ArrayCompr": "array",
    "Set": "set",
    "SetCompr": "set",
    "Object": "object",
    "ObjectCompr": "object",
}
ARITH_BUILTINS = {"Add": "plus", "Sub": "minus", "Mul": "mul", "Div": "div", "Mod": "rem"}
SET_BUILTINS = {"Union": "or", "Intersection": "and"}
ROOTS = ("input", "data")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.code}: {self.message}"


@dataclass
class _Package:
    path: str
    names: set[str] = field(default_factory=set)
    functions: dict[str, set[int]] = field(default_factory=dict)
    heads: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # name -> (kind, file, line)
    value_kinds: dict[str, set[str | None]] = field(default_factory=dict)  # complete rules' value kinds
    element_kinds: dict[str, set[str | None]] = field(default_factory=dict)  # partial sets' elements
    key_kinds: dict[str, set[str | None]] = field(default_factory=dict)  # ref heads' first keys

    def rule_type(self, name: str) -> rego_types.Type:
        """A rule's type: a partial set of literal elements is a set of their kinds."""
        kinds = self.rule_kinds(name)
        elements = self.element_kinds.get(name)
        if kinds == {"set"} and elements and None not in elements:
            return rego_types.Set(rego_types.of_kinds({k for k in elements if k is not None}))
        keys = self.key_kinds.get(name)
        if kinds == {"object"} and keys and None not in keys:
            key_type = rego_types.of_kinds({k for k in keys if k is not None})
            return rego_types.Object((), rego_types.ANY, key_type)
        return rego_types.of_kinds(kinds)

    def rule_kinds(self, name: str) -> set[str] | None:
        """The kinds a complete rule's value can have, when every definition is a literal; a
        partial set is a set, a rule whose head is a reference (``r[k] := v``) an object."""
        heads = {kind for kind, _, _ in self.heads.get(name, [])}
        if heads == {"set"}:
            return {"set"}
        if heads == {"ref"}:
            return {"object"}
        kinds = self.value_kinds.get(name)
        if not kinds or None in kinds:
            return None
        if {kind for kind, _, _ in self.heads.get(name, [])} - {"complete", "default"}:
            return None
        return {k for k in kinds if k is not None}


@dataclass
class _Module:
    file: str
    source: str
    package: _Package
    imports: dict[str, list[str]]  # alias -> full path parts


def check_modules(modules: list[Node], *, rego_version: str = "v1") -> list[Problem]:
    packages = _collect_packages(modules)
    all_functions = {
        f"{p.path}.{name}": arities for p in packages.values() for name, arities in p.functions.items()
    }
    problems: list[Problem] = []
    for package in packages.values():
        problems += _conflicts(package)
    for module in modules:
        info = _module_info(module, packages)
        checker = _RuleChecker(info, all_functions, rego_version)
        for rule in module["ast"]["rules"]:
            checker.check_rule(rule)
        problems += checker.problems
    problems += _recursion(modules, packages)
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.code, p.message))


# -- packages, rule kinds and conflicts --------------------------------------------------------


def _package_path(module: Node) -> str:
    return "data." + ".".join(ref_parts(module["ast"]["package"]["refr"]))


def _head_kind(rule: Node) -> tuple[str, str]:
    """(name, kind) of a rule: complete, default, set, ref (a ref head), or function/N."""
    if "Default" in rule:
        default = rule["Default"]
        parts = ref_parts(default["refr"])
        if default.get("args"):
            return parts[0], f"function/{len(default['args'])}"
        return parts[0], "default"
    head = rule["Spec"]["head"]
    variant, node = next(iter(head.items()))
    refr = node["refr"]
    parts = ref_parts(refr)
    name = parts[0] if parts else "?"
    if variant == "Func":
        return name, f"function/{len(node['args'])}"
    if variant == "Set":
        return name, "set"
    single = "Var" in refr
    return name, "complete" if single else "ref"


def _value_kinds(rule: Node) -> set[str | None]:
    """The literal kinds of a rule's values (None for a value that is not a literal)."""
    if "Default" in rule:
        return {LITERAL_KINDS.get(next(iter(rule["Default"]["value"])))}
    spec = rule["Spec"]
    head = next(iter(spec["head"].values()))
    values = [head["assign"]["value"]] if head.get("assign") else []
    values += [body["assign"]["value"] for body in spec["bodies"] if body.get("assign")]
    kinds: set[str | None] = set()
    for value in values:
        kinds |= (
            _builtin_result_kinds(value)
            or _difference_kinds(value)
            or {_operator_kind(value) or LITERAL_KINDS.get(next(iter(value)))}
        )
    return kinds or {"boolean"}  # `r if { ... }` is true


def _difference_kinds(value: Node) -> set[str | None]:
    """``a - b`` is a number or a set (set difference)."""
    kind, inner = next(iter(value.items()))
    return {"number", "set"} if kind == "ArithExpr" and inner["op"] == "Sub" else set()


def _first_key_kind(rule: Node) -> str | None:
    """The literal kind of the first key under a ref head's name (``o[null] := 1``, ``a.b := 1``)."""
    refr = rule_head_ref(rule)
    while True:
        kind, node = next(iter(refr.items()))
        if kind not in ("RefDot", "RefBrack") or "Var" in node["refr"]:
            break
        refr = node["refr"]
    if kind == "RefDot":
        return "string"
    if kind == "RefBrack":
        return LITERAL_KINDS.get(next(iter(node["index"])))
    return None


def _element_kind(rule: Node) -> str | None:
    """The literal kind of a partial set rule's element (``s contains "a"``), else None."""
    key = rule["Spec"]["head"]["Set"].get("key")
    return LITERAL_KINDS.get(next(iter(key))) if key else None


def _builtin_result_kinds(value: Node) -> set[str | None]:
    """The kinds a builtin's result can have, for a value that is a call of one (else empty).
    A package function of the same name would shadow it; OPA refuses that, so it is not one."""
    kind, inner = next(iter(value.items()))
    if kind != "Call":
        return set()
    result = RESULTS.get(".".join(ref_parts(inner["fcn"])))
    return set(result.split("|")) if result and result != "any" else set()


def _operator_kind(value: Node) -> str | None:
    """The kind an operator's result always has: sets for ``|`` and ``&``, numbers for the
    arithmetic operators other than ``-`` (which is also set difference)."""
    kind, node = next(iter(value.items()))
    if kind == "BinExpr":
        return "set"
    if kind == "ArithExpr" and node["op"] != "Sub":
        return "number"
    return None


def _collect_packages(modules: list[Node]) -> dict[str, _Package]:
    packages: dict[str, _Package] = {}
    for module in modules:
        path = _package_path(module)
        package = packages.setdefault(path, _Package(path))
        file = module["source"]["file"]
        for rule in module["ast"]["rules"]:
            name, kind = _head_kind(rule)
            package.names.add(name)
            package.heads.setdefault(name, []).append((kind, file, _line(rule)))
            if kind.startswith("function/"):
                package.functions.setdefault(name, set()).add(int(kind.split("/")[1]))
            package.value_kinds.setdefault(name, set()).update(_value_kinds(rule))
            if kind == "set":
                package.element_kinds.setdefault(name, set()).add(_element_kind(rule))
            if kind == "ref":
                package.key_kinds.setdefault(name, set()).add(_first_key_kind(rule))
    return packages


def _line(node: Node) -> int:
    inner = (
        next(iter(node.values())) if len(node) == 1 and isinstance(next(iter(node.values())), dict) else node
    )
    span = inner.get("span") if isinstance(inner, dict) else None
    return int(span["line"]) if span else 0


def _conflicts(package: _Package) -> list[Problem]:
    problems = []
    for name, heads in package.heads.items():
        kinds = {kind for kind, _, _ in heads}
        file, line = heads[0][1], heads[0][2]
        defaults = [h for h in heads if h[0] == "default"]
        if len(defaults) > 1:
            where = ", ".join(f"{f}:{ln}" for _, f, ln in defaults)
            problems.append(
                Problem(
                    file,
                    line,
                    "rego_type_error",
                    f"multiple default rules {package.path}.{name} found at {where}",
                )
            )
        values = kinds - {"default"}
        functions = {k for k in values if k.startswith("function/")}
        conflicting = (
            len(functions) > 1
            or bool(functions and values - functions)
            or ("set" in values and values != {"set"})
            or ("complete" in values and "ref" in values)
        )
        if conflicting:
            problems.append(
                Problem(file, line, "rego_type_error", f"conflicting rules {package.path}.{name} found")
            )
    return problems


def _module_info(module: Node, packages: dict[str, _Package]) -> _Module:
    source = module["source"]["contents"]
    imports: dict[str, list[str]] = {}
    for node in module["ast"].get("imports", []):
        parts = ref_parts(node["refr"])
        if not parts or parts[0] not in ROOTS:
            continue  # rego.v1, future.keywords
        alias = span_text(source, node["as"]) if node.get("as") else parts[-1]
        imports[alias] = parts
    return _Module(module["source"]["file"], source, packages[_package_path(module)], imports)


def global_names(module: Node, modules: list[Node]) -> set[str]:
    """Names that do not denote local variables in ``module``: rules of its package, imports, roots."""
    path = _package_path(module)
    names = set(ROOTS)
    for other in modules:
        if _package_path(other) == path:
            names.update(_head_kind(rule)[0] for rule in other["ast"]["rules"])
    source = module["source"]["contents"]
    for node in module["ast"].get("imports", []):
        parts = ref_parts(node["refr"])
        if parts and parts[0] in ROOTS:
            names.add(span_text(source, node["as"]) if node.get("as") else parts[-1])
    return names


# -- rules and bodies --------------------------------------------------------------------------


@dataclass
class _Analysis:
    """What one expression needs bound, and binds, given the variables bound so far."""

    needs: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    # What its comprehensions need from the body: OPA wants those bound by another expression
    # before this one (reorderBodyForClosures), never by this expression's own references.
    closure: set[str] = field(default_factory=set)

    def all_needs(self) -> set[str]:
        return self.needs | self.closure


class _RuleChecker:
    def __init__(self, module: _Module, functions: dict[str, set[int]], rego_version: str) -> None:
        self.module = module
        self.functions = functions
        self.rego_version = rego_version
        self.problems: list[Problem] = []
        # OPA's type checker does not look inside `every` bodies (comprehensions there it does).
        self.kinds_checked = [True]
        # The types of the local variables (OPA's checker infers them from what binds them),
        # one scope per body being checked: a comprehension's body sees the enclosing one's.
        self.var_types: list[dict[str, rego_types.Type]] = [{}]

    def problem(self, node: Node | None, code: str, message: str) -> None:
        line = _line(node) if node else 0
        self.problems.append(Problem(self.module.file, line, code, message))

    def is_global(self, name: str) -> bool:
        return name in ROOTS or name in self.module.package.names or name in self.module.imports

    def check_rule(self, rule: Node) -> None:
        if "Default" in rule:
            self.check_body([], set(), [rule["Default"]["value"]], rule)
            return
        spec = rule["Spec"]
        variant, head = next(iter(spec["head"].items()))
        args: set[str] = set()
        if variant == "Func":
            for arg in head["args"]:
                args |= self.pattern_vars(arg)
        head_terms = self.head_terms(variant, head)
        bodies = spec["bodies"] or [None]
        for body in bodies:
            terms = list(head_terms)
            if body is not None and body.get("assign"):
                terms = (
                    [*terms[:-1], body["assign"]["value"]]
                    if head.get("assign")
                    else [body["assign"]["value"]]
                )
            statements = body["query"]["stmts"] if body is not None else []
            self.check_body(statements, set(args), terms, rule)

    def head_terms(self, variant: str, head: Node) -> list[Node]:
        terms: list[Node] = []
        refr = head["refr"]
        while "RefBrack" in refr:
            terms.append(refr["RefBrack"]["index"])
            refr = refr["RefBrack"]["refr"]
        if variant == "Set" and head.get("key"):
            terms.append(head["key"])
        if head.get("assign"):
            terms.append(head["assign"]["value"])
        return terms

    # -- safety: OPA reorders a body so that every expression runs once its inputs are bound ----

    def check_body(self, statements: list[Node], bound: set[str], outputs: list[Node], owner: Node) -> None:
        """Report the unsafe variables of a body and of the terms that use its bindings."""
        self.check_queries(statements, outputs)
        self.check_closure_order(statements, bound)
        self.var_types = [{}]
        self.bind_types(statements)
        bound, pending = self.schedule(statements, bound)
        for statement in pending:
            analysis = self.statement(statement, bound) or _Analysis()
            for name in sorted(analysis.needs - bound):
                self.problem(statement, "rego_unsafe_var_error", f"var {name} is unsafe")
        for term in outputs:
            for name in sorted(self.term(term, bound).all_needs() - bound):
                self.problem(owner, "rego_unsafe_var_error", f"var {name} is unsafe")

    def schedule(self, statements: list[Node], bound: set[str]) -> tuple[set[str], list[Node]]:
        """Run the statements in an order where each has its inputs: (bound after, unschedulable)."""
        bound = set(bound)
        pending = list(statements)
        progress = True
        while pending and progress:
            progress = False
            for statement in list(pending):
                analysis = self.statement(statement, bound)
                if analysis is not None and analysis.needs <= bound:
                    bound |= analysis.binds
                    pending.remove(statement)
                    progress = True
        return bound, pending

    def nested_needs(self, statements: list[Node], bound: set[str], outputs: list[Node]) -> set[str]:
        """The outer variables a nested body (comprehension, every) needs bound."""
        self.check_closure_order(statements, bound)
        self.var_types.append(dict(self.var_types[-1]))
        try:
            self.bind_types(statements)
            inner_bound, pending = self.schedule(statements, bound)
            needs: set[str] = set()
            for statement in pending:
                needs |= (self.statement(statement, inner_bound) or _Analysis()).needs - inner_bound
            for term in outputs:
                needs |= self.term(term, inner_bound).all_needs() - inner_bound
        finally:
            self.var_types.pop()
        return needs

    def check_closure_order(self, statements: list[Node], outer: set[str]) -> None:
        """OPA refuses an expression (a comparison, a membership, a call or a bare term, not an
        assignment or a negation) whose comprehensions close over exactly the variables its own
        references iterate with: it then checks the comprehensions before the expression that
        binds those variables, and reports every variable of the expression as unsafe, even
        when an earlier expression binds them (measured against OPA 1.20, see
        tests/unit/policy/test_compile_checks.py)."""
        body_vars = set(_var_names(statements, comprehensions=False)) - outer - {"_"}
        for statement in statements:
            kind, node = next(iter(statement["literal"].items()))
            if kind != "Expr" or "AssignExpr" in node["expr"]:
                continue
            closed: set[str] = set()
            indexes: set[str] = set()
            self._closure_parts(node["expr"], closed, indexes, top=True)
            closed = {name for name in closed & body_vars if not self.is_global(name)}
            if not closed or closed != indexes:
                continue
            names = set(_var_names([node["expr"], statement.get("with_mods")], comprehensions=False))
            for name in sorted(names & body_vars):
                if not self.is_global(name):
                    self.problem(statement, "rego_unsafe_var_error", f"var {name} is unsafe")

    def _closure_parts(self, node: Node, closed: set[str], indexes: set[str], top: bool = False) -> None:
        """The variables of the comprehensions directly in an expression, and the index variables
        of its references. Calls nested in it do not count: OPA evaluates them first, apart."""
        kind, inner = next(iter(node.items()))
        if kind in ("ArrayCompr", "SetCompr", "ObjectCompr"):
            closed.update(_var_names(inner))
        elif kind == "RefBrack":
            index = inner["index"]
            if "Var" in index and not self.is_global(index["Var"]["value"]):
                indexes.add(index["Var"]["value"])
            refr = inner["refr"]
            if next(iter(refr)) in ("RefBrack", "RefDot"):
                self._closure_parts(refr, closed, indexes)
        elif kind == "RefDot":
            self._closure_parts(inner["refr"], closed, indexes)
        elif kind in ("Array", "Set"):
            for item in inner["items"]:
                self._closure_parts(item, closed, indexes)
        elif kind == "Object":
            for _, key, value in inner["fields"]:
                self._closure_parts(key, closed, indexes)
                self._closure_parts(value, closed, indexes)
        elif top and kind == "BoolExpr":
            self._closure_parts(inner["lhs"], closed, indexes)
            self._closure_parts(inner["rhs"], closed, indexes)
        elif top and kind == "Membership":
            for part in ("key", "value", "collection"):
                if inner.get(part) is not None:
                    self._closure_parts(inner[part], closed, indexes)
        elif top and kind == "Call":
            for param in inner["params"]:
                self._closure_parts(param, closed, indexes)

    def check_queries(self, statements: list[Node], outputs: list[Node]) -> None:
        """Declaration checks for this body and every body nested in it (once each)."""
        self.check_declarations(statements, outputs)
        for nested, nested_outputs in _nested_queries([*statements, *outputs]):
            self.check_declarations(nested, nested_outputs)

    def statement(self, statement: Node, bound: set[str]) -> _Analysis | None:
        literal = statement["literal"]
        kind, node = next(iter(literal.items()))
        analysis = _Analysis()
        if kind == "Expr":
            analysis = self.expression(node["expr"], bound)
        elif kind == "NotExpr":
            inner = self.expression(node["expr"], bound)
            analysis.needs = inner.all_needs() | inner.binds
        elif kind == "SomeVars":
            return _Analysis()
        elif kind == "SomeIn":
            analysis = self.term(node["collection"], bound)
            for part in (node.get("key"), node.get("value")):
                if part is not None:
                    target = self.pattern_vars(part) if _is_pattern(part) else set()
                    analysis.binds |= {v for v in target if v not in bound}
                    if not _is_pattern(part):
                        analysis.needs |= self.term(part, bound).needs
        elif kind == "Every":
            analysis = self.every(node, bound)
        for modifier in statement.get("with_mods") or []:
            analysis.needs |= self.term(modifier["as"], bound).needs
        analysis.needs -= analysis.binds
        analysis.needs |= analysis.closure
        return analysis

    def every(self, node: Node, bound: set[str]) -> _Analysis:
        analysis = self.term(node["domain"], bound)
        local = {span_text(self.module.source, p) for p in (node.get("key"), node.get("value")) if p}
        self.kinds_checked.append(False)
        try:
            analysis.needs |= self.nested_needs(node["query"]["stmts"], bound | local, [])
        finally:
            self.kinds_checked.pop()
        return analysis

    def expression(self, expr: Node, bound: set[str]) -> _Analysis:
        kind, node = next(iter(expr.items()))
        if kind == "AssignExpr":
            rhs = self.term(node["rhs"], bound)
            lhs = self.term(node["lhs"], bound)
            if node["op"] == "ColEq":
                targets = self.pattern_vars(node["lhs"])
                return _Analysis(
                    rhs.needs | (lhs.needs - targets), targets | rhs.binds, lhs.closure | rhs.closure
                )
            self.check_match(expr, node["lhs"], node["rhs"])
            return self.unify(node["lhs"], node["rhs"], bound, lhs, rhs)
        return self.term(expr, bound)

    def bind_types(self, statements: list[Node]) -> None:
        """Give the variables a body binds the types of what binds them, in order: ``x := t``,
        ``x = t``, ``[x, y] := t`` and ``some k, v in t``, as OPA's checker does."""
        scope = self.var_types[-1]
        for statement in statements:
            kind, node = next(iter(statement["literal"].items()))
            if kind == "SomeIn":
                collection = self.type_of(node["collection"])
                self.bind_pattern(node["value"], rego_types.element(collection), scope)
                if node.get("key") is not None:
                    self.bind_pattern(node["key"], rego_types.key(collection), scope)
            elif kind == "Expr" and "AssignExpr" in node["expr"]:
                assign = node["expr"]["AssignExpr"]
                lhs, rhs = assign["lhs"], assign["rhs"]
                if assign["op"] == "ColEq":
                    self.bind_pattern(lhs, self.type_of(rhs), scope, declare=True)
                elif self.binds_locals(lhs, scope) and not self.binds_locals(rhs, scope):
                    self.bind_pattern(lhs, self.type_of(rhs), scope)
                elif self.binds_locals(rhs, scope) and not self.binds_locals(lhs, scope):
                    self.bind_pattern(rhs, self.type_of(lhs), scope)

    def binds_locals(self, term: Node, scope: dict[str, rego_types.Type]) -> bool:
        """A side of ``=`` that can bind: a pattern with a local not typed yet (a rule's name,
        ``r0`` in ``v = r0``, is a value)."""
        return _is_pattern(term) and any(name not in scope for name in self.pattern_vars(term))

    def bind_pattern(
        self, pattern: Node, value: rego_types.Type, scope: dict[str, rego_types.Type], declare: bool = False
    ) -> None:
        kind, inner = next(iter(pattern.items()))
        if kind == "Var":
            name = inner["value"]
            if name != "_" and not self.is_global(name) and (declare or name not in scope):
                scope[name] = value
        elif kind == "Array":
            for index, item in enumerate(inner["items"]):
                self.bind_pattern(item, rego_types.select(value, index), scope, declare)

    def type_of(self, node: Node) -> rego_types.Type:
        """The type OPA's checker gives a term: literals, builtin results, local variables,
        elements of typed collections, rules whose every value is a literal; else any."""
        kind, inner = next(iter(node.items()))
        if kind == "Var":
            name = inner["value"]
            if name in self.var_types[-1]:
                return self.var_types[-1][name]
            if name in self.module.package.names:
                return self.module.package.rule_type(name)
            return rego_types.ANY
        if kind == "RefDot":
            return rego_types.select(self.type_of(inner["refr"]), inner["field"][1])
        if kind == "RefBrack":
            base = self.type_of(inner["refr"])
            index_kind, index = next(iter(inner["index"].items()))
            if index_kind in ("String", "Number") and isinstance(index.get("value"), str | int):
                return rego_types.select(base, index["value"])
            return rego_types.element(base)
        if kind == "Array":
            items = tuple(self.type_of(item) for item in inner["items"])
            return rego_types.Array(items, None) if items else rego_types.Array((), rego_types.ANY)
        if kind == "Set":
            members = [self.type_of(item) for item in inner["items"]]
            return rego_types.Set(rego_types.union(members) if members else rego_types.ANY)
        if kind == "Object":
            fields = inner["fields"]
            if fields and all("String" in key for _, key, _ in fields):
                typed = {key["String"]["value"]: self.type_of(value) for _, key, value in fields}
                return rego_types.Object(tuple(sorted(typed.items())), None)
            return rego_types.Object((), rego_types.ANY)
        if kind in ("ArrayCompr", "SetCompr", "ObjectCompr"):
            return self.comprehension_type(kind, inner)
        return rego_types.of_kinds(self.kinds_of(node))

    def comprehension_type(self, kind: str, inner: Node) -> rego_types.Type:
        """OPA types a comprehension's elements (keys) from its body, as it types a body."""
        self.var_types.append(dict(self.var_types[-1]))
        try:
            self.bind_types(inner["query"]["stmts"])
            if kind == "ObjectCompr":
                key, value = self.type_of(inner["key"]), self.type_of(inner["value"])
                return rego_types.Object((), value, key)
            element = self.type_of(inner["term"])
        finally:
            self.var_types.pop()
        return rego_types.Array((), element) if kind == "ArrayCompr" else rego_types.Set(element)

    def kinds_of(self, node: Node) -> set[str] | None:
        """The kinds of value OPA's type checker knows a term can have; None for any."""
        kind, inner = next(iter(node.items()))
        if kind in (
            "Var",
            "RefDot",
            "RefBrack",
            "Array",
            "Set",
            "Object",
            "ArrayCompr",
            "SetCompr",
            "ObjectCompr",
        ):
            return rego_types.kinds(self.type_of(node))
        if kind == "Call":
            parts = ref_parts(inner["fcn"])
            function = self.user_function(parts)
            if function is not None:
                name = function.rsplit(".", 1)[1]
                own = function == f"{self.module.package.path}.{name}"
                kinds = self.module.package.value_kinds.get(name) if own else None
                return {k for k in kinds if k} if kinds and None not in kinds else None
            result = RESULTS.get(".".join(parts))
            return set(result.split("|")) if result else None
        if kind == "ArithExpr":
            return {"number"} if inner["op"] != "Sub" else {"number", "set"}
        if kind in ("BoolExpr", "Membership"):
            return {"boolean"}
        if kind == "BinExpr":  # `|` and `&`: set union and intersection
            return {"set"}
        literal = LITERAL_KINDS.get(kind)
        return {literal} if literal else None

    def check_ref(self, node: Node, base: Node, index: Any) -> None:
        """A literal key a value of the base's type cannot have: OPA's ``undefined ref`` (also
        inside ``every`` bodies, where it checks no types otherwise)."""
        if not rego_types.has_key(self.type_of(base), index):
            self.problem(node, "rego_type_error", f"undefined ref: [{index!r}]")

    def check_match(self, node: Node, left: Node, right: Node) -> None:
        """``==`` and ``=`` of terms whose types cannot hold one value: OPA refuses it."""
        if not self.kinds_checked[-1]:
            return
        first, second = self.type_of(left), self.type_of(right)
        if not rego_types.unifies(first, second):
            have = f"{rego_types.describe(first)} and {rego_types.describe(second)}"
            self.problem(node, "rego_type_error", f"match error: {have}")

    def unify(self, left: Node, right: Node, bound: set[str], lhs: _Analysis, rhs: _Analysis) -> _Analysis:
        produced = lhs.binds | rhs.binds
        closure = lhs.closure | rhs.closure
        left_free = {v for v in self.pattern_vars(left) if v not in bound} if _is_pattern(left) else set()
        right_free = {v for v in self.pattern_vars(right) if v not in bound} if _is_pattern(right) else set()
        if left_free and (rhs.needs - produced) <= bound:
            return _Analysis((lhs.needs | rhs.needs) - left_free, produced | left_free, closure)
        if right_free and (lhs.needs - produced) <= bound:
            return _Analysis((lhs.needs | rhs.needs) - right_free, produced | right_free, closure)
        return _Analysis(lhs.needs | rhs.needs, produced, closure)

    def pattern_vars(self, node: Node) -> set[str]:
        kind, inner = next(iter(node.items()))
        if kind == "Var":
            name = inner["value"]
            return set() if name == "_" or self.is_global(name) else {name}
        if kind in ("Array", "Set"):
            return {v for item in inner["items"] for v in self.pattern_vars(item)}
        if kind == "Object":
            return {v for field_ in inner["fields"] for v in self.pattern_vars(field_[2])}
        return set()

    # -- terms ---------------------------------------------------------------------------------

    def term(self, node: Node, bound: set[str]) -> _Analysis:
        analysis = _Analysis()
        self._walk(node, bound, analysis)
        analysis.needs -= analysis.binds
        return analysis

    def _walk(self, node: Node, bound: set[str], out: _Analysis) -> None:
        kind, inner = next(iter(node.items()))
        if kind == "Var":
            name = inner["value"]
            if name != "_" and name not in bound and not self.is_global(name):
                out.needs.add(name)
        elif kind == "RefDot":
            self._walk(inner["refr"], bound, out)
            self.check_ref(node, inner["refr"], inner["field"][1])
        elif kind == "RefBrack":
            self._walk(inner["refr"], bound, out)
            index_kind, index = next(iter(inner["index"].items()))
            if index_kind in ("String", "Number"):
                self.check_ref(node, inner["refr"], index.get("value"))
            index = inner["index"]
            if "Var" in index and not self.is_global(index["Var"]["value"]):
                name = index["Var"]["value"]
                if name != "_" and name not in bound:
                    out.binds.add(name)  # iteration: the reference binds its index
            else:
                self._walk(index, bound, out)
        elif kind == "Call":
            self.call(node, inner, bound, out)
        elif kind in ("Array", "Set"):
            for item in inner["items"]:
                self._walk(item, bound, out)
        elif kind == "Object":
            for _, key, value in inner["fields"]:
                self._walk(key, bound, out)
                self._walk(value, bound, out)
        elif kind in ("ArrayCompr", "SetCompr", "ObjectCompr"):
            self.comprehension(kind, inner, bound, out)
        elif kind == "UnaryExpr":
            self._walk(inner["expr"], bound, out)
        elif kind in ("BinExpr", "ArithExpr", "BoolExpr"):
            self._walk(inner["lhs"], bound, out)
            self._walk(inner["rhs"], bound, out)
            if kind == "BoolExpr" and inner["op"] == "Eq":
                self.check_match(node, inner["lhs"], inner["rhs"])
            builtin = ARITH_BUILTINS.get(inner["op"]) or SET_BUILTINS.get(inner["op"])
            if builtin:
                self.check_argument_kinds(node, builtin, [inner["lhs"], inner["rhs"]])
        elif kind == "Membership":
            for part in ("key", "value", "collection"):
                if inner.get(part) is not None:
                    self._walk(inner[part], bound, out)
        elif kind == "AssignExpr":
            self._walk(inner["lhs"], bound, out)
            self._walk(inner["rhs"], bound, out)

    def comprehension(self, kind: str, inner: Node, bound: set[str], out: _Analysis) -> None:
        heads = [inner["key"], inner["value"]] if kind == "ObjectCompr" else [inner["term"]]
        self.kinds_checked.append(True)
        try:
            out.closure |= self.nested_needs(inner["query"]["stmts"], bound, heads)
        finally:
            self.kinds_checked.pop()

    def call(self, node: Node, inner: Node, bound: set[str], out: _Analysis) -> None:
        params = inner["params"]
        parts = ref_parts(inner["fcn"])
        name = ".".join(parts)
        arity = self.arity(node, parts, name, len(params))
        for index, param in enumerate(params):
            if arity is not None and index == arity and index == len(params) - 1 and _is_pattern(param):
                out.binds |= {v for v in self.pattern_vars(param) if v not in bound}  # output argument
            else:
                self._walk(param, bound, out)
        if arity is not None and name in SIGNATURES and not self.user_function(parts):
            self.check_argument_kinds(node, name, params[:arity])

    def user_function(self, parts: list[str]) -> str | None:
        if not parts:
            return None
        if parts[0] in self.module.package.functions and len(parts) == 1:
            return f"{self.module.package.path}.{parts[0]}"
        if parts[0] in self.module.imports:
            parts = [*self.module.imports[parts[0]], *parts[1:]]
        elif parts[0] in self.module.package.names:
            parts = [*self.module.package.path.split("."), *parts]
        path = ".".join(parts)
        return path if path in self.functions else None

    def arity(self, node: Node, parts: list[str], name: str, given: int) -> int | None:
        function = self.user_function(parts)
        if function is not None:
            arities = self.functions[function]
            if not any(given in (a, a + 1) for a in arities):
                want = min(arities)
                self.problem(
                    node, "rego_type_error", f"function {function} has arity {want}, got {given} arguments"
                )
            return min(arities)
        if name in VOID:
            return given
        if name in EXTENSIONS:
            want = EXTENSIONS[name][0]
        elif name in SIGNATURES:
            if name in UNSUPPORTED:
                self.problem(
                    node, "rego_type_error", f"builtin {name} is not supported by the embedded engine"
                )
                return None
            want = len(SIGNATURES[name].split(",")) if SIGNATURES[name] else 0
        else:
            self.problem(node, "rego_type_error", f"undefined function {name}")
            return None
        if name in DEPRECATED and self.rego_version == "v1" and self.kinds_checked[-1]:
            self.problem(node, "rego_type_error", f"deprecated built-in function calls in expression: {name}")
        if given not in (want, want + 1):
            self.problem(
                node, "rego_type_error", f"{name}: arity mismatch: have {given} arguments, want {want}"
            )
            return None
        return want

    def check_argument_kinds(self, node: Node, name: str, args: list[Node]) -> None:
        if not self.kinds_checked[-1]:
            return
        signature = SIGNATURES.get(name, "")
        wanted = signature.split(",") if signature else []
        for arg, kinds in zip(args, wanted, strict=False):
            accepted = set(kinds.split("|"))
            have = self.kinds_of(arg)
            if have is not None and "any" not in accepted and not have & accepted:
                detail = f"have {'|'.join(sorted(have))}, want {kinds}"
                self.problem(node, "rego_type_error", f"{name}: invalid argument(s): {detail}")

    # -- declarations ----------------------------------------------------------------------------

    def check_declarations(self, statements: list[Node], outputs: list[Node]) -> None:
        """``some x`` or an ``every`` variable never used, and ``x := ...`` twice in one body."""
        used = _var_counts([*statements, *outputs])
        assigned: set[str] = set()
        for statement in statements:
            kind, node = next(iter(statement["literal"].items()))
            declared: list[str] = []
            if kind == "SomeVars":
                declared = [span_text(self.module.source, span) for span in node["vars"]]
            elif kind == "SomeIn":
                declared = [
                    n
                    for part in (node.get("key"), node.get("value"))
                    if part
                    for n in self.pattern_vars(part)
                ]
            elif kind == "Every":
                inside = _var_counts(node["query"]["stmts"])
                for part in (node.get("key"), node.get("value")):
                    name = span_text(self.module.source, part) if part else "_"
                    if name != "_" and not inside.get(name):
                        self.problem(statement, "rego_compile_error", f"declared var {name} unused")
            for name in declared:
                if name != "_" and not used.get(name):
                    self.problem(statement, "rego_compile_error", f"declared var {name} unused")
            if kind == "NotExpr" and not statement.get("with_mods"):
                # OPA evaluates these operands before the negation: a wildcard there is unbound.
                for operand in hoisted_operands(node["expr"], lambda name: not self.is_global(name)):
                    if "_" in set(_var_names(operand, comprehensions=False)):
                        self.problem(statement, "rego_unsafe_var_error", "var _ is unsafe")
            if (
                kind == "Expr"
                and "AssignExpr" in node["expr"]
                and node["expr"]["AssignExpr"]["op"] == "ColEq"
            ):
                for name in self.pattern_vars(node["expr"]["AssignExpr"]["lhs"]):
                    if name in assigned:
                        self.problem(statement, "rego_compile_error", f"var {name} assigned above")
                    assigned.add(name)


def _nested_queries(node: Any) -> Iterator[tuple[list[Node], list[Node]]]:
    """(statements, head terms) of every comprehension and ``every`` body inside ``node``."""
    if isinstance(node, dict):
        for kind, inner in node.items():
            if kind in ("ArrayCompr", "SetCompr") and isinstance(inner, dict):
                yield inner["query"]["stmts"], [inner["term"]]
            elif kind == "ObjectCompr" and isinstance(inner, dict):
                yield inner["query"]["stmts"], [inner["key"], inner["value"]]
            elif kind == "Every" and isinstance(inner, dict):
                yield inner["query"]["stmts"], []
            if kind != "span":
                yield from _nested_queries(inner)
    elif isinstance(node, list):
        for item in node:
            yield from _nested_queries(item)


def _is_pattern(node: Node) -> bool:
    kind, inner = next(iter(node.items()))
    if kind == "Var":
        return True
    if kind == "Array":
        return all(_is_pattern(item) or next(iter(item)) in LITERAL_KINDS for item in inner["items"])
    if kind == "Object":
        return all(_is_pattern(f[2]) or next(iter(f[2])) in LITERAL_KINDS for f in inner["fields"])
    return False


def _var_counts(nodes: list[Node]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in _var_names(nodes):
        counts[name] = counts.get(name, 0) + 1
    return counts


def _var_names(node: Any, *, comprehensions: bool = True) -> Iterator[str]:
    if isinstance(node, dict):
        if "Var" in node and isinstance(node["Var"], dict) and "value" in node["Var"]:
            yield node["Var"]["value"]
        for key, value in node.items():
            if key != "span" and (comprehensions or key not in ("ArrayCompr", "SetCompr", "ObjectCompr")):
                yield from _var_names(value, comprehensions=comprehensions)
    elif isinstance(node, list):
        for item in node:
            yield from _var_names(item, comprehensions=comprehensions)


# -- recursion ---------------------------------------------------------------------------------


def _recursion(modules: list[Node], packages: dict[str, _Package]) -> list[Problem]:
    edges: dict[str, set[str]] = {}
    where: dict[str, tuple[str, int]] = {}
    for module in modules:
        package = packages[_package_path(module)]
        for rule in module["ast"]["rules"]:
            name = ref_parts(rule_head_ref(rule))[0]
            node = f"{package.path}.{name}"
            where.setdefault(node, (module["source"]["file"], _line(rule)))
            edges.setdefault(node, set()).update(_references(rule, package))
    problems = []
    for node in sorted(edges):
        path = _cycle_from(node, edges)
        if path:
            file, line = where[node]
            chain = " -> ".join(path)
            problems.append(Problem(file, line, "rego_recursion_error", f"rule {node} is recursive: {chain}"))
    return problems


def _references(rule: Node, package: _Package) -> set[str]:
    found = set()
    for name in _var_names(rule.get("Spec", {}).get("bodies", [])):
        if name in package.names:
            found.add(f"{package.path}.{name}")
    spec = rule.get("Spec")
    if spec:
        head = next(iter(spec["head"].values()))
        for name in _var_names([head.get("assign"), head.get("key")]):
            if name in package.names:
                found.add(f"{package.path}.{name}")
    return found


def _cycle_from(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for target in sorted(edges.get(node, ())):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None

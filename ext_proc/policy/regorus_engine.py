"""The embedded engine: regorus's tree-walking ``Engine`` (Rust Rego) in process.

Only the tree-walking engine answers. regorus's compiled evaluator (``Program`` run by an ``Rvm``)
is faster but not OPA-exact: it treats an assignment from an undefined reference, or a ``not``
over an undefined call, as satisfied, which turns a deny into an allow. It stays out of the
serving path; ``make bench`` measures it beside this engine (tests/bench/policy_engine.py).

Every engine is built the same way (``new_engine``): the builtins regorus lacks are registered as
extensions, OPA's (absent) line-length limit applies, and the configured Rego version is used.
A bundle is checked once before it is used (``check_bundle``): parse errors, the static checks OPA
runs at compile time (unsafe variables, unknown functions, arity, rule conflicts, recursion...),
and one evaluation of the decision, so that these fail at load, never at request time.

regorus objects are thread-affine (touching one from another thread panics) and hold the GIL, so
each thread that evaluates builds its own from the current bundle, on first use and after a
reload. In the service that is the event loop's thread; the reload watcher checks a candidate
bundle on its own thread first, so a broken bundle never reaches the loop.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Literal

import orjson
import regorus
import structlog

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy import big_results
from ext_proc.policy.builtins import register_extensions
from ext_proc.policy.bundle import PolicyBundle, PolicyLoadError
from ext_proc.policy.compile_checks import check_modules, global_names
from ext_proc.policy.engine import decision_rule
from ext_proc.policy.input_projection import InputProjection
from ext_proc.policy.negation import rewrite_module
from ext_proc.policy.rego_ast import defined_paths
from ext_proc.policy.rego_input import exact_input_literal

log = structlog.get_logger("chaperone.policy")

RegoVersion = Literal["v1", "v0"]
DEFAULT_REGO_VERSION: RegoVersion = "v1"

_MISSING_RULE = "not a valid rule path"
_CONFLICT_MARKERS = ("rule conflicts", "multiple outputs", "conflicting")
# OPA has no limit on line length, file size or line count; regorus's defaults refuse lines over
# 1,024 columns. These are the largest values its configuration accepts.
_NO_LIMIT_COLUMNS = 2**32 - 1
_NO_LIMIT_SIZE = 2**62


def new_engine(rego_version: RegoVersion = DEFAULT_REGO_VERSION) -> Any:
    """An empty engine configured as OPA: extensions, no length limit, the Rego version."""
    engine = regorus.Engine()
    engine.set_rego_v0(rego_version == "v0")
    engine.set_policy_length_config(
        max_col=_NO_LIMIT_COLUMNS, max_file_bytes=_NO_LIMIT_SIZE, max_lines=_NO_LIMIT_SIZE
    )
    engine.set_gather_prints(True)
    register_extensions(engine)
    return engine


def build_engine(bundle: PolicyBundle, rego_version: RegoVersion = DEFAULT_REGO_VERSION) -> Any:
    """A fresh engine holding the bundle's data and modules (on the calling thread).

    The modules are the ones OPA would run: negated calls rewritten (ext_proc/policy/negation.py).
    """
    engine = new_engine(rego_version)
    if bundle.data:
        engine.add_data_json(bundle.data_json.decode())
    for path, source in engine_modules(bundle.modules, rego_version):
        try:
            engine.add_policy(path, source)
        except RuntimeError as exc:
            raise PolicyLoadError(f"{path}: {engine_message(exc)}") from None
    return engine


@functools.lru_cache(maxsize=16)
def engine_modules(
    modules: tuple[tuple[str, str], ...], rego_version: RegoVersion
) -> tuple[tuple[str, str], ...]:
    """The modules with OPA's evaluation of ``not f(x)`` made explicit (parsed once per bundle)."""
    scratch = new_engine(rego_version)
    for path, source in modules:
        try:
            scratch.add_policy(path, source)
        except RuntimeError as exc:
            raise PolicyLoadError(f"{path}: {engine_message(exc)}") from None
    trees = {tree["source"]["file"]: tree for tree in orjson.loads(scratch.get_ast_as_json())}
    for path, _source in modules:
        line = big_results.mocked_line(trees[path])
        if line is not None:
            raise PolicyLoadError(
                f"{path}:{line}: `with {big_results.BUILTIN} as ...` is not supported by the embedded engine"
            )
    exact = tuple((path, big_results.rewrite_calls(source, trees[path])) for path, source in modules)
    if exact != modules:  # a builtin whose big integers need the helper function
        modules = (*exact, (big_results.HELPER_PATH, big_results.HELPER_SOURCE))
        scratch = new_engine(rego_version)
        for path, source in modules:
            scratch.add_policy(path, source)
        trees = {tree["source"]["file"]: tree for tree in orjson.loads(scratch.get_ast_as_json())}
    return tuple((path, _rewritten(source, trees.get(path), trees)) for path, source in modules)


def _rewritten(source: str, tree: dict[str, Any] | None, trees: dict[str, Any]) -> str:
    if tree is None:
        return source
    names = global_names(tree, list(trees.values()))
    packages, _rules = defined_paths(list(trees.values()))

    def is_virtual(path: str) -> bool:
        return any(path.startswith(p + ".") or p.startswith(path + ".") or p == path for p in packages)

    return rewrite_module(source, tree, lambda _statement: lambda name: name not in names, is_virtual)


def compile_engine(
    engine: Any,
    rego_version: RegoVersion = DEFAULT_REGO_VERSION,
    modules: tuple[tuple[str, str], ...] | None = None,
) -> None:
    """Run the compile-time checks, or raise PolicyLoadError naming file and line.

    regorus resolves names and checks safety lazily, rule by rule as they are evaluated; OPA
    checks every module when it compiles. ``check_modules`` does OPA's checks over regorus's
    AST, then regorus's own analysis runs over what it reaches.
    """
    written = engine
    if modules is not None:  # OPA's checks see the modules as written, not as rewritten
        written = new_engine(rego_version)
        for path, source in modules:
            written.add_policy(path, source)
    problems = check_modules(orjson.loads(written.get_ast_as_json()), rego_version=rego_version)
    if problems:
        raise PolicyLoadError("\n".join(str(problem) for problem in problems))
    try:
        engine.eval_query("true")  # regorus's own analysis, of the modules it will evaluate
    except RuntimeError as exc:
        raise PolicyLoadError(engine_message(exc)) from None


def engine_message(exc: BaseException) -> str:
    """regorus error text without the Rust backtrace, on one line."""
    text = str(exc).split("Stack backtrace:")[0]
    return " ".join(text.split())


class DecisionQuery:
    """How one decision path is evaluated on an engine, with OPA's semantics.

    A path that names a rule is evaluated with ``eval_rule`` (the cheapest call). Any other path
    OPA accepts (a partial object such as ``data.envoy.authz.result``, a package, a key inside a
    rule's value) goes through ``eval_query``, which is what OPA does for every path.
    ``eval_rule`` answers ``None`` for both undefined and a ``null`` value, so a ``None`` is asked
    again as a query, which tells the two apart.
    """

    def __init__(self, rule: str, by_rule: bool) -> None:
        self.rule = rule
        self.by_rule = by_rule

    def evaluate(self, engine: Any, document: dict[str, Any]) -> Any:
        try:
            engine.set_input_json(orjson.dumps(document).decode())
        except TypeError:
            # An integer beyond 64 bits (orjson refuses it, regorus's JSON reader would round it
            # to a float): pass the input as a Rego literal, whose integers are exact.
            return self._query(engine, f"{self.rule} with input as {exact_input_literal(document)}")
        if not self.by_rule:
            return self._query(engine, self.rule)
        try:
            value = engine.eval_rule(self.rule)
        except RuntimeError:
            # An evaluation error, or a value the binding cannot hand to Python (an integer
            # beyond 64 bits): the query says which.
            return self._query(engine, self.rule)
        if value is None:
            return self._query(engine, self.rule)
        return value

    @staticmethod
    def _query(engine: Any, query: str) -> Any:
        results = orjson.loads(engine.eval_query_as_json(query)).get("result") or []
        if not results:
            return None  # undefined
        if len(results) > 1:
            raise RuntimeError("multiple evaluation results")
        return results[0]["expressions"][0]["value"]


def decision_query(engine: Any, decision_path: str) -> DecisionQuery:
    """Find how to evaluate the decision on a compiled engine, or raise PolicyLoadError."""
    rule = decision_rule(decision_path)
    engine.set_input({})
    try:
        engine.eval_rule(rule)
        return DecisionQuery(rule, by_rule=True)
    except RuntimeError as exc:
        message = engine_message(exc)
        if _MISSING_RULE not in message:
            raise PolicyLoadError(message) from None
    try:
        engine.eval_query(rule)
    except RuntimeError as exc:
        raise PolicyLoadError(engine_message(exc)) from None
    if not _path_is_defined(engine, rule):
        raise PolicyLoadError(f"no module defines the decision rule {rule}")
    return DecisionQuery(rule, by_rule=False)


def _path_is_defined(engine: Any, path: str) -> bool:
    """Whether a package, a rule or a subtree of them lies on the decision path. OPA answers
    undefined for any other path, which for a typo would deny every request without saying why."""
    packages, rules = defined_paths(orjson.loads(engine.get_ast_as_json()))
    inside_rule = any(path == rule or path.startswith(rule + ".") for rule in rules)
    subtree = any(p == path or p.startswith(path + ".") for p in packages | rules)
    return inside_rule or subtree


def check_bundle(bundle: PolicyBundle, decision_path: str, rego_version: RegoVersion) -> DecisionQuery:
    """Compile the bundle and evaluate the decision once, or raise PolicyLoadError."""
    engine = build_engine(bundle, rego_version)
    compile_engine(engine, rego_version, bundle.modules)
    return decision_query(engine, decision_path)


# Engines whose holder was collected on another thread, by owning thread: dropping a regorus
# object off its thread raises, so the owner drops them the next time it evaluates.
_ORPHANS: dict[int, list[Any]] = {}
_ORPHANS_LOCK = threading.Lock()


class _ThreadPolicy:
    """One thread's engine for one bundle."""

    def __init__(self, bundle: PolicyBundle, rego_version: RegoVersion) -> None:
        self.bundle = bundle
        self.owner = threading.get_ident()
        self.engine = build_engine(bundle, rego_version)
        # Only what the bundle can read of the input is handed over (input_projection.py).
        self.projection = InputProjection.of_modules(orjson.loads(self.engine.get_ast_as_json()))

    def __del__(self) -> None:
        # The cyclic garbage collector runs on whichever thread allocates when it triggers: an
        # engine that was part of a reference cycle can be collected on a watcher thread.
        if threading.get_ident() != self.owner:
            with _ORPHANS_LOCK:
                _ORPHANS.setdefault(self.owner, []).append(self.engine)


def _drop_orphans() -> None:
    with _ORPHANS_LOCK:
        orphans = _ORPHANS.pop(threading.get_ident(), None)
    del orphans  # dropped here, on their own thread


class RegorusEngine:
    def __init__(
        self, bundle: PolicyBundle, decision_path: str, *, rego_version: RegoVersion = DEFAULT_REGO_VERSION
    ) -> None:
        self._decision_path = decision_path
        self._rego_version = rego_version
        self._query = check_bundle(bundle, decision_path, rego_version)
        self._bundle = bundle
        self._local = threading.local()

    @property
    def revision(self) -> str:
        return self._bundle.revision

    @property
    def bundle(self) -> PolicyBundle:
        return self._bundle

    @property
    def rego_version(self) -> RegoVersion:
        return self._rego_version

    def check(self, bundle: PolicyBundle) -> None:
        """Compile the bundle and evaluate the decision once, or raise PolicyLoadError."""
        check_bundle(bundle, self._decision_path, self._rego_version)

    def swap(self, bundle: PolicyBundle) -> None:
        """Check the new bundle, then make it current; a failing bundle leaves the old one active."""
        query = check_bundle(bundle, self._decision_path, self._rego_version)
        self._query, self._bundle = query, bundle

    async def evaluate(self, document: dict[str, Any]) -> Any:
        return self.evaluate_now(document)

    def evaluate_now(self, document: dict[str, Any]) -> Any:
        """Evaluate synchronously (the offline CLI and tests use this directly)."""
        policy = self._thread_policy()
        engine = policy.engine
        try:
            return self._query.evaluate(engine, policy.projection.apply(document))
        except RuntimeError as exc:
            raise _eval_error(exc) from None
        except BaseException as exc:
            # pyo3 panics derive from BaseException; a panic must deny, not kill the service.
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise ChaperoneError(
                ErrorCode.POLICY_EVAL_ERROR, "the policy engine panicked", detail=engine_message(exc)
            ) from None
        finally:
            prints = engine.take_prints()
            if prints:
                log.debug("policy_print", lines=prints)

    async def close(self) -> None:
        pass

    def input_projection(self) -> InputProjection:
        return self._thread_policy().projection

    def warm(self) -> None:
        """Build the calling thread's engine for the current bundle ahead of its first request."""
        self._thread_policy()

    def _thread_policy(self) -> _ThreadPolicy:
        if _ORPHANS:
            _drop_orphans()
        bundle = self._bundle
        policy: _ThreadPolicy | None = getattr(self._local, "policy", None)
        if policy is None or policy.bundle is not bundle:
            policy = _ThreadPolicy(bundle, self._rego_version)
            self._local.policy = policy
        return policy


def _eval_error(exc: RuntimeError) -> ChaperoneError:
    message = engine_message(exc)
    if _MISSING_RULE in message:
        return ChaperoneError(ErrorCode.POLICY_UNDEFINED, "the decision rule is not defined")
    if "multiple evaluation results" in message:
        return ChaperoneError(ErrorCode.POLICY_MULTIPLE_RESULTS, "the decision has several results")
    if any(marker in message for marker in _CONFLICT_MARKERS):
        return ChaperoneError(
            ErrorCode.POLICY_MULTIPLE_RESULTS, "the decision rule produced conflicting values", detail=message
        )
    return ChaperoneError(ErrorCode.POLICY_EVAL_ERROR, "the policy failed to evaluate", detail=message)

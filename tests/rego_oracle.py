"""Evaluate the same Rego in the embedded engine and in real OPA, and compare the outcomes.

An outcome is a value, ``UNDEFINED``, or ``ERROR`` (the two engines' messages differ, so an error
is compared as an error, not by its text). Real OPA is opa-golib-python-bindings (OPA 1.20 in
process, strict builtin errors, as Chaperone's engine).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

from ext_proc.policy.bundle import PolicyBundle, PolicyLoadError
from ext_proc.policy.regorus_engine import (
    DecisionQuery,
    RegoVersion,
    build_engine,
    compile_engine,
)

UNDEFINED = ("undefined",)
ERROR = ("error",)
LOAD_ERROR = ("load_error",)


@dataclass(frozen=True)
class Value:
    value: Any


def bundle_of(modules: Iterable[tuple[str, str]], data: dict[str, Any] | None = None) -> PolicyBundle:
    data = data or {}
    return PolicyBundle(
        directory="<memory>",
        revision="test",
        modules=tuple(modules),
        data=data,
        data_json=json.dumps(data).encode(),
    )


def opa_engine(modules: Iterable[tuple[str, str]], data: dict[str, Any] | None = None) -> OpaEngine:
    """Real OPA holding the modules and data; a module that does not parse raises OpaError."""
    engine = OpaEngine()
    if data:
        engine.add_data(data)
    for path, source in modules:
        engine.add_policy(path, source)
    return engine


def opa_case(modules: Iterable[tuple[str, str]], data: dict[str, Any], path: str, document: Any) -> Any:
    """OPA's outcome for one bundle and input (LOAD_ERROR when it does not parse or compile)."""
    try:
        engine = opa_engine(modules, data)
    except OpaError:
        return LOAD_ERROR
    try:
        return opa_outcome(engine, path, document)
    finally:
        engine.close()


def load_refusal(modules: Iterable[tuple[str, str]], rego_version: RegoVersion = "v1") -> str | None:
    """Why the embedded engine refuses the modules at load (None when it loads them)."""
    bundle = bundle_of(modules)
    try:
        compile_engine(build_engine(bundle, rego_version), rego_version, bundle.modules)
    except PolicyLoadError as exc:
        return str(exc)
    return None


def regorus_case(
    modules: Iterable[tuple[str, str]],
    data: dict[str, Any],
    path: str,
    document: Any,
    rego_version: RegoVersion = "v1",
) -> Any:
    engine = regorus_engine(modules, data, rego_version)
    return LOAD_ERROR if engine is LOAD_ERROR else regorus_outcome(engine, path, document)


def opa_outcome(engine: OpaEngine, path: str, document: Any) -> Any:
    """``path`` is dotted without ``data.``; a compile error of the bundle is LOAD_ERROR."""
    try:
        return Value(_plain(engine.eval_document(path, document)))
    except OpaUndefinedError:
        return UNDEFINED
    except OpaError as exc:
        return LOAD_ERROR if exc.code in ("prepare_error", "parse_error") else ERROR


def regorus_outcome(engine: Any, path: str, document: Any) -> Any:
    query = DecisionQuery("data." + path, by_rule=False)
    try:
        value = query.evaluate(engine, document)
    except RuntimeError:
        return ERROR
    return UNDEFINED if value is None and _undefined(engine, path, document) else Value(_plain(value))


def _undefined(engine: Any, path: str, document: Any) -> bool:
    # DecisionQuery answers None for undefined; a null value is told apart by asking for it.
    engine.set_input_json(json.dumps(document))
    results = json.loads(engine.eval_query_as_json(f"data.{path} == null")).get("result")
    return not results


def regorus_engine(
    modules: Iterable[tuple[str, str]], data: dict[str, Any] | None = None, rego_version: RegoVersion = "v1"
) -> Any:
    """The engine as the service builds it, or LOAD_ERROR when the bundle is refused at load."""
    bundle = bundle_of(modules, data)
    try:
        engine = build_engine(bundle, rego_version)
        compile_engine(engine, rego_version, bundle.modules)
    except PolicyLoadError:
        return LOAD_ERROR
    return engine


def _plain(value: Any) -> Any:
    """JSON form (sets as arrays), as both engines' JSON answers compare.

    A number beyond 2**53 is compared as a float: regorus computes with integers of any size, but
    hands a result beyond 64 bits out as a float (its JSON writer has no other form). Decisions
    carry such numbers only by echoing them; comparisons inside the policy are exact.
    """
    return _rounded(json.loads(json.dumps(value, default=_default)))


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {_rounded_key(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    return value


def _rounded_key(key: str) -> str:
    """An object key that is not a string is written as its JSON text: a number beyond 2**53 in
    it is rounded the same way (``{"1.2345678901234568e+29": ...}`` for a key of 30 digits)."""
    try:
        parsed = json.loads(key)
    except ValueError:
        return key
    if isinstance(parsed, str):
        return key
    return json.dumps(_rounded(parsed), separators=(",", ":"), sort_keys=True)


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=_default))
    raise TypeError(type(value))

"""The embedded engine: regorus (Rust Rego) in process, one engine per worker thread.

regorus engines are thread-affine (touching one from another thread panics) and hold the GIL,
so each thread that evaluates builds its own engine from the current bundle the first time it
evaluates, and again after a reload. In the service that is the event loop's thread; the reload
watcher compiles a candidate bundle on its own thread, so a broken bundle never reaches it.
"""

from __future__ import annotations

import threading
from typing import Any

import regorus
import structlog

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.bundle import PolicyBundle, PolicyLoadError
from ext_proc.policy.engine import decision_rule

log = structlog.get_logger("chaperone.policy")

_MISSING_RULE = "not a valid rule path"
_CONFLICT_MARKERS = ("rule conflicts", "multiple outputs", "conflicting")


def build_engine(bundle: PolicyBundle) -> Any:
    """A fresh regorus engine holding the bundle's data and modules (on the calling thread)."""
    engine = regorus.Engine()
    engine.set_gather_prints(True)
    if bundle.data:
        engine.add_data_json(bundle.data_json.decode())
    for path, source in bundle.modules:
        try:
            engine.add_policy(path, source)
        except RuntimeError as exc:
            raise PolicyLoadError(f"{path}: {engine_message(exc)}") from None
    return engine


def compile_engine(engine: Any) -> None:
    """Force regorus's deferred analysis (names, safety) over every module, or raise PolicyLoadError."""
    try:
        engine.eval_query("true")
    except RuntimeError as exc:
        raise PolicyLoadError(engine_message(exc)) from None


def engine_message(exc: BaseException) -> str:
    """regorus error text without the Rust backtrace, on one line."""
    text = str(exc).split("Stack backtrace:")[0]
    return " ".join(text.split())


class RegorusEngine:
    def __init__(self, bundle: PolicyBundle, decision_path: str) -> None:
        self._rule = decision_rule(decision_path)
        self.check(bundle)
        self._bundle = bundle
        self._local = threading.local()

    @property
    def revision(self) -> str:
        return self._bundle.revision

    @property
    def bundle(self) -> PolicyBundle:
        return self._bundle

    def check(self, bundle: PolicyBundle) -> None:
        """Compile the bundle and evaluate the decision once, or raise PolicyLoadError.

        regorus parses at add_policy but resolves names, checks safety and finds rule conflicts
        at the first evaluation, so an evaluation against an empty input is the compile step.
        """
        engine = build_engine(bundle)
        engine.set_input({})
        try:
            engine.eval_rule(self._rule)
        except RuntimeError as exc:
            message = engine_message(exc)
            if _MISSING_RULE in message:
                raise PolicyLoadError(f"no module defines the decision rule {self._rule}") from None
            raise PolicyLoadError(message) from None

    def swap(self, bundle: PolicyBundle) -> None:
        """Check the new bundle, then make it current; a failing bundle leaves the old one active."""
        self.check(bundle)
        self._bundle = bundle

    async def evaluate(self, document: dict[str, Any]) -> Any:
        return self.evaluate_now(document)

    def evaluate_now(self, document: dict[str, Any]) -> Any:
        """Evaluate synchronously (the offline CLI and tests use this directly)."""
        engine = self._thread_engine()
        engine.set_input(document)  # measured a little faster than set_input_json(orjson.dumps(...))
        try:
            value = engine.eval_rule(self._rule)
        except RuntimeError as exc:
            raise _eval_error(exc) from None
        except BaseException as exc:
            # pyo3 panics derive from BaseException; a panic must deny, not kill the worker.
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise ChaperoneError(
                ErrorCode.POLICY_EVAL_ERROR, "the policy engine panicked", detail=engine_message(exc)
            ) from None
        finally:
            prints = engine.take_prints()
            if prints:
                log.debug("policy_print", lines=prints)
        return value

    async def close(self) -> None:
        pass

    def warm(self) -> None:
        """Build the calling thread's engine for the current bundle ahead of its first request."""
        self._thread_engine()

    def _thread_engine(self) -> Any:
        bundle = self._bundle
        local = self._local
        if getattr(local, "bundle", None) is not bundle:
            local.engine = build_engine(bundle)
            local.bundle = bundle
        return local.engine


def _eval_error(exc: RuntimeError) -> ChaperoneError:
    message = engine_message(exc)
    if _MISSING_RULE in message:
        return ChaperoneError(ErrorCode.POLICY_UNDEFINED, "the decision rule is not defined")
    if any(marker in message for marker in _CONFLICT_MARKERS):
        return ChaperoneError(
            ErrorCode.POLICY_MULTIPLE_RESULTS, "the decision rule produced conflicting values", detail=message
        )
    return ChaperoneError(ErrorCode.POLICY_EVAL_ERROR, "the policy failed to evaluate", detail=message)

"""Builtins OPA has and regorus lacks, supplied as regorus extensions with OPA's semantics.

regorus engines are thread-affine, and extensions belong to one engine: ``register_extensions``
is called on every engine that is built (``regorus_engine.new_engine``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ext_proc.policy.builtins import cidr, digests, jwt, x509

EXTENSIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    **digests.EXTENSIONS,
    **jwt.EXTENSIONS,
    **cidr.EXTENSIONS,
    **x509.EXTENSIONS,
}


def register_extensions(engine: Any) -> None:
    for name, (arity, function) in EXTENSIONS.items():
        engine.add_extension(name, arity, function)

"""``crypto.md5``/``sha1``/``sha256`` and ``crypto.hmac.*``: hex digests of a string's UTF-8 bytes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from ext_proc.policy.builtins.encoding import require_string

_HASHES = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def _digest(algorithm: str) -> Callable[[Any], str]:
    name = f"crypto.{algorithm}"

    def digest(x: Any) -> str:
        return _HASHES[algorithm](require_string(x, 1, name).encode()).hexdigest()

    return digest


def _hmac(algorithm: str) -> Callable[[Any, Any], str]:
    name = f"crypto.hmac.{algorithm}"

    def mac(x: Any, key: Any) -> str:
        message = require_string(x, 1, name).encode()
        secret = require_string(key, 2, name).encode()
        return hmac.new(secret, message, _HASHES[algorithm]).hexdigest()

    return mac


def hmac_equal(mac1: Any, mac2: Any) -> bool:
    # Constant time, over the strings' bytes, as Go's hmac.Equal.
    first = require_string(mac1, 1, "crypto.hmac.equal").encode()
    second = require_string(mac2, 2, "crypto.hmac.equal").encode()
    return hmac.compare_digest(first, second)


EXTENSIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "crypto.md5": (1, _digest("md5")),
    "crypto.sha1": (1, _digest("sha1")),
    "crypto.sha256": (1, _digest("sha256")),
    "crypto.hmac.md5": (2, _hmac("md5")),
    "crypto.hmac.sha1": (2, _hmac("sha1")),
    "crypto.hmac.sha256": (2, _hmac("sha256")),
    "crypto.hmac.sha512": (2, _hmac("sha512")),
    "crypto.hmac.equal": (2, hmac_equal),
}

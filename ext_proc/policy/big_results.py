"""Builtin results that carry integers beyond 64 bits, kept exact.

OPA's numbers are exact at any size; a certificate's serial number (often 128 bits) and its
public key's numbers (RSA modulus, EC point) come out of ``crypto.x509.parse_certificates``
exact. regorus computes exactly with integers of any size too, but an extension's result crosses
from Python as 64-bit integers or floats: a larger integer would be rounded, and a policy that
compares a serial number would get a different answer than OPA's.

So the extension hands such an integer over as 62-bit chunks (``{"__chaperone_bigint__": [...]}``),
and a Rego function, added to the bundle as engine-side module, puts the integer back together
with regorus's exact arithmetic. Calls of the builtin in the bundle's modules are pointed at that
function (the text of the function name at the call, nothing else). Bundles that do not call it
are left as they are. A ``with`` that replaces the builtin would then replace nothing, and OPA
would answer with the replacement: such a module is refused at load (``mocked_line``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ext_proc.policy.rego_ast import ast_objects, ref_parts

MARKER = "__chaperone_bigint__"
CHUNK_BITS = 62
# Values regorus takes from Python exactly (its conversion reads a 64-bit integer).
_EXACT = range(-(2**63), 2**63)

BUILTIN = "crypto.x509.parse_certificates"
RAW_EXTENSION = "chaperone.x509.parse_certificates_chunked"
HELPER_PATH = "<chaperone>/exact_builtins.rego"
_HELPER_FUNCTION = "data.__chaperone__.exact.parse_certificates"
HELPER_SOURCE = f"""package __chaperone__.exact

import rego.v1

parse_certificates(text) := [certificate(c) | some c in {RAW_EXTENSION}(text)]

certificate(c) := object.union(c, {{"SerialNumber": number(c.SerialNumber), "PublicKey": key(c.PublicKey)}})

key(k) := {{name: number(v) | some name, v in k}} if is_object(k)

key(k) := k if not is_object(k)

chunked(v) if is_array(v.{MARKER})

number(v) := sum([term |
	some i, c in v.{MARKER}
	term := c * power((count(v.{MARKER}) - 1) - i)
]) if chunked(v)

number(v) := v if not chunked(v)

power(0) := 1

power(n) := product([base | some _ in numbers.range(1, n); base := {2**CHUNK_BITS}]) if n > 0
"""


def exact_int(value: int) -> Any:
    """An integer as the extension hands it over: itself, or its chunks (most significant first)."""
    if value in _EXACT:
        return value
    if value < 0:
        raise ValueError("negative integers beyond 64 bits are not handed over")
    chunks: list[int] = []
    while value:
        chunks.append(value & (2**CHUNK_BITS - 1))
        value >>= CHUNK_BITS
    return {MARKER: chunks[::-1]}


def rewrite_calls(source: str, tree: dict[str, Any]) -> str:
    """``source`` with each call of the builtin pointed at the function that makes it exact."""
    encoded = source.encode()
    spans = sorted(_builtin_call_spans(tree["ast"]["rules"]), reverse=True)
    for start, end in spans:
        if encoded[start:end].decode() == BUILTIN:
            encoded = encoded[:start] + _HELPER_FUNCTION.encode() + encoded[end:]
    return encoded.decode()


def mocked_line(tree: dict[str, Any]) -> int | None:
    """The line of a ``with crypto.x509.parse_certificates as ...`` in the module, if any."""
    for node in ast_objects(tree["ast"]["rules"]):
        for modifier in node.get("with_mods") or ():
            if ".".join(ref_parts(modifier["refr"])) == BUILTIN:
                return int(modifier["span"]["line"])
    return None


def _builtin_call_spans(rules: Any) -> Iterator[tuple[int, int]]:
    for node in ast_objects(rules):
        call = node.get("Call")
        if isinstance(call, dict) and ".".join(ref_parts(call["fcn"])) == BUILTIN:
            span = next(iter(call["fcn"].values()))["span"]
            yield span["start"], span["end"]

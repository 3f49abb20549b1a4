"""Builtin results with integers beyond 64 bits stay exact in the embedded engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from ext_proc.policy.big_results import HELPER_PATH, MARKER, exact_int
from ext_proc.policy.bundle import PolicyLoadError
from ext_proc.policy.regorus_engine import engine_modules
from tests.rego_oracle import LOAD_ERROR, Value, opa_case, regorus_case
from tests.tls_certs import ThrowawayCa


def test_a_bundle_that_does_not_call_the_builtin_is_left_as_it_is() -> None:
    modules = (("p.rego", "package p\n\nallow if input.x == 1\n"),)
    assert engine_modules(modules, "v1") == modules


def test_calls_go_through_the_exact_function() -> None:
    modules = (("p.rego", "package p\n\nc := crypto.x509.parse_certificates(input.pem)\n"),)
    rewritten = dict(engine_modules(modules, "v1"))
    assert "data.__chaperone__.exact.parse_certificates(input.pem)" in rewritten["p.rego"]
    assert HELPER_PATH in rewritten


# OPA answers with the replacement; the embedded engine, whose calls were renamed, would have
# called the builtin anyway, so it refuses the module instead of answering otherwise.
MOCKING_LIB = """package lib

admin if {
	certs := crypto.x509.parse_certificates(input.cert)
	certs[0].Subject.CommonName == "admin"
}
"""
MOCKING = """package p

fake(_) := [{"Subject": {"CommonName": "admin"}}]

not_admin if not data.lib.admin with crypto.x509.parse_certificates as fake

allow if {
	input.x == 1
	data.lib.admin with crypto.x509.parse_certificates as fake
}
"""


def test_a_with_that_replaces_the_builtin_is_refused_at_load_with_its_line() -> None:
    modules = [("lib.rego", MOCKING_LIB), ("p.rego", MOCKING)]
    assert opa_case(modules, {}, "p", {"cert": "x", "x": 1}) == Value({"allow": True})
    assert regorus_case(modules, {}, "p", {"cert": "x", "x": 1}) == LOAD_ERROR
    with pytest.raises(PolicyLoadError, match=r"^p\.rego:5: `with crypto\.x509\.parse_certificates"):
        engine_modules(tuple(modules), "v1")


@pytest.mark.parametrize("value", [0, 2**63 - 1, -(2**63), 2**63, 2**64 + 5, 2**2048 - 1])
def test_integers_are_handed_over_whole_or_in_chunks(value: int) -> None:
    handed = exact_int(value)
    if isinstance(handed, int):
        assert handed == value
        return
    total = 0
    for chunk in handed[MARKER]:
        assert 0 <= chunk < 2**62
        total = total * 2**62 + chunk
    assert total == value


@pytest.mark.parametrize("rego_version", ["v1", "v0"])
def test_a_serial_number_beyond_64_bits_compares_exactly(rego_version: str, tmp_path: object) -> None:

    ca = ThrowawayCa(Path(str(tmp_path)))
    pem = ca.cert_pem().decode()
    serial = (
        __import__("cryptography.x509", fromlist=["x"]).load_pem_x509_certificate(pem.encode()).serial_number
    )
    keyword = "if " if rego_version == "v1" else ""
    source = (
        "package p\n\n"
        f"same {keyword}{{ crypto.x509.parse_certificates(input.pem)[0].SerialNumber == {serial} }}\n"
        f"next {keyword}{{ crypto.x509.parse_certificates(input.pem)[0].SerialNumber == {serial + 1} }}\n"
    )
    outcome = regorus_case([("p.rego", source)], {}, "p", {"pem": pem}, rego_version)
    assert serial >= 2**64  # cryptography's random serials have 159 bits
    assert outcome == Value({"same": True})

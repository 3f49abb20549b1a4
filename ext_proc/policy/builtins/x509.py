"""``crypto.x509.parse_certificates``: certificates as OPA returns them, Go's ``x509.Certificate``.

OPA hands policies the JSON of Go's parsed certificate struct (field names as in Go, byte slices
as base64, OIDs as arrays of integers, times in RFC 3339, ``null`` for empty lists), plus its own
``URIStrings``. This module builds the same object from ``cryptography``'s parse, taking the raw
slices (``RawSubject``, each extension's value...) from the certificate's own DER, as Go does,
since re-encoding a parsed name or key need not give back the bytes that were signed.

The input, as OPA reads it (topdown/crypto.go): PEM (every block must be a CERTIFICATE), or
base64 (standard alphabet) of PEM or of DER; the DER of several certificates may be concatenated.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ext_proc.policy.big_results import RAW_EXTENSION, exact_int
from ext_proc.policy.builtins.encoding import BuiltinError, require_string

NAME = "crypto.x509.parse_certificates"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([^\r\n-]*)-----\r?\n(.*?)-----END \1-----", re.DOTALL)

# Go's x509.SignatureAlgorithm and PublicKeyAlgorithm numbers, by OID.
_SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.2": 1,
    "1.2.840.113549.1.1.4": 2,
    "1.2.840.113549.1.1.5": 3,
    "1.3.14.3.2.29": 3,
    "1.2.840.113549.1.1.11": 4,
    "1.2.840.113549.1.1.12": 5,
    "1.2.840.113549.1.1.13": 6,
    "1.2.840.10040.4.3": 7,
    "2.16.840.1.101.3.4.3.2": 8,
    "1.2.840.10045.4.1": 9,
    "1.2.840.10045.4.3.2": 10,
    "1.2.840.10045.4.3.3": 11,
    "1.2.840.10045.4.3.4": 12,
    "1.3.101.112": 16,
}
_RSA_PSS = "1.2.840.113549.1.1.10"
_PSS_BY_HASH = {"sha256": (13, 32), "sha384": (14, 48), "sha512": (15, 64)}
_PUBLIC_KEY_ALGORITHMS = {
    "1.2.840.113549.1.1.1": 1,
    "1.2.840.10040.4.1": 2,
    "1.2.840.10045.2.1": 3,
    "1.3.101.112": 4,
}
_GO_CURVES = ("secp224r1", "secp256r1", "secp384r1", "secp521r1")
# Go's x509.ExtKeyUsage numbers.
_EXT_KEY_USAGES = {
    "2.5.29.37.0": 0,
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: 1,
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: 2,
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: 3,
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: 4,
    "1.3.6.1.5.5.7.3.5": 5,
    "1.3.6.1.5.5.7.3.6": 6,
    "1.3.6.1.5.5.7.3.7": 7,
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: 8,
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: 9,
    "1.3.6.1.4.1.311.10.3.3": 10,
    "2.16.840.1.113730.4.1": 11,
    "1.3.6.1.4.1.311.2.1.22": 12,
    "1.3.6.1.4.1.311.61.1.1": 13,
}
# The extensions Go's parser understands; a critical one it does not is listed as unhandled.
_HANDLED = {"2.5.29." + str(n) for n in (14, 15, 19, 31, 32, 33, 35, 36, 37, 54)}
_HANDLED.add("1.3.6.1.5.5.7.1.1")
_NAME_LISTS = {
    NameOID.COUNTRY_NAME: "Country",
    NameOID.ORGANIZATION_NAME: "Organization",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OrganizationalUnit",
    NameOID.LOCALITY_NAME: "Locality",
    NameOID.STATE_OR_PROVINCE_NAME: "Province",
    NameOID.STREET_ADDRESS: "StreetAddress",
    NameOID.POSTAL_CODE: "PostalCode",
}


def parse_certificates(text: Any) -> list[dict[str, Any]]:
    source = require_string(text, 1, NAME)
    try:
        return [_certificate(der) for der in _split_der(_der_bytes(source))]
    except BuiltinError:
        raise
    except (ValueError, TypeError, IndexError) as exc:
        raise BuiltinError(f"{NAME}: x509: malformed certificate: {exc}") from None


# -- input ---------------------------------------------------------------------------------------


def _der_bytes(source: str) -> bytes:
    if source.startswith("-----BEGIN"):
        return _pem_der(source.encode())
    try:
        decoded = base64.b64decode(source.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise BuiltinError(f"{NAME}: illegal base64 data") from None
    return _pem_der(decoded) if decoded.startswith(b"-----BEGIN") else decoded


def _pem_der(data: bytes) -> bytes:
    der = b""
    for match in _PEM_BLOCK.finditer(data):
        if match.group(1) != b"CERTIFICATE":
            kind = match.group(1).decode(errors="replace")
            raise BuiltinError(f"{NAME}: PEM block type is '{kind}', expected CERTIFICATE")
        try:
            der += base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            break  # Go's pem.Decode finds no block there, and stops
    return der


def _split_der(data: bytes) -> Iterator[bytes]:
    """The certificates of concatenated DER (Go's ``x509.ParseCertificates``)."""
    offset = 0
    while offset < len(data):
        _, _, end = _tlv(data, offset)
        yield data[offset:end]
        offset = end


# -- DER -------------------------------------------------------------------------------------------


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of the content, end) of the DER element at ``offset``."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(tag, offset, content start, end) of each element between ``start`` and ``end``."""
    offset = start
    while offset < end:
        tag, content, stop = _tlv(data, offset)
        yield tag, offset, content, stop
        offset = stop


def _oid(data: bytes) -> list[int]:
    arcs: list[int] = []
    value = 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return [first, arcs[0] - 40 * first, *arcs[1:]]


def _tbs_parts(tbs: bytes) -> dict[str, Any]:
    """The raw issuer, subject and public key info of a TBSCertificate, and its extensions."""
    _, content, end = _tlv(tbs, 0)
    fields = [
        (tag, tbs[offset:stop], tbs[start:stop]) for tag, offset, start, stop in _children(tbs, content, end)
    ]
    plain = [raw for tag, raw, _ in fields if tag & 0xC0 == 0]  # skip the context-tagged ones
    # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    parts: dict[str, Any] = {"issuer": plain[2], "subject": plain[4], "spki": plain[5], "extensions": []}
    for tag, _, inner in fields:
        if tag == 0xA3:
            _, seq_start, seq_end = _tlv(inner, 0)
            for _, _, ext_start, ext_end in _children(inner, seq_start, seq_end):
                parts["extensions"].append(_extension(inner, ext_start, ext_end))
    return parts


def _extension(data: bytes, start: int, end: int) -> dict[str, Any]:
    items = [(tag, data[content:stop]) for tag, _, content, stop in _children(data, start, end)]
    critical = len(items) == 3 and items[1][1] != b"\x00"
    return {"Critical": critical, "Id": _oid(items[0][1]), "Value": _b64(items[-1][1])}


# -- the certificate --------------------------------------------------------------------------------


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _certificate(der: bytes) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(der)
    if cert.serial_number < 0:
        raise BuiltinError(f"{NAME}: x509: negative serial number")
    parts = _tbs_parts(cert.tbs_certificate_bytes)
    out: dict[str, Any] = {
        "Raw": _b64(der),
        "RawTBSCertificate": _b64(cert.tbs_certificate_bytes),
        "RawSubjectPublicKeyInfo": _b64(parts["spki"]),
        "RawSubject": _b64(parts["subject"]),
        "RawIssuer": _b64(parts["issuer"]),
        "Signature": _b64(cert.signature),
        "SignatureAlgorithm": _signature_algorithm(cert),
        "PublicKeyAlgorithm": _PUBLIC_KEY_ALGORITHMS.get(cert.public_key_algorithm_oid.dotted_string, 0),
        "PublicKey": _public_key(cert),
        "Version": cert.version.value + 1,
        "SerialNumber": cert.serial_number,
        "Issuer": _name(cert.issuer),
        "Subject": _name(cert.subject),
        "NotBefore": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "NotAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Extensions": parts["extensions"] or None,
        "ExtraExtensions": None,
        "UnhandledCriticalExtensions": None,
        **_EMPTY_EXTENSION_FIELDS,
    }
    for extension in cert.extensions:
        handler = _HANDLERS.get(extension.oid.dotted_string)
        handled = handler(extension.value, extension.critical, out) if handler else False
        if extension.critical and not handled and extension.oid.dotted_string not in _HANDLED:
            out["UnhandledCriticalExtensions"] = [
                *(out["UnhandledCriticalExtensions"] or []),
                _oid_arcs(extension.oid),
            ]
    out["URIStrings"] = [uri["_text"] for uri in out["URIs"]] if out["URIs"] else None
    if out["URIs"]:
        for uri in out["URIs"]:
            del uri["_text"]
    return out


_EMPTY_EXTENSION_FIELDS: dict[str, Any] = {
    "KeyUsage": 0,
    "BasicConstraintsValid": False,
    "IsCA": False,
    "MaxPathLen": 0,
    "MaxPathLenZero": False,
    "SubjectKeyId": None,
    "AuthorityKeyId": None,
    "OCSPServer": None,
    "IssuingCertificateURL": None,
    "DNSNames": None,
    "EmailAddresses": None,
    "IPAddresses": None,
    "URIs": None,
    "PermittedDNSDomainsCritical": False,
    "PermittedDNSDomains": None,
    "ExcludedDNSDomains": None,
    "PermittedIPRanges": None,
    "ExcludedIPRanges": None,
    "PermittedEmailAddresses": None,
    "ExcludedEmailAddresses": None,
    "PermittedURIDomains": None,
    "ExcludedURIDomains": None,
    "CRLDistributionPoints": None,
    "PolicyIdentifiers": None,
    "Policies": None,
    "PolicyMappings": None,
    "ExtKeyUsage": None,
    "UnknownExtKeyUsage": None,
    "InhibitAnyPolicy": 0,
    "InhibitAnyPolicyZero": False,
    "InhibitPolicyMapping": 0,
    "InhibitPolicyMappingZero": False,
    "RequireExplicitPolicy": 0,
    "RequireExplicitPolicyZero": False,
}


def _oid_arcs(oid: x509.ObjectIdentifier) -> list[int]:
    return [int(arc) for arc in oid.dotted_string.split(".")]


def _signature_algorithm(cert: x509.Certificate) -> int:
    oid = cert.signature_algorithm_oid.dotted_string
    if oid != _RSA_PSS:
        return _SIGNATURE_ALGORITHMS.get(oid, 0)
    # Go names a PSS signature only when MGF1 uses the same hash and the salt is the hash's size.
    params = cert.signature_algorithm_parameters
    digest = cert.signature_hash_algorithm
    mgf = getattr(params, "mgf", None)
    mgf_hash = getattr(mgf, "_algorithm", None)
    known = _PSS_BY_HASH.get(digest.name if digest else "")
    if known is None or mgf_hash is None or mgf_hash.name != digest.name:  # type: ignore[union-attr]
        return 0
    return known[0] if getattr(params, "_salt_length", None) == known[1] else 0


def _public_key(cert: x509.Certificate) -> Any:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"N": numbers.n, "E": numbers.e}
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _GO_CURVES:
            raise BuiltinError(f"{NAME}: x509: unsupported elliptic curve")
        point = key.public_numbers()
        return {"Curve": {}, "X": point.x, "Y": point.y}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    if isinstance(key, dsa.DSAPublicKey):
        dsa_numbers = key.public_numbers()
        group = dsa_numbers.parameter_numbers
        return {"P": group.p, "Q": group.q, "G": group.g, "Y": dsa_numbers.y}
    return None


def _name(name: x509.Name) -> dict[str, Any]:
    """Go's pkix.Name filled from an RDN sequence: every attribute under Names, the known ones
    also in their own field (lists in order; CommonName and SerialNumber, the last one)."""
    out: dict[str, Any] = {field: None for field in _NAME_LISTS.values()}
    out.update({"CommonName": "", "SerialNumber": "", "Names": [], "ExtraNames": None})
    for rdn in name.rdns:
        for attribute in rdn:
            value = attribute.value
            out["Names"].append({"Type": _oid_arcs(attribute.oid), "Value": value})
            if not isinstance(value, str):
                continue
            if attribute.oid == NameOID.COMMON_NAME:
                out["CommonName"] = value
            elif attribute.oid == NameOID.SERIAL_NUMBER:
                out["SerialNumber"] = value
            elif attribute.oid in _NAME_LISTS:
                field = _NAME_LISTS[attribute.oid]
                out[field] = [*(out[field] or []), value]
    out["Names"] = out["Names"] or None
    return out


# -- extensions ------------------------------------------------------------------------------------


def _key_usage(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    bits = [
        value.digital_signature,
        value.content_commitment,
        value.key_encipherment,
        value.data_encipherment,
        value.key_agreement,
        value.key_cert_sign,
        value.crl_sign,
        value.key_agreement and value.encipher_only,
        value.key_agreement and value.decipher_only,
    ]
    out["KeyUsage"] = sum(1 << index for index, bit in enumerate(bits) if bit)
    return True


def _basic_constraints(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    out["BasicConstraintsValid"] = True
    out["IsCA"] = value.ca
    out["MaxPathLen"] = -1 if value.path_length is None else value.path_length
    out["MaxPathLenZero"] = out["MaxPathLen"] == 0
    return True


def _alternative_names(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    dns = value.get_values_for_type(x509.DNSName)
    emails = value.get_values_for_type(x509.RFC822Name)
    ips = [_ip_text(ip) for ip in value.get_values_for_type(x509.IPAddress)]
    uris = [_go_url(uri) for uri in value.get_values_for_type(x509.UniformResourceIdentifier)]
    out.update(
        DNSNames=dns or None, EmailAddresses=emails or None, IPAddresses=ips or None, URIs=uris or None
    )
    return bool(dns or emails or ips or uris)  # Go: an alternative name with none of these is unhandled


def _ip_text(address: Any) -> str:
    """Go's net.IP String(): an IPv4-mapped IPv6 address is written as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _go_url(text: str) -> dict[str, Any]:
    """The fields of Go's url.URL for a URI (url.Parse), the text kept for URIStrings."""
    rest, _, fragment = text.partition("#")
    scheme = ""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", rest)
    if match:
        scheme, rest = match.group(1).lower(), rest[match.end() :]
    rest, query = rest.split("?", 1) if "?" in rest else (rest, "")
    opaque = host = path = ""
    user: Any = None
    if scheme and not rest.startswith("/"):
        opaque = rest
    elif rest.startswith("//"):
        authority, separator, tail = rest[2:].partition("/")
        path = separator + tail
        if "@" in authority:
            user, authority = {}, authority.rsplit("@", 1)[1]
        host = unquote(authority)
    else:
        path = rest
    raw_path = path if unquote(path) != path and _go_escape_path(unquote(path)) != path else ""
    decoded_fragment = unquote(fragment)
    return {
        "Scheme": scheme,
        "Opaque": opaque,
        "User": user,
        "Host": host,
        "Path": unquote(path),
        "RawPath": raw_path,
        "OmitHost": False,
        "ForceQuery": False,
        "RawQuery": query,
        "Fragment": decoded_fragment,
        "RawFragment": fragment
        if fragment != decoded_fragment and _go_escape_path(decoded_fragment) != fragment
        else "",
        "_text": text,
    }


def _go_escape_path(text: str) -> str:
    """Go's url.PathEscape-like encoding of a path (what EscapedPath would write)."""
    safe = "-_.~$&+,/:;=@!*'()"
    return "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in safe) else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in text
    )


def _name_constraints(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    handled = True
    for prefix, subtrees in (("Permitted", value.permitted_subtrees), ("Excluded", value.excluded_subtrees)):
        for general in subtrees or ():
            item: Any
            if isinstance(general, x509.DNSName):
                field, item = "DNSDomains", general.value
            elif isinstance(general, x509.RFC822Name):
                field, item = "EmailAddresses", general.value
            elif isinstance(general, x509.UniformResourceIdentifier):
                field, item = "URIDomains", general.value
            elif isinstance(general, x509.IPAddress):
                network: Any = general.value
                field = "IPRanges"
                item = {"IP": str(network.network_address), "Mask": _b64(network.netmask.packed)}
            else:
                handled = False
                continue
            out[prefix + field] = [*(out[prefix + field] or []), item]
    out["PermittedDNSDomainsCritical"] = critical
    return handled


def _subject_key_id(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    out["SubjectKeyId"] = _b64(value.digest)
    return True


def _authority_key_id(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    out["AuthorityKeyId"] = _b64(value.key_identifier)
    return True


def _authority_info(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    for description in value:
        location = description.access_location
        if not isinstance(location, x509.UniformResourceIdentifier):
            continue
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            out["OCSPServer"] = [*(out["OCSPServer"] or []), location.value]
        elif description.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
            out["IssuingCertificateURL"] = [*(out["IssuingCertificateURL"] or []), location.value]
    return True


def _crl_points(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    for point in value:
        for general in point.full_name or ():
            if isinstance(general, x509.UniformResourceIdentifier):
                out["CRLDistributionPoints"] = [*(out["CRLDistributionPoints"] or []), general.value]
    return True


def _policies(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    identifiers = [policy.policy_identifier for policy in value]
    out["PolicyIdentifiers"] = [_oid_arcs(oid) for oid in identifiers] or None
    out["Policies"] = [oid.dotted_string for oid in identifiers] or None
    return True


def _ext_key_usage(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    for oid in value:
        known = _EXT_KEY_USAGES.get(oid.dotted_string)
        if known is None:
            out["UnknownExtKeyUsage"] = [*(out["UnknownExtKeyUsage"] or []), _oid_arcs(oid)]
        else:
            out["ExtKeyUsage"] = [*(out["ExtKeyUsage"] or []), known]
    return True


def _policy_constraints(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    for field, number in (
        ("RequireExplicitPolicy", value.require_explicit_policy),
        ("InhibitPolicyMapping", value.inhibit_policy_mapping),
    ):
        out[field] = -1 if number is None else number
        out[field + "Zero"] = number == 0
    return True


def _inhibit_any_policy(value: Any, critical: bool, out: dict[str, Any]) -> bool:
    out["InhibitAnyPolicy"] = value.skip_certs
    out["InhibitAnyPolicyZero"] = value.skip_certs == 0
    return True


_HANDLERS: dict[str, Callable[[Any, bool, dict[str, Any]], bool]] = {
    "2.5.29.15": _key_usage,
    "2.5.29.19": _basic_constraints,
    "2.5.29.17": _alternative_names,
    "2.5.29.30": _name_constraints,
    "2.5.29.14": _subject_key_id,
    "2.5.29.35": _authority_key_id,
    "1.3.6.1.5.5.7.1.1": _authority_info,
    "2.5.29.31": _crl_points,
    "2.5.29.32": _policies,
    "2.5.29.37": _ext_key_usage,
    "2.5.29.36": _policy_constraints,
    "2.5.29.54": _inhibit_any_policy,
}


def parse_certificates_chunked(text: Any) -> list[dict[str, Any]]:
    """The result with its integers beyond 64 bits in chunks (ext_proc/policy/big_results.py)."""
    certificates = parse_certificates(text)
    for certificate in certificates:
        certificate["SerialNumber"] = exact_int(certificate["SerialNumber"])
        key = certificate["PublicKey"]
        if isinstance(key, dict):
            certificate["PublicKey"] = {
                name: exact_int(value) if isinstance(value, int) else value for name, value in key.items()
            }
    return certificates


# Policies call crypto.x509.parse_certificates; the engine's modules call it through the Rego
# function that makes its big integers exact, which calls this extension.
EXTENSIONS: dict[str, tuple[int, Callable[..., Any]]] = {RAW_EXTENSION: (1, parse_certificates_chunked)}

"""Checks that turn a pattern match into a finding, or reject it.

A validator takes the matched value and returns how many of its leading characters are the
finding (usually all of them), or None to reject the match. Only IBAN trims: a greedy match can
swallow one group too many, and the country's fixed length says where the IBAN ends.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable

import orjson
import phonenumbers

_NOT_DIGIT = re.compile(r"[^0-9]")


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812-1 check digit: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# (lowest prefix, highest prefix, allowed lengths) of the issuer ranges in wide use (ISO/IEC 7812
# issuer identification numbers as published by the networks). Prefixes compare as integers of
# their own digit count.
_CARD_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),
    ("6011", "6011", frozenset(range(16, 20))),  # Discover
    ("644", "649", frozenset(range(16, 20))),
    ("65", "65", frozenset(range(16, 20))),
    ("3500", "3589", frozenset(range(16, 20))),  # JCB
    ("2131", "2131", frozenset({15})),
    ("1800", "1800", frozenset({15})),
    # Maestro (12 to 19 digits)
    ("5018", "5018", frozenset(range(12, 20))),
    ("5020", "5020", frozenset(range(12, 20))),
    ("5038", "5038", frozenset(range(12, 20))),
    ("56", "58", frozenset(range(12, 20))),
    ("6304", "6304", frozenset(range(12, 20))),
    ("6759", "6759", frozenset(range(12, 20))),
    ("6761", "6763", frozenset(range(12, 20))),
    ("0604", "0604", frozenset(range(12, 20))),
    ("6390", "6390", frozenset(range(12, 20))),
    ("300", "305", frozenset(range(14, 20))),  # Diners Club
    ("36", "36", frozenset(range(14, 20))),
    ("38", "39", frozenset(range(14, 20))),
    ("62", "62", frozenset(range(16, 20))),  # UnionPay
    ("2200", "2204", frozenset(range(16, 20))),  # Mir
)


def card_issuer_ok(digits: str) -> bool:
    for low, high, lengths in _CARD_RANGES:
        if len(digits) in lengths and low <= digits[: len(low)] <= high:
            return True
    return False


def payment_card(value: str) -> int | None:
    digits = _NOT_DIGIT.sub("", value)
    if 12 <= len(digits) <= 19 and card_issuer_ok(digits) and luhn_ok(digits):
        return len(value)
    return None


# Social Security Administration: area 000, 666 and 900-999, group 00 and serial 0000 are never
# issued; 078-05-1120 and 219-09-9999 were published in advertising and are void.
_VOID_SSNS = frozenset({"078051120", "219099999"})


def us_ssn(value: str) -> int | None:
    digits = _NOT_DIGIT.sub("", value)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return None if digits in _VOID_SSNS else len(value)


_EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|extension)[ \t]*([0-9]{1,6})$", re.IGNORECASE)
_NANP_SHAPE = re.compile(
    r"(?:1[ .-]?)?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}|[2-9][0-9]{9}"
)
_GROUP_END = re.compile(r"[0-9)](?=[ .-]*[0-9(])")


def phone_validator(region: str) -> Callable[[str], int | None]:
    """A validator of phone-number candidates for numbers without a country code in ``region``:
    North American shapes by their digits, international numbers as libphonenumber finds them
    possible for their country (trimmed back to the longest possible prefix), national numbers
    with a trunk prefix only when valid in ``region``."""

    def validate(value: str) -> int | None:
        extension = _EXTENSION.search(value)
        main = value[: extension.start()] if extension else value
        digits = _NOT_DIGIT.sub("", main)
        if len(set(digits)) <= 1:
            return None
        if main.startswith(("+", "00", "011")):
            length = _international(main)
            return None if length is None else (len(value) if length == len(main) else length)
        if _NANP_SHAPE.fullmatch(main):
            return len(value)
        return len(value) if _valid_national(main, region) else None

    return validate


def _international(main: str) -> int | None:
    """The length of the longest prefix of ``main`` (cut after a digit group) that is a possible
    number for its country code; ``00`` and ``011`` stand for ``+``."""
    body = main[1:] if main.startswith("+") else main[3:] if main.startswith("011") else main[2:]
    offset = len(main) - len(body)
    ends = [len(body)] + [m.end() for m in reversed(list(_GROUP_END.finditer(body)))]
    for end in ends:
        if len(_NOT_DIGIT.sub("", body[:end])) < 8:
            return None
        try:
            number = phonenumbers.parse("+" + body[:end])
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return offset + end
    return None


def _valid_national(main: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(main, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def phone(value: str) -> int | None:
    """The PHONE validator for the default region (US)."""
    return _PHONE_US(value)


# IBAN lengths by country (ISO 13616 registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_checksum_ok(compact: str) -> bool:
    """ISO 7064 MOD 97-10: move the first four characters to the end, letters to 10-35."""
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def iban(value: str) -> int | None:
    length = IBAN_LENGTHS.get(value[:2])
    if length is None:
        return None
    end = _end_after_alnums(value, length)
    if end is None or (end < len(value) and value[end] != " "):
        return None
    compact = value[:end].replace(" ", "")
    return end if iban_checksum_ok(compact) else None


def _end_after_alnums(value: str, count: int) -> int | None:
    seen = 0
    for index, char in enumerate(value):
        if char != " ":
            seen += 1
            if seen == count:
                return index + 1
    return None


def ipv6(value: str) -> int | None:
    """A real IPv6 literal with some substance: '::', '1::2' (a slice in code) are not flagged."""
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return None
    hex_digits = sum(char not in ":." for char in value)
    groups = sum(1 for group in value.replace(".", ":").split(":") if group)
    return len(value) if hex_digits >= 4 and groups >= 2 else None


def jwt(value: str) -> int | None:
    """RFC 7519: the first segment is base64url JSON naming the signing algorithm."""
    header = value.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return None
    return len(value) if isinstance(decoded, dict) and isinstance(decoded.get("alg"), str) else None


_KEY_KINDS = ("proj-", "svcacct-", "admin-")


def random_looking(value: str) -> int | None:
    """Generated keys mix upper case, lower case and digits; slugs and prose do not."""
    body = value[3:] if value.startswith("sk-") else value
    for kind in _KEY_KINDS:
        body = body.removeprefix(kind)
    has_upper = any(c.isupper() for c in body)
    has_lower = any(c.islower() for c in body)
    has_digit = any(c.isdigit() for c in body)
    return len(value) if has_upper and has_lower and has_digit else None


# Values that stand for a secret without being one: references, templates, masks, prose.
_PLACEHOLDER_PREFIXES = ("$", "{{", "%(", "%s", "<", "[REDACTED", "os.environ", "process.env", "env.")
_PLACEHOLDER_WORDS = frozenset(
    (
        *("null", "none", "nil", "true", "false", "undefined", "required", "optional", "string"),
        *("str", "the", "a", "an", "is", "to", "your", "my", "of", "for", "and", "or", "not"),
        *("yes", "no", "same", "empty", "here", "below", "above"),
    )
)


def assigned_secret(value: str) -> int | None:
    if value.startswith(_PLACEHOLDER_PREFIXES) or value.lower() in _PLACEHOLDER_WORDS:
        return None
    if set(value) <= {"*", "x", "X", "."}:
        return None
    return len(value)


def url_password(value: str) -> int | None:
    """``user:password``: the password part must not be a template or a mask."""
    password = value.split(":", 1)[1]
    if not password or password.startswith(("$", "{", "%")) or set(password) <= {"*", "x", "X"}:
        return None
    return len(value)


_PHONE_US = phone_validator("US")

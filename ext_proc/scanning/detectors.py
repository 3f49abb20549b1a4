"""The detectors: what each finding type looks like, and how it is found fast.

Each detector has three patterns:

- ``pattern`` (``regex`` module syntax, ASCII semantics) is the exact definition. Its matches are
  those of ``finditer`` over the whole text, left to right and non-overlapping, filtered by the
  validator. The named group ``v``, when present, is the part that is the finding (the value of
  ``password=...``, without the key name or quotes). Both block scanning and streaming produce
  exactly these matches.
- ``anchor`` (hyperscan syntax: no look-around, no back-references) only says where to look. The
  rule every detector keeps: wherever ``pattern`` matches starting at ``s`` (validated or not),
  ``anchor`` also matches starting at ``s`` (or, for ``anchor_start=False``, ending within
  ``max_len`` after ``s``). Anchors are written to end at few offsets (hyperscan reports each).
- ``live`` (hyperscan syntax) matches, at least, every text that is a prefix of a match of
  ``pattern``, a whole match included (look-around ignored, so it matches more). Streaming looks
  for it at the end of the held text: a detector whose ``live`` pattern does not reach the end
  cannot be waiting for more text, and one whose pattern does is checked exactly from there.

``max_len`` bounds how many characters a match attempt reads from its start, look-ahead included.
It lets block scanning confirm a candidate on a bounded window, and it bounds how much text a
stream ever holds back. Patterns therefore use bounded repetition only.

The list order is the priority when two findings start at the same place and have the same length:
specific key formats first, then generic assignments, then personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import regex

from ext_proc.scanning import validators
from ext_proc.scanning.findings import Category

Validator = Callable[[str], int | None]


def _whole(value: str) -> int | None:
    return len(value)


@dataclass(frozen=True, slots=True)
class Detector:
    type: str
    category: Category
    pattern: regex.Pattern[str]
    anchor: str
    anchor_min_len: int  # the shortest text the anchor matches
    max_len: int
    live: str
    caseless: bool = False  # for the anchor and live patterns
    # True: hyperscan reports where the anchor starts (SOM), and the anchor matches exactly where
    # the pattern starts. False: only the anchor's end is used (cheaper for long anchors); the
    # anchor then matches ending within ``max_len`` after every start of the pattern.
    anchor_start: bool = True
    validate: Validator = _whole


def detector(  # noqa: PLR0917 - the table below reads best with the patterns positional
    type_: str,
    category: Category,
    pattern: str,
    anchor: str,
    anchor_min_len: int,
    max_len: int,
    live: str,
    *,
    caseless: bool = False,
    anchor_start: bool = True,
    validate: Validator = _whole,
) -> Detector:
    compiled = regex.compile(pattern, regex.ASCII)
    return Detector(
        type_, category, compiled, anchor, anchor_min_len, max_len, live, caseless, anchor_start, validate
    )


def _closure(atoms: list[str], then: str = "") -> str:
    """A pattern for every non-empty prefix of ``atoms`` (each matching one character, or an
    optional one), the whole of them followed by a prefix of ``then``."""
    inner = then
    for atom in reversed(atoms):
        inner = f"{atom}(?:{inner})?" if inner else atom
    return inner


def _word(text: str) -> list[str]:
    return [regex.escape(char) for char in text]


def _words(*spellings: str, then: str = "") -> str:
    """Closures of keywords written with ``_`` standing for an optional ``[_-]``."""
    closures = []
    for spelling in spellings:
        atoms = ["[_-]?" if char == "_" else regex.escape(char) for char in spelling]
        closures.append(_closure(atoms, then))
    return "|".join(f"(?:{c})" for c in closures)


# --- Secrets ---------------------------------------------------------------------------------

# Runs followed only by a look-ahead that their own characters fail (or by nothing, or by a
# character they exclude) are possessive (``{m,n}+``): giving characters back could never lead to
# a match, and without backtracking a partial match, which explores every path, stays linear.

# Line breaks inside a PEM block: real ones, or the two-character escapes of a JSON string.
_PEM_BREAK = r"(?:[ \t\r\n]|\\[rn]){1,8}+"
_PEM_LABEL = r"-----{0}[A-Z0-9 ]{{0,40}}PRIVATE KEY(?: BLOCK)?-----"
# Header, optional RFC 1421 headers (encrypted keys), base64 lines of 16+ characters, then a short
# last line and the footer. The footer is optional so that a truncated key is still caught; prose
# after a truncated key stops it because prose words are shorter than a base64 line. The runs and
# loops are possessive: what they give back could never match what follows (a line break is not
# base64), and without backtracking a partial match over a long key stays linear.
PRIVATE_KEY = detector(
    "PRIVATE_KEY",
    "secret",
    _PEM_LABEL.format("BEGIN")
    + rf"(?:{_PEM_BREAK}(?:Proc-Type|DEK-Info):[ A-Za-z0-9,-]{{0,200}}+){{0,4}}+"
    + rf"(?:{_PEM_BREAK}[A-Za-z0-9+/=]{{16,100}}+){{0,120}}+"
    + rf"(?:(?:{_PEM_BREAK}[A-Za-z0-9+/=]{{1,15}}+)?{_PEM_BREAK}{_PEM_LABEL.format('END')})?",
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----",
    26,
    16_000,
    _closure(
        _word("-----BEGIN"),
        r"[A-Z0-9 ]*(?:"
        + _closure(
            _word("-----"),
            r"(?:[A-Za-z0-9+/=\s\\:,]|-[A-Za-z0-9])*(?:"
            + _closure(_word("-----END"), "[A-Z0-9 ]*-{0,5}")
            + ")?",
        )
        + ")?",
    ),
)

# RFC 7519 compact serialization (three base64url segments; JWE has five). The validator decodes
# the header.
_B64URL = r"[A-Za-z0-9_-]"
JWT = detector(
    "JWT",
    "secret",
    rf"(?<!{_B64URL})eyJ{_B64URL}{{5,1000}}+\.{_B64URL}{{1,6000}}+\.{_B64URL}{{0,1000}}+"
    rf"(?:\.{_B64URL}{{0,6000}}+\.{_B64URL}{{0,1000}}+)?(?!{_B64URL})",
    r"eyJ[A-Za-z0-9_-]{5}",
    8,
    16_000,
    _closure(_word("eyJ"), r"[A-Za-z0-9_.-]*"),
    validate=validators.jwt,
)

# AWS access key ids: AKIA (long-term), ASIA (temporary), ABIA/ACCA/A3T* (older prefixes).
AWS_ACCESS_KEY = detector(
    "AWS_ACCESS_KEY",
    "secret",
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])",
    r"(AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
    20,
    24,
    r"A[A-Z0-9]*",
)

# Secret access keys are 40 base64 characters with no marker of their own: only recognised when
# assigned to a name that says what they are (env, YAML, JSON, INI, CLI output).
_ASSIGN = r"[\"']?[ \t]{0,4}(?::=|=>|[:=])[ \t]{0,4}"
_ASSIGN_PREFIX = r"[\"']?[ \t]*(?::=?|=>?)?[ \t]*"
AWS_SECRET_KEY = detector(
    "AWS_SECRET_KEY",
    "secret",
    r"(?i:(?:aws[_-]?)?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key)"
    + _ASSIGN
    + r"[\"']?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    r"(aws[_-]?)?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key",
    12,
    100,
    _words(
        "aws_secret_access_key",
        "secret_access_key",
        "aws_secret_key",
        then=_ASSIGN_PREFIX + r"[\"']?[A-Za-z0-9/+]*",
    ),
    caseless=True,
)

GITHUB_TOKEN = detector(
    "GITHUB_TOKEN",
    "secret",
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}+|github_pat_[A-Za-z0-9_]{22,244}+)(?![A-Za-z0-9_])",
    r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22}",
    33,
    260,
    r"g[A-Za-z0-9_]*",
)

GITLAB_TOKEN = detector(
    "GITLAB_TOKEN",
    "secret",
    r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,300}+(?:\.[A-Za-z0-9_-]{1,300}+){0,3}(?![A-Za-z0-9_-])",
    r"glpat-[A-Za-z0-9_-]{20}",
    26,
    1_220,
    _closure(_word("glpat-"), r"[A-Za-z0-9_.-]*"),
)

SLACK_TOKEN = detector(
    "SLACK_TOKEN",
    "secret",
    r"(?<![A-Za-z0-9_-])xox[abprs]-[0-9]{1,20}+-[A-Za-z0-9-]{8,250}+(?![A-Za-z0-9_-])",
    r"xox[abprs]-[0-9]{1,20}-",
    7,
    280,
    _closure([*_word("xox"), "[abprs]", "-"], r"[A-Za-z0-9-]*"),
)

STRIPE_KEY = detector(
    "STRIPE_KEY",
    "secret",
    r"(?<![A-Za-z0-9_])(?:sk|rk)_live_[A-Za-z0-9]{16,247}+(?![A-Za-z0-9_])",
    r"(sk|rk)_live_[A-Za-z0-9]{16}",
    24,
    260,
    _closure(["[sr]", *_word("k_live_")], r"[A-Za-z0-9]*"),
)

GOOGLE_API_KEY = detector(
    "GOOGLE_API_KEY",
    "secret",
    r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])",
    r"AIza[0-9A-Za-z_-]{35}",
    39,
    40,
    _closure(_word("AIza"), r"[0-9A-Za-z_-]*"),
)

ANTHROPIC_API_KEY = detector(
    "ANTHROPIC_API_KEY",
    "secret",
    r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,250}+(?![A-Za-z0-9_-])",
    r"sk-ant-[A-Za-z0-9_-]{20}",
    27,
    260,
    _closure(_word("sk-"), r"[A-Za-z0-9_-]*"),
)

# Legacy (sk-<48>), project (sk-proj-...), service account and admin keys.
OPENAI_API_KEY = detector(
    "OPENAI_API_KEY",
    "secret",
    r"(?<![A-Za-z0-9_-])sk-(?!ant-)[A-Za-z0-9_-]{20,260}+(?![A-Za-z0-9_-])",
    r"sk-[A-Za-z0-9_-]{20}",
    23,
    270,
    _closure(_word("sk-"), r"[A-Za-z0-9_-]*"),
    validate=validators.random_looking,
)

# RFC 3986 userinfo: scheme://user:password@host. The finding is ``user:password``. The password
# part may contain '@' (unencoded); the greedy match backs off to the last '@' before the host.
URL_CREDENTIALS = detector(
    "URL_CREDENTIALS",
    "secret",
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://"
    r"(?P<v>[^\s:/?#@\"'<>\[\]]{0,128}+:[^\s/?#\"'<>]{1,256})@(?=[A-Za-z0-9\[])",
    r"://[^\s:/?#@\"'<>\[\]]*:[^\s/?#\"'<>]+@",
    6,
    420,
    r"[A-Za-z][A-Za-z0-9+.-]*(?:" + _closure(_word("://"), r"[^\s/?#\"'<>]*") + ")?",
    anchor_start=False,
    validate=validators.url_password,
)

_SECRET_NAMES = (
    r"password|passwd|passphrase|pwd|secret|api[_-]?key|apikey"
    r"|(?:secret|private|access|signing|encryption)[_-]?key"
    r"|(?:access|auth|refresh|session|bearer)[_-]?token"
)
_SECRET_NAMES_CAMEL = (
    r"Password|Passwd|Passphrase|Pwd|Secret|Api[_-]?Key|ApiKey"
    r"|(?:Secret|Private|Access|Signing|Encryption)[_-]?Key"
    r"|(?:Access|Auth|Refresh|Session|Bearer)[_-]?Token"
)
_SECRET_SPELLINGS = (
    "password", "passwd", "passphrase", "pwd", "secret", "api_key", "apikey",
    "secret_key", "private_key", "access_key", "signing_key", "encryption_key",
    "access_token", "auth_token", "refresh_token", "session_token", "bearer_token",
)  # fmt: skip
# A name that ends in one of the words above (DB_PASSWORD, client_secret, userPassword, X-Api-Key),
# an assignment operator, and a value: double-quoted (with escapes), single-quoted, or bare up to
# a delimiter of env files, YAML, query strings and code.
PASSWORD = detector(
    "PASSWORD",
    "secret",
    rf"(?:(?<![A-Za-z0-9])(?i:{_SECRET_NAMES})|(?<=[a-z0-9])(?:{_SECRET_NAMES_CAMEL}))"
    + _ASSIGN
    + r"(?|\"(?P<v>(?:[^\"\\\r\n]|\\[^\r\n]){1,512}+)\"|'(?P<v>[^'\r\n]{1,512}+)'"
    + r"|(?P<v>[^\s\"'&,;|<>(){}\[\]]{1,512}+))",
    rf"({_SECRET_NAMES})[\"']?[ \t]{{0,4}}(:=|=>|[:=])",
    4,
    1_100,
    _words(
        *_SECRET_SPELLINGS,
        then=_ASSIGN_PREFIX + r"(?:\"[^\r\n]*|'[^\r\n]*|[^\s\"'&,;|<>(){}\[\]]*)",
    ),
    caseless=True,
    validate=validators.assigned_secret,
)

# --- Personal data ---------------------------------------------------------------------------

_LOCAL = r"[A-Za-z0-9._%+-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = detector(
    "EMAIL",
    "pii",
    rf"(?<!{_LOCAL}){_LOCAL}{{1,64}}+@(?:{_LABEL}\.){{1,6}}[A-Za-z]{{2,24}}(?![A-Za-z0-9-])",
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9]",
    3,
    480,
    r"[A-Za-z0-9._%+-]+(?:@[A-Za-z0-9.-]*)?",
)

# 13-19 digits, contiguous or in the printed groups (4-4-4-4[-3], Amex 4-6-5) with one kind of
# separator. Not inside a longer run of digits or digit groups. The validator checks the issuer
# range, the length and the Luhn digit.
CREDIT_CARD = detector(
    "CREDIT_CARD",
    "pii",
    r"(?<![0-9A-Za-z_])(?<![0-9][ -])"
    r"(?:[0-9]{13,19}+|[0-9]{4}(?P<card_sep>[ -])[0-9]{4}(?P=card_sep)[0-9]{4}(?P=card_sep)[0-9]{1,7}"
    r"|[0-9]{4}(?P<amex_sep>[ -])[0-9]{6}(?P=amex_sep)[0-9]{4,5})"
    r"(?![0-9A-Za-z_]|[ -][0-9])",
    r"[0-9][0-9 -]{11,22}[0-9]([^0-9]|$)",
    13,
    30,
    r"[0-9][0-9 -]*",
    validate=validators.payment_card,
)

US_SSN = detector(
    "US_SSN",
    "pii",
    r"(?<![0-9A-Za-z_])(?<![0-9][ -])[0-9]{3}(?P<ssn_sep>[- ])[0-9]{2}(?P=ssn_sep)[0-9]{4}"
    r"(?![0-9A-Za-z_]|[ -][0-9])",
    r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}",
    11,
    16,
    r"[0-9][0-9 -]*",
    validate=validators.us_ssn,
)

# ISO 13616: country, check digits, then the account in groups of four (or contiguous). The
# validator checks the country's length and MOD 97-10.
IBAN = detector(
    "IBAN",
    "pii",
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
    r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}",
    12,
    48,
    r"[A-Z](?:[A-Z](?:[0-9][A-Z0-9 ]*)?)?",
    validate=validators.iban,
)

# E.164 (+ and up to 15 digits, contiguous or grouped) and North American numbers written with
# separators or parentheses. A bare run of digits is never a phone number here: it is far more
# often an id, an amount or a timestamp. Dates (4-2-2) and versions (1.2.3) have no 3-3-4 shape.
_NANP = r"(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}"
PHONE = detector(
    "PHONE",
    "pii",
    r"(?<![0-9A-Za-z_+])(?<![0-9][.-])"
    r"(?:\+[1-9][0-9]{7,14}|\+[1-9][0-9]{0,3}(?:[ .-]?\([0-9]{1,4}\)[0-9]{0,8}|[ .-][0-9]{1,8}){1,6}"
    rf"|(?:\+?1[ .-]?)?{_NANP})"
    r"(?![0-9A-Za-z_]|[.-][0-9])",
    r"\+[1-9]|1?[ .-]?\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}",
    2,
    80,
    r"[+(0-9][0-9 .()-]*",
    validate=validators.phone,
)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = detector(
    "IP_ADDRESS",
    "pii",
    rf"(?<![0-9A-Za-z_.])(?:{_OCTET}\.){{3}}{_OCTET}(?![0-9A-Za-z_]|\.[0-9])",
    r"([0-9]{1,3}\.){3}[0-9]{1,3}",
    7,
    18,
    r"[0-9][0-9.]*",
)

_H = r"[0-9A-Fa-f]{1,4}"
# RFC 4291 text forms: eight groups, or fewer around one "::". Hours and minutes (10:23:45) and
# MAC addresses have neither shape; the validator checks the group count and rejects short
# literals such as "1::2" (a slice in code).
IPV6 = detector(
    "IP_ADDRESS",
    "pii",
    rf"(?<![0-9A-Za-z_:.])(?:(?:{_H}:){{7}}{_H}|(?:{_H}(?::{_H}){{0,6}})?::(?:{_H}(?::{_H}){{0,6}})?)"
    r"(?![0-9A-Za-z_:]|\.[0-9])",
    r"([0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){0,6})?::|([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]",
    2,
    48,
    r"[0-9A-Fa-f:][0-9A-Fa-f:.]*",
    validate=validators.ipv6,
)

DETECTORS: tuple[Detector, ...] = (
    PRIVATE_KEY,
    JWT,
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    SLACK_TOKEN,
    STRIPE_KEY,
    GOOGLE_API_KEY,
    ANTHROPIC_API_KEY,
    OPENAI_API_KEY,
    URL_CREDENTIALS,
    PASSWORD,
    EMAIL,
    CREDIT_CARD,
    US_SSN,
    IBAN,
    PHONE,
    IPV4,
    IPV6,
)

# The stable list of finding type names (part of the policy contract: add, never rename).
FINDING_TYPES: dict[str, Category] = {d.type: d.category for d in DETECTORS}

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

from ext_proc.scanning import encoded, validators
from ext_proc.scanning.findings import Category

Validator = Callable[[str], int | None]
Decoder = Callable[[str], str | None]


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
    # For a segment detector (``encoded.py``): turns the validated segment into the text to scan
    # for values; the segment is then a finding of the type found in it.
    decode: Decoder | None = None
    # Text that, ending right where a match starts, makes it no finding (a phone-shaped number
    # after "order #" is an order number). Read from at most ``CONTEXT_CHARS`` before the match.
    context: regex.Pattern[str] | None = None
    # A match holding one of these characters is a finding whatever precedes it (an id is one
    # run of digits, never written "+1 415..." or "(415) 555-...").
    context_exempt: str = ""


CONTEXT_CHARS = 48


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
    decode: Decoder | None = None,
    context: regex.Pattern[str] | None = None,
    context_exempt: str = "",
) -> Detector:
    compiled = regex.compile(pattern, regex.ASCII)
    return Detector(
        type_,
        category,
        compiled,
        anchor,
        anchor_min_len,
        max_len,
        live,
        caseless,
        anchor_start,
        validate,
        decode,
        context,
        context_exempt,
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

# 12-19 digits (12 for some Maestro cards), contiguous or in the printed groups (4-4-4-4[-3],
# Amex 4-6-5) with one kind of
# separator. Not inside a longer run of digits or digit groups. The validator checks the issuer
# range, the length and the Luhn digit.
CREDIT_CARD = detector(
    "CREDIT_CARD",
    "pii",
    r"(?<![0-9A-Za-z_])(?<![0-9][ -])"
    r"(?:[0-9]{12,19}+|[0-9]{4}(?P<card_sep>[ -])[0-9]{4}(?P=card_sep)[0-9]{4}(?P=card_sep)[0-9]{1,7}"
    r"|[0-9]{4}(?P<amex_sep>[ -])[0-9]{6}(?P=amex_sep)[0-9]{4,5})"
    r"(?![0-9A-Za-z_]|[ -][0-9])",
    r"[0-9][0-9 -]{10,22}[0-9]([^0-9]|$)",
    12,
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

# Phone numbers, found by shape and confirmed by libphonenumber (``validators.phone_validator``):
# international (``+44 20 7946 0958``, ``+44(0)20...``, ``001-``/``00``/``011`` dialling prefixes),
# North American (``630.434.5116``, ``(998)249-9664``, ``1-800-555-0199``, and ten bare digits),
# and national numbers with a trunk prefix (``(020) 7496 0266``, ``04 20 00 57 56``) valid in the
# configured default region; each with an optional extension (``x5680``, ``ext. 12``). Context
# keeps ids out: a number right after "order", "invoice", "id", "ticket", "tracking", "timestamp"
# (and the like, with "no.", "#", ":") is not a phone number, unless it is written with a "+" or
# an area code in parentheses (no id looks like that). Dates (4-2-2), versions and IPv4 addresses have
# none of these shapes.
_PHONE_CONTEXT_WORDS = (
    r"order|invoice|inv|id|ref|reference|ticket|account|acct|tracking|transaction|txn|confirmation"
    r"|serial|sku|case|customer|member|policy|claim|timestamp|epoch|ts|build|version|pid|uid|po|isbn"
    r"|item|product|part|record|row|shipment|booking|reservation|receipt|routing|ssn|iban|card"
)
_PHONE_CONTEXT = regex.compile(
    rf"(?<![A-Za-z])(?i:{_PHONE_CONTEXT_WORDS})s?[\"']?"
    r"(?:[ \t]{0,2}(?i:no\.?|num(?:ber)?|id|#))?[\"']?[ \t]{0,2}[:#=]?[ \t]{0,2}[\"'#]?\Z",
    regex.ASCII,
)
_PHONE_EXTENSION = r"(?:[ \t]{0,2}(?:x|X|ext\.?|Ext\.?|EXT\.?|extension)[ \t]{0,2}[0-9]{1,6}+)?"
_PHONE_GROUPS = r"(?:[ .-]{0,2}(?:\([0-9]{1,5}\)|[0-9]{1,6}+)){1,8}"
_PHONE_NANP = r"(?:1[ .-]?)?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"
_PHONE_NATIONAL = r"(?:\(0[0-9]{1,4}\)|0[0-9]{1,4})(?:[ .-]?[0-9]{2,4}){2,4}"
_PHONE_PATTERN = (
    r"(?<![0-9A-Za-z_+])(?<![0-9][ .-])(?<![0-9]\))"
    + r"(?:(?:\+|00|011)[ .-]?[1-9]"
    + _PHONE_GROUPS
    + rf"|{_PHONE_NANP}|{_PHONE_NATIONAL}|[0-9]{{10}})"
    + _PHONE_EXTENSION
    + r"(?![0-9A-Za-z_]|[.-][0-9])"
)


def phone_detector(region: str) -> Detector:
    """The PHONE detector for numbers written without a country code in ``region`` (ISO 3166)."""
    return detector(
        "PHONE",
        "pii",
        _PHONE_PATTERN,
        # Each shape after a non-digit, so that dates and long digit runs do not report.
        r"\+[1-9]|(^|[^0-9])((00|011)[ .-]?[1-9]|1?[ .-]?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}"
        r"|\(?0[0-9]{1,4}\)?([ .-]?[0-9]{2,4}){2}|[0-9]{10})",
        2,
        100,
        r"[+(0-9][0-9 \t.()#:xXeEtTnNsSiIoO-]*",
        validate=validators.phone_validator(region),
        context=_PHONE_CONTEXT,
        context_exempt="+(",
    )


PHONE = phone_detector("US")

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

# --- Encoded segments (encoded.py) -------------------------------------------------------------

# Runs of base64 or base64url characters, 12 to 4,096 long (longer runs are images or blobs, and
# the bound keeps a stream's holdback bounded), possibly broken into lines as MIME (RFC 2045: 76
# characters a line) and PEM write them: a value in the decoded text redacts the run. Only runs that
# look like the base64 of text are decoded: a lower-case to upper-case letter within the first 18
# characters (words, paths, dates, UUIDs and hex hashes have none), or 12 upper-case letters and
# digits (the base64 of digits and punctuation: "539-67-5452" is NTM5LTY3LTU0NTI=). A run starts
# at its first line only, so that a long run is one attempt, not one per line.
_B64 = "[A-Za-z0-9+/_-]"
_B64_GATE = f"{_B64}{{0,15}}[a-z][0-9+/_-]{{0,2}}[A-Z]|[A-Z0-9+/]{{12}}"
BASE64 = detector(
    "BASE64",
    "pii",
    rf"(?<![A-Za-z0-9+/=_-])(?<![A-Za-z0-9+/=_-]\r?\n)(?={_B64_GATE})(?:{_B64}|\r?\n(?={_B64})){{12,4096}}+={{0,2}}(?![A-Za-z0-9+/=_-])",
    # Anchored after a character that cannot be in the run: one report per run (hyperscan
    # reports every end offset, and a run would give one per character).
    rf"(^|[^A-Za-z0-9+/=_-])({_B64_GATE})",
    2,
    6_150,  # 4,096 items, a line break and a character at most three characters
    r"[A-Za-z0-9+/_=-][A-Za-z0-9+/_=\r\n-]*",
    validate=encoded.base64_length,
    decode=encoded.base64_text,
)

# Runs of hex digit pairs (at least 8 bytes), the way ``xxd -p`` or ``.hex()`` writes text, or
# separated the way dumps and byte arrays write them (``6a 6f 68``, ``6a:6f:68``, ``0x6a, 0x6f``).
_HEX_PAIR = "(?:0[xX])?[0-9A-Fa-f]{2}"
_HEX_SEP = "(?:, ?|[ :-])"
HEX = detector(
    "HEX",
    "pii",
    rf"(?<![0-9A-Za-z])(?:(?:[0-9A-Fa-f]{{2}}){{8,2048}}+|{_HEX_PAIR}(?:(?P<hsep>{_HEX_SEP}){_HEX_PAIR}"
    rf"(?:(?P=hsep){_HEX_PAIR}){{6,1022}}+))(?![0-9A-Za-z])",
    rf"(^|[^0-9A-Za-z])([0-9A-Fa-f]{{16}}|{_HEX_PAIR}({_HEX_SEP}{_HEX_PAIR}){{3}})",
    11,
    6_150,  # 1,024 pairs written "0x6a, "
    rf"[0-9A-Fa-f]+|0[xX][0-9A-Fa-f]?|{_HEX_PAIR}({_HEX_SEP}({_HEX_PAIR})?)*{_HEX_SEP}?(0[xX]?)?[0-9A-Fa-f]?",
    decode=encoded.hex_text,
)

# At least eight characters each followed by the same separator (``j o h n``, ``4-1-1-1``): read
# without the separators. The first and last are not spaces (inside, a space is a character:
# ``( 4 1 5 )   5 5 5``). Bounded to 255 characters.
_SEPARATORS = r"[ ._|*/,;:~+-]"
INTERLEAVED = detector(
    "INTERLEAVED",
    "pii",
    rf"(?<![^\s])[^\s](?P<sep>{_SEPARATORS})(?:[^\r\n](?P=sep)){{6,126}}[^\s](?![^\s])",
    rf"[^\s]{_SEPARATORS}[^\r\n]{_SEPARATORS}[^\r\n]{_SEPARATORS}[^\r\n]",
    7,
    260,
    rf"[^\s](?:{_SEPARATORS}[^\r\n])*{_SEPARATORS}?",
    decode=encoded.deinterleaved,
)

# The segment detectors: matched and decoded like the others, never reported under their own name.
SEGMENT_DETECTORS: tuple[Detector, ...] = (BASE64, HEX, INTERLEAVED)

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


def detectors_for(phone_region: str = "US", *, segments: bool = True) -> tuple[Detector, ...]:
    """Every value detector, with phone numbers read for ``phone_region``, and the segment
    detectors unless ``segments`` is false (the scan of a decoded segment does not decode again)."""
    values = tuple(phone_detector(phone_region) if d is PHONE else d for d in DETECTORS)
    return values + SEGMENT_DETECTORS if segments else values


# The stable list of finding type names (part of the policy contract: add, never rename).
FINDING_TYPES: dict[str, Category] = {d.type: d.category for d in DETECTORS}

"""Sensitive-data detection and redaction (whole texts and streams), and prompt-injection signals.

Pure functions and per-stream objects over decoded text: no gRPC, no I/O. Protocol parsers hand
over the text of one choice, content block or tool-argument stream at a time.

- ``redact_text(text, table) -> Redaction``: block mode (a request body, a whole response).
- ``StreamRedactor(table)``: one text stream; ``feed(delta) -> Step``, ``finish() -> Step``. The
  concatenated ``emit`` strings equal ``redact_text(whole).text`` however the text is cut.
- ``ActionTable.from_decision({"default": "redact", "EMAIL": "allow", "secret": "block"})``:
  the policy's choice per finding type (type > category > default; actions ``allow``,
  ``redact``, ``block``, ``end_stream``).
- ``detect_injection(text) -> InjectionResult`` and ``strip_hidden(text) -> str``.

Finding types (``FINDING_TYPES``, stable: added to, never renamed), by category:
secret: PRIVATE_KEY, JWT, AWS_ACCESS_KEY, AWS_SECRET_KEY, GITHUB_TOKEN, GITLAB_TOKEN, SLACK_TOKEN,
STRIPE_KEY, GOOGLE_API_KEY, ANTHROPIC_API_KEY, OPENAI_API_KEY, URL_CREDENTIALS, PASSWORD;
pii: EMAIL, CREDIT_CARD, US_SSN, IBAN, PHONE, IP_ADDRESS.

Every text is also read through its normalized view (``views.py``: literal escapes, URL
encoding, HTML references, invisible characters, look-alike letters), and base64, hex and
interleaved segments are decoded and read (``encoded.py``); a value found there redacts the
original characters it was read from, in blocks and in streams alike. Phone numbers are
confirmed with libphonenumber for the default region set by ``configure(phone_region=...)``
(``inspection.phone_region``).

Threads: a ``Scanner`` (``default_scanner()``) is shared and immutable; hyperscan scratch space is
allocated per thread on first use. A ``StreamRedactor`` belongs to one stream.

Start-up: the pattern databases compile on first use (seconds of CPU together) and are kept
compiled on disk (``db_cache.py``: ``inspection.cache_dir``, else the user's cache directory), so
that a later start loads them in milliseconds; call ``prepare()`` when the service starts so that
no request pays for either.
"""

from ext_proc.scanning.actions import ACTIONS, REDACT_ALL, Action, ActionTable, placeholder
from ext_proc.scanning.detectors import FINDING_TYPES
from ext_proc.scanning.findings import Category, Finding
from ext_proc.scanning.hidden import strip_hidden
from ext_proc.scanning.injection import INJECTION_THRESHOLD, InjectionResult, Signal, detect_injection
from ext_proc.scanning.redaction import Redaction, Verdict, configure, default_scanner, redact_text
from ext_proc.scanning.scanner import Scanner
from ext_proc.scanning.stream import Step, StreamRedactor


def prepare() -> None:
    """Compile (or load) the scanner's, the stream scanner's and the injection detector's pattern
    databases now."""
    default_scanner().step("", 0)
    detect_injection("")


__all__ = [
    "ACTIONS",
    "FINDING_TYPES",
    "INJECTION_THRESHOLD",
    "REDACT_ALL",
    "Action",
    "ActionTable",
    "Category",
    "Finding",
    "InjectionResult",
    "Redaction",
    "Scanner",
    "Signal",
    "Step",
    "StreamRedactor",
    "Verdict",
    "configure",
    "default_scanner",
    "detect_injection",
    "placeholder",
    "prepare",
    "redact_text",
    "strip_hidden",
]

"""Prompt-injection signals in a text: the user's input (direct) or a tool result coming back to
the agent (indirect).

``detect_injection(text)`` returns a score in [0, 1] and the signals behind it. Each signal has a
kind, a detail that is safe to log (our own pattern names and counts, never the text), and a
weight. The score combines the strongest signal of each kind as independent evidence
(``1 - prod(1 - weight)``); a text is flagged at ``INJECTION_THRESHOLD`` (0.5) and above, which one
strong signal (an instruction override, a hidden or encoded instruction) reaches alone and weak
ones (an invisible character, a "system:" line) reach only together.

Signal kinds:

- ``instruction_override``: "ignore (all) previous instructions", "disregard the system prompt",
  "new instructions:", "from now on you ...".
- ``jailbreak``: role-play jailbreaks ("do anything now", "developer mode enabled", "pretend you
  have no restrictions", "you are now DAN").
- ``prompt_leak``: asks for the system prompt or hidden instructions.
- ``role_marker``: chat-template tokens (``<|im_start|>``, ``[INST]``, ``<<SYS>>``...) and, weaker,
  lines starting with ``system:`` / ``assistant:``.
- ``exfiltration``: "send/upload ... (credentials, the conversation...) to http...", "include the
  API key in the URL".
- ``addressing_the_model``: text written to the model rather than the reader ("note to the AI",
  "if you are an AI assistant", "do not tell the user").
- ``hidden_instruction``: any of the above inside hidden markup, a markdown comment or Unicode tag
  characters; ``hidden_text``: hidden markup without an instruction (weak).
- ``encoded_instruction``: a base64 payload that decodes to any of the above.
- ``homoglyph_obfuscation``: an instruction only visible after folding look-alike letters;
  ``mixed_script``: words mixing Latin with look-alike letters (weak).
- ``invisible_characters``: zero-width characters inside words, bidi controls.
- ``markdown_exfiltration``: a markdown image or link whose URL query carries a template
  placeholder or a long encoded value (images load without a click).

Phrases quoted or in code inside a text that discusses prompt injection ("attackers write
'ignore previous instructions'") weigh a quarter as much, so that documentation and security
tickets stay below the threshold.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qsl, urlsplit

from ext_proc.scanning.confusables import fold, mixed_script_words
from ext_proc.scanning.hidden import hidden_parts, invisible_counts, strip_hidden
from ext_proc.scanning.hyperscan_db import BlockDatabase, HsPattern, scan_bytes

INJECTION_THRESHOLD = 0.5

# Bounds that keep the cost linear for large tool results.
_MAX_ENCODED_PAYLOADS = 32
_MAX_ENCODED_CHARS = 65_536


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str
    detail: str  # pattern names and counts only: safe to log
    weight: float


@dataclass(frozen=True, slots=True)
class InjectionResult:
    score: float
    signals: tuple[Signal, ...]

    @property
    def flagged(self) -> bool:
        return self.score >= INJECTION_THRESHOLD


@dataclass(frozen=True, slots=True)
class _Phrase:
    name: str
    kind: str
    weight: float
    expression: str  # hyperscan syntax, matched against folded (lower-case ASCII) text


_W = r"\s+"  # between words
_ANY_WORDS = r"(?:[a-z0-9'_-]+\s+){0,8}"
_PHRASES: tuple[_Phrase, ...] = (
    _Phrase(
        "ignore_previous_instructions",
        "instruction_override",
        0.7,
        r"\b(?:ignore|disregard|forget|skip|override|bypass|drop)\s+(?:(?:all|any|the|your|my|of|these|those|every)\s+)*"
        r"(?:previous|prior|above|earlier|preceding|former|original|initial|existing|system)\s+"
        r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|messages?|context|commands?|guidance)",
    ),
    _Phrase(
        "disregard_system_prompt",
        "instruction_override",
        0.7,
        r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:the\s+|your\s+|all\s+)?(?:system\s+prompt|system\s+message"
        r"|developer\s+message|guardrails|safety\s+(?:rules|guidelines|filters)|content\s+polic(?:y|ies))",
    ),
    _Phrase(
        "new_instructions",
        "instruction_override",
        0.6,
        r"\b(?:new|updated|real|actual|revised|true|override)\s+(?:system\s+)?instructions?\s*:",
    ),
    _Phrase(
        "from_now_on",
        "instruction_override",
        0.6,
        r"\bfrom\s+now\s+on,?\s+(?:you\s+(?:are|will|must|shall|should)|ignore|only|always|never|respond|act)",
    ),
    _Phrase(
        "do_not_follow",
        "instruction_override",
        0.6,
        r"\b(?:do\s+not|don't|never|stop)\s+follow(?:ing)?\s+(?:your|the|any)\s+(?:previous\s+|original\s+|system\s+)?"
        r"(?:instructions|rules|guidelines|prompt)",
    ),
    _Phrase(
        "you_are_now",
        "jailbreak",
        0.6,
        r"\byou\s+are\s+now\s+(?:an?\s+)?(?:dan\b|unrestricted|unfiltered|uncensored|jailbroken|evil|free\s+from"
        r"|no\s+longer\s+(?:bound|restricted|an?\s+(?:ai|assistant))|in\s+(?:developer|god|jailbreak|dan)\s+mode"
        r"|a\s+different\s+(?:ai|assistant|model))",
    ),
    _Phrase(
        "do_anything_now",
        "jailbreak",
        0.6,
        r"\bdo\s+anything\s+now\b|\bdan\s+mode\b|\bdeveloper\s+mode\s+(?:enabled|output|on)\b|\bjailbreak(?:ed)?\s+mode\b",
    ),
    _Phrase(
        "no_restrictions",
        "jailbreak",
        0.6,
        r"\b(?:pretend|imagine|act\s+as\s+if)\s+(?:that\s+)?you\s+(?:are|have|were)\s+(?:an?\s+)?(?:ai\s+)?"
        r"(?:with(?:out)?\s+)?no\s+(?:restrictions|rules|limits|limitations|guidelines|filters|ethics)"
        r"|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|amoral)\b"
        r"|\bno\s+(?:ethical|moral)\s+(?:guidelines|restrictions|constraints|boundaries)\b",
    ),
    _Phrase(
        "reveal_system_prompt",
        "prompt_leak",
        0.5,
        r"\b(?:reveal|print|show|repeat|output|display|leak|dump|tell\s+me|what\s+(?:is|are))\s+(?:me\s+)?(?:your|the)\s+"
        r"(?:full\s+|entire\s+|complete\s+|exact\s+)?(?:system\s+prompt|initial\s+prompt|hidden\s+prompt|prompt\s+above"
        r"|instructions\s+above|(?:original|initial|hidden|secret|system)\s+instructions)",
    ),
    _Phrase(
        "chat_template_token",
        "role_marker",
        0.6,
        r"<\|(?:im_start|im_end|system|assistant|user|endoftext|start_header_id|end_header_id|eot_id)\|>"
        r"|\[/?inst\]|<<\s*/?sys\s*>>",
    ),
    _Phrase(
        "role_label", "role_marker", 0.3, r"(?:^|\n)[ \t]*(?:#+[ \t]*)?(?:system|assistant|developer)[ \t]*:"
    ),
    _Phrase(
        "send_secrets_to_url",
        "exfiltration",
        0.7,
        r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|copy|paste)\s+"
        + _ANY_WORDS
        + r"(?:conversation|chat|history|messages|emails|inbox|contacts|api\s*keys?|passwords?|credentials"
        r"|secrets?|tokens?|system\s+prompt"
        r"|env(?:ironment)?(?:\s+variables)?|cookies?|ssh\s+keys?|private\s+keys?)\s+"
        + _ANY_WORDS
        + r"(?:to|at|into|on)\s+(?:https?://|ftp://|the\s+(?:url|endpoint|webhook|server)\b)",
    ),
    _Phrase(
        "send_data_to_url",
        "exfiltration",
        0.4,
        r"\b(?:send|post|upload|forward|transmit|exfiltrate)\s+"
        + _ANY_WORDS
        + r"(?:to|at)\s+(?:https?://|ftp://)",
    ),
    _Phrase(
        "data_in_url",
        "exfiltration",
        0.6,
        r"\b(?:append|add|include|encode|embed|put)\s+"
        + _ANY_WORDS
        + r"(?:to|in|into|as)\s+(?:the\s+|a\s+|this\s+)?"
        r"(?:url|link|image\s+(?:url|link|src)|query\s+(?:string|parameter))",
    ),
    _Phrase(
        "note_to_the_model",
        "addressing_the_model",
        0.4,
        r"\b(?:note|message|instructions?|attention|important|reminder)\s+(?:to|for)\s+(?:the\s+|all\s+|any\s+)?"
        r"(?:ai|assistant|llm|language\s+model|chatbot|agent|bot)s?\b"
        r"|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|assistant|chatbot|ai\s+agent)\b"
        r"|\b(?:ai|llm)\s+(?:assistants?|agents?|models?)\s+(?:reading|processing|summari[sz]ing)\s+this"
        r"|(?:^|[\n.!?]\s*)(?:dear\s+)?(?:ai\s+)?(?:assistant|ai|llm|agent|chatbot)\s*,\s+(?:when|before|after|while"
        r"|please|you\s+must|you\s+should|ignore|do\s+not)\b",
    ),
    _Phrase(
        "hide_from_user",
        "addressing_the_model",
        0.5,
        r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this\s+)?to|alert|show\s+this\s+to|reveal\s+this\s+to)"
        r"\s+the\s+user\b|\bwithout\s+(?:telling|informing|notifying|alerting)\s+the\s+user\b",
    ),
)

# Scanned in the same hyperscan pass as the phrases, under these ids:
# words that mark a text as one discussing prompt injection (documentation, a security ticket),
_DISCUSSION_ID = len(_PHRASES)
_DISCUSSION = (
    r"prompt[\s-]injection|jailbreak|\battack(?:er|s)?\b|for\s+example|examples\s+(?:of|are|include)|e\.g\."
    r"|such\s+as|for\s+instance|phrases?\s+like|\bdetect|\bclassifier|red[\s-]team|owasp|llm01"
)
# and the 24th character of a run of base64 (or base64url) characters, which may carry a payload.
_BASE64_ID = len(_PHRASES) + 1
_BASE64_START = r"(?:^|[^a-z0-9+/_-])[a-z0-9+/_-]{24}"
_BASE64_LENGTH = 24
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_MARKDOWN_URL = re.compile(r"\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]{1,2048})")
_PLACEHOLDER = re.compile(r"[{}<>$\[\]]|%7b|%7d|%3c|%3e", re.IGNORECASE)
_ENCODED_VALUE = re.compile(r"^[A-Za-z0-9+/_=%-]{40,}$")


def detect_injection(text: str) -> InjectionResult:
    signals: list[Signal] = []
    visible = strip_hidden(text)
    folded = fold(visible)
    scan = _scan(folded)
    plain = scan if folded == visible.lower() else _scan(visible.lower())
    for name, end in scan.phrases:
        phrase = _phrase(name)
        weight = phrase.weight * _context_discount(folded, end, scan.discussion)
        signals.append(Signal(phrase.kind, name, round(weight, 3)))
        if name not in dict(plain.phrases):
            signals.append(Signal("homoglyph_obfuscation", name, 0.7))
    signals += _hidden_signals(text)
    signals += (Signal("encoded_instruction", name, 0.7) for name in _encoded_instructions(visible, scan))
    signals += _character_signals(text)
    signals += _markdown_signals(visible)
    return _result(signals)


def _result(signals: list[Signal]) -> InjectionResult:
    strongest: dict[str, float] = {}
    for signal in signals:
        strongest[signal.kind] = max(strongest.get(signal.kind, 0.0), signal.weight)
    remaining = 1.0
    for weight in strongest.values():
        remaining *= 1.0 - weight
    unique = tuple(dict.fromkeys(signals))
    return InjectionResult(round(1.0 - remaining, 4), unique)


@dataclass(frozen=True, slots=True)
class _Scan:
    phrases: list[tuple[str, int]]  # (phrase name, end offset), the first occurrence of each
    discussion: bool
    base64_starts: list[int]


def _scan(folded: str) -> _Scan:
    phrases: dict[str, int] = {}
    discussion = False
    base64_starts: list[int] = []
    for index, _, end in _phrase_database().scan(scan_bytes(folded)):
        if index == _DISCUSSION_ID:
            discussion = True
        elif index == _BASE64_ID:
            base64_starts.append(end - _BASE64_LENGTH)
        else:
            name = _PHRASES[index].name
            phrases[name] = min(phrases.get(name, end), end)
    return _Scan(sorted(phrases.items(), key=lambda item: item[1]), discussion, sorted(base64_starts))


def _phrase_names(text: str) -> list[str]:
    return [name for name, _ in _scan(fold(text)).phrases]


def _context_discount(folded: str, end: int, discussion: bool) -> float:
    """A phrase in quotes or code is being cited; in a text about prompt injection, more so."""
    line_start = folded.rfind("\n", 0, end) + 1
    before = folded[line_start:end]
    quoted = (before.count('"') + before.count("`") + before.count("“")) % 2 == 1 or (
        folded.count("```", 0, end) % 2 == 1
    )
    if quoted:
        return 0.25 if discussion else 0.6
    return 0.85 if discussion else 1.0


def _hidden_signals(text: str) -> Iterable[Signal]:
    for part in hidden_parts(text):
        names = _instructions_in(part.text)
        if names:
            yield Signal("hidden_instruction", f"{part.kind}:{names[0]}", 0.8)
        elif part.kind == "tag_characters":
            yield Signal("hidden_text", part.kind, 0.5)
        elif part.text.strip():
            yield Signal("hidden_text", part.kind, 0.15)


def _instructions_in(text: str) -> list[str]:
    """Phrase names found in ``text`` as written or in the base64 payloads it carries."""
    folded = fold(text)
    scan = _scan(folded)
    names = [name for name, _ in scan.phrases]
    return names or [name.removeprefix("base64:") for name in _encoded_instructions(text, scan)]


def _encoded_instructions(text: str, scan: _Scan) -> Iterable[str]:
    """Phrase names in the base64 runs of ``text``. ``scan`` is that of the folded text, whose
    offsets are those of ``text`` when it is ASCII (folding is then only lower-casing)."""
    if not text.isascii():
        scan = _scan(text)
    for start in scan.base64_starts[:_MAX_ENCODED_PAYLOADS]:
        run = _BASE64_RUN.match(text, start)
        if run is None:
            continue
        decoded = _decode_base64(run.group()[:_MAX_ENCODED_CHARS])
        if decoded is not None:
            for name in _phrase_names(decoded)[:1]:
                yield f"base64:{name}"


def _decode_base64(run: str) -> str | None:
    """The text a base64 (or base64url) run decodes to, or None when it is not mostly text
    (images, keys and hashes decode to binary)."""
    padded = run.rstrip("=") + "=" * (-len(run.rstrip("=")) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        decoded = data.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(1 for char in decoded if char.isprintable() or char in "\n\t")
    return decoded if decoded and printable / len(decoded) > 0.95 else None


def _character_signals(text: str) -> Iterable[Signal]:
    zero_width, bidi = invisible_counts(text)
    if zero_width:
        yield Signal("invisible_characters", f"zero_width={zero_width}", 0.4 if zero_width >= 3 else 0.25)
    if bidi:
        yield Signal("invisible_characters", f"bidi_controls={bidi}", 0.3)
    mixed = mixed_script_words(text)
    if mixed:
        yield Signal("mixed_script", f"words={mixed}", 0.2)


def _markdown_signals(visible: str) -> Iterable[Signal]:
    for match in _MARKDOWN_URL.finditer(visible):
        image = visible[match.start() - 1 : match.start()] == "!"
        url = match.group(1)
        reason = _exfiltration_reason(url)
        if reason is not None:
            kind = "image" if image else "link"
            weight = (0.7 if image else 0.5) if reason == "placeholder" else (0.5 if image else 0.3)
            yield Signal("markdown_exfiltration", f"{kind}:{reason}", weight)


def _exfiltration_reason(url: str) -> str | None:
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    for _, value in parse_qsl(query, keep_blank_values=True):
        if _PLACEHOLDER.search(value):
            return "placeholder"
        if _ENCODED_VALUE.match(value):
            return "encoded_value"
    return "placeholder" if _PLACEHOLDER.search(query) else None


@cache
def _phrase_database() -> BlockDatabase:
    patterns = [HsPattern(index, p.expression, start=False) for index, p in enumerate(_PHRASES)]
    patterns.append(HsPattern(_DISCUSSION_ID, _DISCUSSION, start=False))
    patterns.append(HsPattern(_BASE64_ID, _BASE64_START, caseless=True, start=False))
    return BlockDatabase(patterns)


@cache
def _phrase(name: str) -> _Phrase:
    return next(p for p in _PHRASES if p.name == name)

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
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import numpy.typing as npt

from ext_proc.scanning import encoded, views
from ext_proc.scanning.classifier import default_model
from ext_proc.scanning.confusables import fold, fold_decomposed, mixed_script_words
from ext_proc.scanning.hidden import hidden_parts, invisible_counts, strip_hidden
from ext_proc.scanning.hyperscan_db import BlockDatabase, HsPattern, scan_bytes
from ext_proc.scanning.injection_phrases import PHRASES as _PHRASES
from ext_proc.scanning.injection_phrases import Phrase as _Phrase

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


# Scanned in the same hyperscan pass as the phrases, under these ids:
# words that mark a text as one discussing prompt injection (documentation, a security ticket),
_DISCUSSION_ID = len(_PHRASES)
_DISCUSSION = (
    r"prompt[\s-]injection|jailbreak(?:s|ing)?\b|\battack(?:er|s)?\b|\bdetect|\bclassifier|red[\s-]team"
    r"|owasp|llm01|\bsecurity\b|\bmalicious\b|\bphishing\b"
)
# and words that often introduce a citation (but also appear in jailbreaks: they discount quoted
# phrases, not the classifier),
_CITING_ID = len(_PHRASES) + 2
_CITING = r"for\s+example|examples\s+(?:of|are|include)|e\.g\.|such\s+as|for\s+instance|phrases?\s+like"
# and, as cheap triggers for the costlier decodings: characters interleaved with a separator, a
# run of hex digits, words mixing letters with digits (leetspeak).
_INTERLEAVED_ID = len(_PHRASES) + 3
_INTERLEAVED_START = r"(?:^|\s)(?:\S[ ._|*/,;:~+-]){6}\S"
_HEX_ID = len(_PHRASES) + 4
_HEX_START = r"(?:^|[^0-9a-z])[0-9a-f]{24}"
_LEET_ID = len(_PHRASES) + 5
_LEET_WORD = r"(?:[a-z][0134578@$][a-z0134578@$]|\b[0134578][a-z])"
_LEET_START = f"{_LEET_WORD}.*{_LEET_WORD}.*{_LEET_WORD}"  # three of them: one "utf8" is no leetspeak
# and the 24th character of a run of base64 (or base64url) characters, which may carry a payload.
_BASE64_ID = len(_PHRASES) + 1
_BASE64_START = r"(?:^|[^a-z0-9+/_-])[a-z0-9+/_-]{24}"
_BASE64_LENGTH = 24
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_MARKDOWN_URL = re.compile(r"\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]{1,2048})")
_PLACEHOLDER = re.compile(r"[{}<>$\[\]]|%7b|%7d|%3c|%3e", re.IGNORECASE)
_ENCODED_VALUE = re.compile(r"^[A-Za-z0-9+/_=%-]{40,}$")


def detect_injection(text: str, *, classify: bool = True, part: bool = False) -> InjectionResult:
    """``part``: ``text`` is a sentence of a text already flagged (``strip`` looking for the
    injection in it), where the classifier may flag a few words alone."""
    signals: list[Signal] = []
    visible = strip_hidden(text)
    folded = fold(visible)
    scan = _scan(folded)
    probability, top = _classifier_score(visible, folded) if classify else (0.0, None)
    discount = _discounted(folded, scan)
    plain_names = _plain_phrase_names(visible, folded, scan)
    for name, end in scan.phrases:
        phrase = _phrase(name)
        weight = phrase.weight * (
            _context_discount(folded, end, scan.discussion or scan.citing) if discount else 1.0
        )
        signals.append(Signal(phrase.kind, name, round(weight, 3)))
        if name not in plain_names:
            signals.append(Signal("homoglyph_obfuscation", name, 0.7))
    signals += _hidden_signals(text)
    signals += (Signal("encoded_instruction", name, 0.7) for name in _encoded_instructions(visible, scan))
    signals += _decoded_view_signals(visible, folded, scan)
    signals += _character_signals(text)
    signals += _markdown_signals(visible)
    alone_ok = (part or len(visible) >= _CLASSIFIER_ALONE_CHARS) and probability >= _CLASSIFIER_ALONE
    if probability >= _CLASSIFIER_FLOOR and (signals or alone_ok):
        discussed = discount and scan.discussion and _discussed_near(folded, len(visible), top)
        weight = probability * (_DISCUSSION_WEIGHT if discussed else 1.0)
        weight *= _STRUCTURED_WEIGHT if _structured(visible) else 1.0
        signals.append(Signal("classifier", f"p={probability:.2f}", round(weight, 3)))
    return _result(signals)


# Below this probability the classifier adds no signal (its weak scores are noise, and adding
# them to weak heuristic signals would flag benign texts); alone, without any heuristic signal,
# it must be surer (chosen on the calibration split: false positives fall from 1.6% to 0.5%).
_CLASSIFIER_FLOOR = 0.35
_CLASSIFIER_ALONE = 0.7
# Nor does it flag a short text alone ("Delete a user account.", a tool's description): a few
# words are too little to tell an order to the model from an ordinary one.
_CLASSIFIER_ALONE_CHARS = 80
# In a text that discusses prompt injection (and has no strong phrase outside quotes), the
# classifier's evidence counts a third: it reads the cited attack, not the citing.
_DISCUSSION_WEIGHT = 0.35
# A phrase this strong, outside quotes and code, means the text is not merely discussing one.
_STRONG = 0.5


# Configuration files and data (YAML, INI, JSON, XML: mostly "key: value" lines) are not the prose
# the classifier learned from: its evidence counts half there.
_STRUCTURED_WEIGHT = 0.5
_KEY_VALUE_LINE = re.compile(r"^\s*(?:[-\w\"'.\[\]]+\s*[:=]|[\[{<}\]>-])", re.MULTILINE)


def _structured(visible: str) -> bool:
    lines = [line for line in visible[:4096].splitlines() if line.strip()]
    return len(lines) >= 3 and len(_KEY_VALUE_LINE.findall(visible[:4096])) >= 0.6 * len(lines)


def _classifier_score(visible: str, folded: str) -> tuple[float, tuple[int, int] | None]:
    """The classifier's probability and the span of ``visible`` its evidence comes from."""
    model = default_model()
    return model.score(visible, folded) if model is not None else (0.0, None)


# How far around the classifier's strongest window a word of the discussion still discounts it.
_DISCUSSION_REACH = 400
_DISCUSSION_WORDS = re.compile(_DISCUSSION)


def _discussed_near(folded: str, length: int, top: tuple[int, int] | None) -> bool:
    """Whether the text discusses prompt injection near where the classifier found it: a
    document that cites an attack names it beside the citation, while a long jailbreak that says
    "security" once, pages away, is not discussing anything."""
    if top is None:
        return True
    scale = len(folded) / max(1, length)
    start = max(0, int(top[0] * scale) - _DISCUSSION_REACH)
    return _DISCUSSION_WORDS.search(folded, start, int(top[1] * scale) + _DISCUSSION_REACH) is not None


def _plain_phrase_names(visible: str, folded: str, scan: _Scan) -> set[str]:
    """The phrases found without folding look-alikes (only scanned again when folding changed
    the text and found a phrase)."""
    lowered = visible.lower()
    if not scan.phrases or folded == lowered:
        return {name for name, _ in scan.phrases}
    return {name for name, _ in _scan(lowered).phrases}


def _discounted(folded: str, scan: _Scan) -> bool:
    """The "quoted or discussed" discount applies only when nothing strong remains: no strong
    phrase outside quotes or code."""
    for name, end in scan.phrases:
        if (
            _phrase(name).weight >= _STRONG
            and _context_discount(folded, end, scan.discussion or scan.citing) == 1.0
        ):
            return False
    return True


def _decoded_view_signals(visible: str, folded: str, scan: _Scan) -> Iterable[Signal]:
    """Instructions only readable once escapes, URL encoding or HTML references are decoded,
    combining marks removed, characters interleaved with separators joined, or hex decoded."""
    found = {name for name, _ in scan.phrases}
    for view_name, decoded in _decoded_views(visible, folded, scan):
        if view_name == "marks":
            names = [name for name, _ in _scan(fold_decomposed(decoded)).phrases]
        else:
            names = _phrase_names(decoded)
        for name in names:
            if name not in found and _phrase(name).weight >= 0.45:
                found.add(name)
                yield Signal("encoded_instruction", f"{view_name}:{name}", 0.7)


_INTERLEAVED = re.compile(r"(?<!\S)\S([ ._|*/,;:~+-])(?:[^\r\n]\1){6,2000}\S(?!\S)")
_HEX_RUN = re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}){12,16384}(?![0-9A-Za-z])")


_LEET = bytes.maketrans(b"0134578@$", b"oieastbas")
# An escape the view decodes (``views._TOKEN`` without its non-ASCII characters): without one, the
# view of a text is its folding, format characters and marks removed, which the cheaper "marks"
# view reads (a "%" or "&" in prose, common, no longer costs a view and a second folding).
_ESCAPE = re.compile(
    r"\\(?:u[0-9A-Fa-f{]|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2})|%(?:25)?[0-9A-Fa-f]{2}|&(?:amp;)?#|&[A-Za-z]{2,10};"
)


def _decoded_views(visible: str, folded: str, scan: _Scan) -> Iterable[tuple[str, str]]:
    if _ESCAPE.search(visible):
        view = views.build(visible)
        if view.changed:
            yield "escapes", view.text
    elif not folded.isascii():
        # No escape to decode: what the view adds to the folded text is the removal of format
        # characters and combining marks (accents too: "ìgnore" reads "ignore"), done on the
        # whole text (building the view decodes each character apart, five times the cost).
        stripped = _without_marks(unicodedata.normalize("NFKD", folded))
        if stripped is not None:
            yield "marks", stripped
    if scan.leetspeak:
        # (ASCII to ASCII on the UTF-8 bytes: no multi-byte sequence holds an ASCII byte)
        lowered = visible[:_MAX_ENCODED_CHARS].lower().encode("utf-8", "surrogatepass")
        yield "leetspeak", lowered.translate(_LEET).decode("utf-8", "surrogatepass")
    if _INTERLEAVED_ID in scan.triggers:
        for count, match in enumerate(_INTERLEAVED.finditer(visible)):
            if count >= _MAX_ENCODED_PAYLOADS:
                break
            yield "interleaved", match.group()[::2]
    if _HEX_ID in scan.triggers:
        for count, match in enumerate(_HEX_RUN.finditer(visible)):
            if count >= _MAX_ENCODED_PAYLOADS:
                break
            decoded = encoded.hex_text(match.group()[:_MAX_ENCODED_CHARS])
            if decoded is not None:
                yield "hex", decoded


def _without_marks(decomposed: str) -> str | None:
    """``decomposed`` without format characters and combining marks, or None when it has none."""
    codes = np.frombuffer(decomposed.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    marks = _mark_table()[np.minimum(codes, _MARK_TABLE_END - 1)]
    if not marks.any():
        return None
    return codes[~marks].tobytes().decode("utf-32-le", "surrogatepass")


# Every format character (Cf) and combining mark (Mn, Me) lies below U+20000 or in the tag and
# variation-selector block U+E0000-U+E0FFF.
_MARK_TABLE_END = 0xE1000


@cache
def _mark_table() -> npt.NDArray[np.bool_]:
    table = np.zeros(_MARK_TABLE_END, dtype=np.bool_)
    for code in (*range(0x20000), *range(0xE0000, _MARK_TABLE_END - 1)):
        table[code] = unicodedata.category(chr(code)) in ("Cf", "Mn", "Me")
    return table


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
    discussion: bool  # the text is about prompt injection
    citing: bool  # it cites something ("for example", "such as")
    base64_starts: list[int]
    triggers: frozenset[int] = frozenset()  # which of the decoding triggers matched (ids)
    leetspeak: bool = False  # three words or more mix letters with digits


def _scan(folded: str) -> _Scan:
    phrases: dict[str, int] = {}
    discussion = citing = False
    triggers: set[int] = set()
    leetspeak = False
    base64_starts: list[int] = []
    for index, _, end in _phrase_database().scan(scan_bytes(folded)):
        if index == _DISCUSSION_ID:
            discussion = True
        elif index == _CITING_ID:
            citing = True
        elif index in (_INTERLEAVED_ID, _HEX_ID):
            triggers.add(index)
        elif index == _LEET_ID:
            leetspeak = True
        elif index == _BASE64_ID:
            base64_starts.append(end - _BASE64_LENGTH)
        else:
            name = _PHRASES[index].name
            phrases[name] = min(phrases.get(name, end), end)
    ordered = sorted(phrases.items(), key=lambda item: item[1])
    return _Scan(ordered, discussion, citing, sorted(base64_starts), frozenset(triggers), leetspeak)


def _phrase_names(text: str) -> list[str]:
    return [name for name, _ in _scan(fold(text)).phrases]


def _context_discount(folded: str, end: int, discussion: bool) -> float:
    """A phrase in quotes or code inside a text that discusses prompt injection is being cited;
    quotes alone are no sign of that (injections planted in documents are often quoted)."""
    if not discussion:
        return 1.0
    line_start = folded.rfind("\n", 0, end) + 1
    before = folded[line_start:end]
    quoted = (
        (before.count('"') + before.count("`") + before.count("\u201c")) % 2 == 1
        or folded.count("```", 0, end) % 2 == 1
        or _SINGLE_QUOTED.search(before) is not None
    )
    return 0.25 if quoted else 0.85


# A single quote that opens (after a space or bracket) and is not closed before the phrase ends:
# an apostrophe ("don't") sits between letters and opens nothing.
_SINGLE_QUOTED = re.compile(r"(?:^|[\s(\[:])['\u2018](?=\w)[^'\u2019]*(?:'\w[^'\u2019]*)*$")


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
    offsets are those of ``text`` when it is ASCII (folding is then only lower-casing). Folding
    only ever turns characters into ASCII letters: a text whose folded form has no base64 run
    has none either."""
    if not scan.base64_starts:
        return
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
    # Each report is a Python callback: every pattern but the base64 one reports its first match
    # only (the phrases' first occurrence is all that is used).
    patterns = [HsPattern(index, p.expression, start=False, single=True) for index, p in enumerate(_PHRASES)]
    patterns.append(HsPattern(_DISCUSSION_ID, _DISCUSSION, start=False, single=True))
    patterns.append(HsPattern(_BASE64_ID, _BASE64_START, caseless=True, start=False))
    patterns.append(HsPattern(_CITING_ID, _CITING, start=False, single=True))
    patterns.append(HsPattern(_INTERLEAVED_ID, _INTERLEAVED_START, start=False, single=True))
    patterns.append(HsPattern(_HEX_ID, _HEX_START, start=False, single=True))
    patterns.append(HsPattern(_LEET_ID, _LEET_START, start=False, dotall=True, single=True))
    return BlockDatabase(patterns)


@cache
def _phrase(name: str) -> _Phrase:
    return next(p for p in _PHRASES if p.name == name)

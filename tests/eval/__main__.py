"""``make eval``: detection measured on corpora built here (not part of ``make test``).

    .venv/bin/python -m tests.eval [--pii 3000] [--stream 150]

1. Prompt injection on the test split of the classifier's corpus (never trained or tuned on):
   recall per attack family, direct and indirect; false positives per benign kind; and what
   ``"injection": "strip"`` leaves of each planted injection in an MCP tool result.
2. Sensitive data in texts generated with Faker (names, addresses, order numbers, timestamps,
   versions and ids around the values): recall and precision per type.
3. Each value through each encoding (URL, base64, hex, zero-width, escapes, HTML references,
   look-alikes, interleaving): the share caught.
4. Streams cut at every point: values that reach the output of a stream but not of a block scan.
"""

from __future__ import annotations

import argparse
import base64
import random
from collections import Counter, defaultdict
from collections.abc import Callable

from ext_proc.inspection import guard
from ext_proc.inspection.request import TOOL_RESULT, ScanText
from ext_proc.scanning import StreamRedactor, detect_injection, redact_text
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.training import corpus
from tests.eval.generated import Planted, generated_texts

ENCODINGS: dict[str, Callable[[str], str]] = {
    "url_encoded": lambda v: "".join(f"%{ord(c):02X}" for c in v),
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "hex": lambda v: v.encode().hex(),
    "zero_width_every_char": "\u200b".join,
    "literal_u_escapes": lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
    "literal_x_escapes": lambda v: "".join(f"\\x{ord(c):02x}" for c in v),
    "html_entities": lambda v: "".join(f"&#{ord(c)};" for c in v),
    "fullwidth": lambda v: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in v),
    "interleaved_spaces": " ".join,
}


def injection(report: Callable[[str], None]) -> None:
    built = corpus.build()
    test = [sample for sample, split in built if split == "test"]
    hits: dict[tuple[int, str, str], list[bool]] = defaultdict(list)
    for sample in test:
        hits[(sample.label, sample.direction, sample.family)].append(detect_injection(sample.text).flagged)
    report("\n== prompt injection: test split of the corpus (never trained or tuned on) ==")
    for (label, direction, family), flags in sorted(hits.items()):
        what = "recall" if label else "false positives"
        report(f"  {direction:>8}  {family:<32} {what:>15}  {_rate(flags)}")
    for direction in ("direct", "indirect"):
        flags = [f for (label, d, _), v in hits.items() if label == 1 and d == direction for f in v]
        report(f"  {direction} recall: {_rate(flags)}")
    report(
        f"  false positives on benign text: {_rate([f for (lb, _, _), v in hits.items() if lb == 0 for f in v])}"
    )
    stripped_clean = []
    kept: list[float] = []
    for sample in test:
        if sample.span is None:
            continue
        scans = guard.scan([ScanText(("result", "content", 0, "text"), sample.text, TOOL_RESULT, "text")])
        applied = guard.apply(scans, ActionTable(), strip=True)
        out = applied.replacements[0][1] if applied.replacements else sample.text
        stripped_clean.append(not detect_injection(out).flagged)
        carrier = (sample.text[: sample.span[0]] + sample.text[sample.span[1] :]).split()
        kept.append(sum(word in out for word in carrier) / max(1, len(carrier)))
    report(
        f"  strip (MCP tool results with a planted injection): no injection left in {_rate(stripped_clean)};"
        f" {100 * sum(kept) / max(1, len(kept)):.1f}% of the document's words kept"
    )


def sensitive_data(count: int, report: Callable[[str], None]) -> list[tuple[str, list[Planted]]]:
    texts = generated_texts(count, seed=20261204)
    found_by_type: Counter[str] = Counter()
    planted_by_type: Counter[str] = Counter()
    true_findings = false_findings = 0
    false_by_type: Counter[str] = Counter()
    for text, planted in texts:
        findings = redact_text(text).findings
        for value in planted:
            planted_by_type[value.type] += 1
            if any(f.type == value.type and f.start <= value.start and f.end >= value.end for f in findings):
                found_by_type[value.type] += 1
        for finding in findings:
            if any(finding.start < v.end and v.start < finding.end for v in planted):
                true_findings += 1
            else:
                false_findings += 1
                false_by_type[finding.type] += 1
    report(f"\n== sensitive data: {len(texts)} generated texts (Faker), block scanner ==")
    for kind in sorted(planted_by_type):
        report(f"  {kind:<18} recall {found_by_type[kind]:5d}/{planted_by_type[kind]:<5d}"
               f" {100 * found_by_type[kind] / planted_by_type[kind]:6.2f}%   false findings {false_by_type[kind]}")  # fmt: skip
    recall = sum(found_by_type.values()) / max(1, sum(planted_by_type.values()))
    precision = true_findings / max(1, true_findings + false_findings)
    pii = [k for k in planted_by_type if k in _PII]
    pii_recall = sum(found_by_type[k] for k in pii) / max(1, sum(planted_by_type[k] for k in pii))
    report(
        f"  all types: recall {100 * recall:.2f}%, precision {100 * precision:.2f}%; PII recall {100 * pii_recall:.2f}%"
    )
    return texts


_PII = {"EMAIL", "PHONE", "CREDIT_CARD", "US_SSN", "IBAN", "IP_ADDRESS"}


def encodings(texts: list[tuple[str, list[Planted]]], report: Callable[[str], None]) -> None:
    report("\n== each value through each encoding (caught = a finding of its type covers it) ==")
    # A password is only a password by the name it is assigned to: bare, it has no shape to find.
    values = [v for _, planted in texts for v in planted if v.type != "PASSWORD"][:600]
    for name, encode in ENCODINGS.items():
        caught = []
        for value in values:
            encoded = encode(value.text)
            text = f"Here is the value: {encoded}\nThanks."
            start = text.index(encoded)
            findings = redact_text(text).findings
            caught.append(any(f.type == value.type and f.start <= start and f.end >= start + len(encoded) - 1
                              for f in findings))  # fmt: skip
        report(f"  {name:<24} {_rate(caught)}")


def streams(texts: list[tuple[str, list[Planted]]], count: int, report: Callable[[str], None]) -> None:
    rng = random.Random(7)
    chosen = rng.sample(texts, min(count, len(texts)))
    leaks = cuts = mismatches = 0
    for text, planted in chosen:
        encoded = (
            text + " and " + ENCODINGS[rng.choice(list(ENCODINGS))](planted[0].text) if planted else text
        )
        block = redact_text(encoded).text
        for cut in range(len(encoded) + 1):
            cuts += 1
            redactor = StreamRedactor()
            out = (
                redactor.feed(encoded[:cut]).emit + redactor.feed(encoded[cut:]).emit + redactor.finish().emit
            )
            if out != block:
                mismatches += 1
                leaks += sum(1 for v in planted if v.text in out and v.text not in block)
    report(
        f"\n== streams: {len(chosen)} texts (with an encoded value each) cut at every point: {cuts} streams =="
    )
    report(
        f"  differing from the block scan: {mismatches}; values leaked beyond the block scanner's misses: {leaks}"
    )


def _rate(flags: list[bool]) -> str:
    if not flags:
        return "n/a"
    return f"{sum(flags):5d}/{len(flags):<5d} {100 * sum(flags) / len(flags):6.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pii", type=int, default=3000, help="generated texts for the sensitive-data corpus")
    parser.add_argument("--stream", type=int, default=150, help="texts streamed at every cut point")
    args = parser.parse_args()
    injection(print)
    texts = sensitive_data(args.pii, print)
    encodings(texts, print)
    streams(texts, args.stream, print)


if __name__ == "__main__":
    main()

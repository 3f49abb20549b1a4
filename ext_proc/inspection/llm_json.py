"""A complete (non-streamed) LLM response: its texts redacted as a whole."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from ext_proc.protocols.llm import Provider, parse_response, replace_texts, strip_logprobs
from ext_proc.protocols.llm.model import Usage
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.redaction import default_scanner, redact_text
from ext_proc.scanning.scanner import Scanner


@dataclass(slots=True)
class JsonOutcome:
    body: bytes | None  # the new body; None when unchanged
    blocked_by: str | None  # a finding type whose action refuses the response
    findings: Counter[str] = field(default_factory=Counter)
    redacted: Counter[str] = field(default_factory=Counter)
    usage: Usage | None = None
    model: str | None = None


def inspect_llm_json(
    provider: Provider, body: bytes, table: ActionTable, *, scanner: Scanner | None = None
) -> JsonOutcome:
    response = parse_response(provider, body)
    document: Any = orjson.loads(body)
    outcome = JsonOutcome(None, None, usage=response.usage, model=response.model)
    replacements = []
    for text in response.texts:
        redaction = redact_text(text.text, table, scanner=scanner or default_scanner())
        for finding in redaction.findings:
            outcome.findings[finding.type] += 1
            if table.action_for(finding.type, finding.category) == "redact":
                outcome.redacted[finding.type] += 1
        if redaction.verdict is not None and redaction.stopped_by is not None:
            outcome.blocked_by = redaction.stopped_by.type
            return outcome
        if redaction.text != text.text:
            replacements.append((text, redaction.text))
    if replacements:
        # Token log probabilities spell out the original text: they go with any replacement.
        rewritten = strip_logprobs(provider, replace_texts(document, replacements))
        outcome.body = orjson.dumps(rewritten)
    return outcome

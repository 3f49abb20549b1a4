"""A complete (non-streamed) LLM response, or an LLM API's error body: every string redacted.

Two steps, because the policy may decide in between: ``read_llm_json`` parses the body as the
provider's (any status: an error body is a document of the same API) and scans every string in
it, object keys included; ``apply_llm_json`` redacts per the table and refuses on a stopping
finding. The provider's parser adds meaning: usage for the budgets, and which strings are the
model's own output (scanned for sensitive data, but not scored as prompt injection, which is
looked for in everything else: an unknown field is content).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ext_proc import strict_json
from ext_proc.inspection.guard import TextScan, apply, injection_input
from ext_proc.inspection.leaf_scan import LeafScanner
from ext_proc.inspection.leaves import Path, leaves, rewrite
from ext_proc.inspection.request import TOOL_RESULT
from ext_proc.protocols.llm import LlmResponse, Provider, parse_response, strip_logprobs
from ext_proc.protocols.llm.model import Usage
from ext_proc.protocols.llm.shapes import RESPONSE
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.scanner import Scanner


@dataclass(slots=True)
class JsonOutcome:
    body: bytes | None  # the new body; None when unchanged
    blocked_by: str | None  # a finding type whose action refuses the response
    findings: Counter[str] = field(default_factory=Counter)
    redacted: Counter[str] = field(default_factory=Counter)
    usage: Usage | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class LlmJson:
    provider: Provider
    document: Any
    response: LlmResponse
    scans: tuple[TextScan, ...]  # the strings in which something was found

    @property
    def injection(self) -> dict[str, Any]:
        return injection_input(self.scans)


def read_llm_json(
    provider: Provider, body: bytes, *, scanner: Scanner | None = None, echo: Collection[str] = ()
) -> LlmJson:
    """``echo``: the request's strings, which the answer may repeat (not injection coming back)."""
    document = RESPONSE.loads(body)
    response = parse_response(provider, document)
    own = _model_paths(response, document)
    scans = LeafScanner(TOOL_RESULT, scanner=scanner, echo=echo).scan(document, own=own)
    return LlmJson(provider, document, response, scans)


def apply_llm_json(read: LlmJson, table: ActionTable, *, strip: bool = False) -> JsonOutcome:
    response = read.response
    outcome = JsonOutcome(None, None, usage=response.usage, model=response.model)
    for scanned in read.scans:
        for finding in scanned.findings:
            outcome.findings[finding.type] += 1
    applied = apply(read.scans, table, strip=strip)
    outcome.redacted.update(applied.redacted)
    if applied.blocked_by is not None:
        outcome.blocked_by = applied.blocked_by
        return outcome
    if applied.replacements:
        rewritten = rewrite(read.document, [(text.path, new) for text, new in applied.replacements])
        # Token log probabilities spell out the original text: they go with any replacement.
        outcome.body = strict_json.dumps(strip_logprobs(read.provider, rewritten))
    return outcome


def inspect_llm_json(
    provider: Provider, body: bytes, table: ActionTable, *, scanner: Scanner | None = None
) -> JsonOutcome:
    """Both steps with no policy in between (the table alone decides)."""
    return apply_llm_json(read_llm_json(provider, body, scanner=scanner), table)


def _model_paths(response: LlmResponse, document: Any) -> set[Path]:
    """Where the model's own texts are (a tool input object: every string inside it)."""
    paths: set[Path] = set()
    for text in response.texts:
        if text.json_value:
            value = document
            for step in text.path:
                value = value[step]
            paths.update(path for path, _ in leaves(value, text.path))
        elif text.kind != "tool_result":
            paths.add(text.path)
    return paths

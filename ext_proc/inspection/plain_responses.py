"""Responses of a declared AI upstream to a request that is none of the APIs read field by field.

A route declared ``openai`` or ``anthropic`` also serves models lists, embeddings, files,
moderations; one declared ``mcp`` or ``a2a`` serves GET streams and agent cards. Whatever comes
back is inspected all the same, without a protocol parser to give it meaning: every string of a
JSON body, or of each event of a stream (its data read as JSON, or as text when it is not), is
scanned for sensitive data and prompt injection, redacted per the table; the policy judges what
carries injection (phase ``response_body``, the request's action). An event stream is parsed
strictly; what cannot be read ends it with the declared protocol's error event. Its events have
no known text stream to redact with holdback: a value split across events is found where it
continues, and ends the stream there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError
from ext_proc.inspection.guard import TextScan, apply, findings_input, injection_input
from ext_proc.inspection.judgement import Judge, Judgement
from ext_proc.inspection.leaf_scan import LeafScanner
from ext_proc.inspection.leaves import Path, is_key, leaves, rewrite
from ext_proc.inspection.request import TOOL_RESULT
from ext_proc.inspection.sse_sides import Sides
from ext_proc.protocols import jsonrpc
from ext_proc.protocols.llm.anthropic.stream import MessagesStream
from ext_proc.protocols.llm.openai_chat.stream import ChatStream
from ext_proc.protocols.sse import SseEvent, SseParser, make_event, with_data
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.redaction import default_scanner
from ext_proc.scanning.scanner import Scanner

ANTHROPIC = "anthropic"
# The longest value a detector reads (a private key block is longer, and is stopped at its start).
_TAIL_CHARS = 512
LLM_DECLARATIONS = frozenset({"openai", "anthropic"})


@dataclass(slots=True)
class PlainStats:
    findings: Counter[str] = field(default_factory=Counter)
    redacted: Counter[str] = field(default_factory=Counter)
    denied: int = 0


@dataclass(frozen=True, slots=True)
class PlainOutcome:
    body: bytes | None  # the new body; None when unchanged
    refused: Judgement | None = None  # the body must not reach the client: why (safe to show)


class PlainResponses:
    def __init__(
        self,
        declared: str,
        action: Any,
        judge: Judge,
        table: ActionTable,
        *,
        is_error: bool = False,
        judge_always: bool = False,
        scanner: Scanner | None = None,
    ) -> None:
        """``judge_always``: the policy asked for the body, so it decides on every document."""
        self._declared = declared
        self._judge_always = judge_always
        self._action = action
        self._judge = judge
        self._table = table
        self._is_error = is_error
        self._leaves = LeafScanner(TOOL_RESULT, scanner=scanner)
        self._scanner = scanner
        # Per location in the events: its last value, and the end of their concatenation.
        self._tails: dict[Path, tuple[str, str]] = {}
        self._parser = SseParser(strict=True)
        self.stats = PlainStats()
        self._sides = Sides(
            table, scanner=scanner, findings=self.stats.findings, redacted=self.stats.redacted
        )
        self.stopped = False

    # -- a JSON body ------------------------------------------------------------------------------

    async def json_body(self, data: bytes) -> PlainOutcome:
        document = strict_json.loads(data)
        changed = await self._document(document, in_place=False)
        if changed is None:
            return PlainOutcome(None)
        if isinstance(changed, _Stop):
            return PlainOutcome(None, changed.judgement)
        return PlainOutcome(strict_json.dumps(changed))

    # -- an event stream --------------------------------------------------------------------------

    async def feed(self, chunk: bytes) -> bytes:
        if self.stopped:
            return b""
        out = bytearray()
        try:
            for parsed in self._parser.feed(chunk):
                event = self._sides.event(parsed)
                if self._sides.stopped_by is not None:
                    return bytes(
                        out
                        + self.error_event("sensitive_data", f"the stream contained {self._sides.stopped_by}")
                    )
                out += await self._event(event)
                if self.stopped:
                    return bytes(out)
            idle = self._sides.idle(self._parser.take_idle())
        except ChaperoneError as exc:
            return bytes(
                out
                + self.error_event(
                    exc.code.value, f"the upstream stream could not be inspected: {exc.message}"
                )
            )
        if self._sides.stopped_by is not None:
            return bytes(
                out + self.error_event("sensitive_data", f"the stream contained {self._sides.stopped_by}")
            )
        return bytes(out + idle)

    def finish(self) -> bytes:
        self._parser.close()
        return b""

    def error_event(self, code: str, message: str) -> bytes:
        """End the stream with the declared protocol's error event."""
        if self.stopped:
            return b""
        self.stopped = True
        if self._declared in LLM_DECLARATIONS:
            interpreter = MessagesStream() if self._declared == ANTHROPIC else ChatStream()
            return interpreter.error_events(message, code)
        error = jsonrpc.error_response(None, jsonrpc.INTERNAL_ERROR, message, {"code": code})
        return make_event(jsonrpc.dumps(error).decode()).raw

    async def _event(self, event: SseEvent) -> bytes:
        if not event.data:
            return bytes(event.raw)
        try:
            document: Any = strict_json.loads(event.data.encode())
        except ChaperoneError:
            document = event.data  # not JSON ("[DONE]", plain text): read as one string
        spanning = self._spanning(document)
        if spanning is not None:
            return self.error_event("sensitive_data", f"the stream contained {spanning}")
        changed = await self._document(document, in_place=True)
        if changed is None:
            return bytes(event.raw)
        if isinstance(changed, _Stop):
            return self.error_event("policy_denied", changed.judgement.message)
        data = changed if isinstance(changed, str) else strict_json.dumps(changed).decode()
        return with_data(event, data).raw

    def _spanning(self, document: Any) -> str | None:
        """A value split across the events of a stream no parser here knows (a text streamed in
        pieces at the same place of every event): the string at each location is read joined
        to the end of the one before it. What the earlier event sent is gone, so a finding that
        starts there and ends here cannot be redacted: the stream ends (the type found, or None)."""
        scanner = self._scanner or default_scanner()
        for path, text in leaves(document):
            if is_key(path):
                continue
            last, tail = self._tails.get(path, ("", ""))
            if text == last:
                continue  # the same value again (an id, a type): not a text streaming in pieces
            if tail:
                for finding in scanner.scan(tail + text):
                    if finding.start < len(tail) < finding.end:
                        return finding.type
            self._tails[path] = (text, (tail + text)[-_TAIL_CHARS:])
        return None

    # -- one document -----------------------------------------------------------------------------

    async def _document(self, document: Any, *, in_place: bool) -> Any:
        """None when unchanged, the rewritten document, or a ``_Stop``."""
        scans = self._leaves.scan(document)
        if not scans and not self._judge_always:
            return None
        judgement = await self._judgement(scans, in_place=in_place)
        if not judgement.allowed:
            self.stats.denied += 1
            return _Stop(judgement)
        applied = apply(scans, judgement.table, strip=judgement.strip)
        self.stats.findings.update(findings_input(scans)["types"])
        self.stats.redacted.update(applied.redacted)
        if applied.blocked_by is not None:
            self.stats.denied += 1
            reason = f"the response contained {applied.blocked_by}"
            return _Stop(Judgement(allowed=False, table=judgement.table, strip=False, message=reason))
        if not applied.replacements:
            return None
        return rewrite(document, [(text.path, new) for text, new in applied.replacements])

    async def _judgement(self, scans: tuple[TextScan, ...], *, in_place: bool) -> Judgement:
        injection = injection_input(scans)
        if not (injection["signals"] or self._judge_always):
            return Judgement(allowed=True, table=self._table, strip=False)
        findings = findings_input(scans)
        return await self._judge.judge(self._action, findings, injection, self._is_error, in_place=in_place)


@dataclass(frozen=True, slots=True)
class _Stop:
    judgement: Judgement  # why the document must not reach the client

"""Stable error codes.

Every failure that turns into a deny carries one of these codes: it is what a client sees in the
JSON error body, what the audit event records and what labels the error metric. The codes are
part of the public contract (documented in policies/README.md); add new ones, never rename.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # Policy evaluation
    POLICY_UNDEFINED = "policy_undefined"
    POLICY_MULTIPLE_RESULTS = "policy_multiple_results"
    POLICY_EVAL_ERROR = "policy_eval_error"
    POLICY_NOT_LOADED = "policy_not_loaded"
    DECISION_INVALID = "decision_invalid"
    REDACTION_POLICY_INVALID = "redaction_policy_invalid"
    # Remote OPA
    OPA_UNAVAILABLE = "opa_unavailable"
    OPA_TIMEOUT = "opa_timeout"
    OPA_BAD_RESPONSE = "opa_bad_response"
    # Request and body handling
    REQUEST_PARSE_ERROR = "request_parse_error"
    BODY_PARSE_ERROR = "body_parse_error"
    BODY_DECODE_ERROR = "body_decode_error"
    BODY_TOO_LARGE = "body_too_large"
    BODY_DUPLICATE_KEY = "body_duplicate_key"
    BODY_TOO_DEEP = "body_too_deep"
    UNSUPPORTED_CHARSET = "unsupported_charset"
    CONTENT_TYPE_CONFLICT = "content_type_conflict"
    BODY_REQUIRED = "body_required"
    UNSUPPORTED_CONTENT_ENCODING = "unsupported_content_encoding"
    PROTOCOL_ERROR = "protocol_error"
    SENSITIVE_DATA_BLOCKED = "sensitive_data_blocked"
    # Shared state (Redis)
    STATE_UNAVAILABLE = "state_unavailable"
    JSONRPC_INVALID = "jsonrpc_invalid"
    # LLM API traffic (ext_proc/protocols)
    SSE_DECODE_ERROR = "sse_decode_error"
    LLM_REQUEST_INVALID = "llm_request_invalid"
    LLM_RESPONSE_INVALID = "llm_response_invalid"
    # Human approval (ext_proc/approvals): refusals a client sees, and operator API errors
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DENIED = "approval_denied"
    APPROVAL_EXPIRED = "approval_expired"
    APPROVAL_NOT_FOUND = "approval_not_found"
    APPROVAL_NOT_PENDING = "approval_not_pending"
    APPROVAL_SELF_DECISION = "approval_self_decision"
    APPROVAL_LIMIT = "approval_limit"
    OPERATOR_REQUEST_INVALID = "operator_request_invalid"
    # Brokered credentials (ext_proc/credentials)
    CREDENTIAL_UNKNOWN = "credential_unknown"
    CREDENTIAL_UNAVAILABLE = "credential_unavailable"
    TOKEN_MINT_FAILED = "token_mint_failed"
    # Limits, budgets, loops and the kill switch (ext_proc/limits)
    RATE_LIMITED = "rate_limited"
    BUDGET_EXCEEDED = "budget_exceeded"
    LOOP_DETECTED = "loop_detected"
    KILL_SWITCH = "kill_switch"
    KILL_NOT_FOUND = "kill_not_found"
    PRICE_UNKNOWN = "price_unknown"
    # A route that only ext_authz decides (upstreams[].filters: ext_authz): no body is read there
    ROUTE_READS_NO_BODY = "route_reads_no_body"
    ROUTE_NOT_INSPECTED = "route_not_inspected"
    # The audit trail (audit.on_failure: deny)
    AUDIT_UNAVAILABLE = "audit_unavailable"
    # A stream ended because the service is stopping (SIGTERM)
    SHUTTING_DOWN = "shutting_down"
    INTERNAL_ERROR = "internal_error"


class ChaperoneError(Exception):
    """A failure with a stable code.

    ``message`` is written by us and safe to log: it names fields and types, never values.
    ``detail`` carries text we do not control (an engine's error, which can quote input values);
    it is shown by the offline CLI and never written to the service's logs.
    """

    def __init__(
        self, code: ErrorCode, message: str, *, http_status: int = 403, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

"""Human approval of individual actions: a policy's ``require_approval`` holds or refuses a call
until a person decides, through the operator API, the console or the ``chaperone approvals``
command. See README.md, "Human approval", and policies/README.md."""

from ext_proc.approvals.api import approvals_api
from ext_proc.approvals.gate import ApprovalGate, GateResult
from ext_proc.approvals.model import Approval, Mode, Status, fingerprint
from ext_proc.approvals.refusals import Refusal, http_refusal, mcp_refusal, refusal_for
from ext_proc.approvals.requirement import FIELD, ApprovalRequirement, parse_require_approval
from ext_proc.approvals.service import Approvals, build_approvals, build_store
from ext_proc.approvals.store import ApprovalStore, StoreSettings

__all__ = [
    "FIELD",
    "Approval",
    "ApprovalGate",
    "ApprovalRequirement",
    "ApprovalStore",
    "Approvals",
    "GateResult",
    "Mode",
    "Refusal",
    "Status",
    "StoreSettings",
    "approvals_api",
    "build_approvals",
    "build_store",
    "fingerprint",
    "http_refusal",
    "mcp_refusal",
    "parse_require_approval",
    "refusal_for",
]

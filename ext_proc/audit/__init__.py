"""The audit trail: redacted, hash-chained events for every decision and finding.

- ``AuditLog``: writes the events (``decision``, ``event``) to its sinks and the decisions feed.
- ``DecisionFeed``: the recent events in memory and live subscribers (admin API).
- ``Verifier``: checks a log's chain (``chaperone audit verify``).
"""

from ext_proc.audit.chain import SCHEMA_VERSION, ChainHead
from ext_proc.audit.feed import DecisionFeed
from ext_proc.audit.log import AuditLog
from ext_proc.audit.summary import RequestSummary
from ext_proc.audit.verify import Report, Verifier

__all__ = ["SCHEMA_VERSION", "AuditLog", "ChainHead", "DecisionFeed", "Report", "RequestSummary", "Verifier"]

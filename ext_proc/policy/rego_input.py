"""Input documents that regorus's JSON reader cannot take exactly.

OPA keeps every JSON number exactly as written (`123456789012345678901234567890` stays an
integer of 30 digits). regorus's JSON reader keeps 64-bit integers and rounds larger ones to a
float, and orjson refuses them; but regorus parses integer literals in Rego source exactly. So an
input holding such an integer is handed over as a Rego literal (JSON text is a valid Rego term),
with ``with input as``. It costs about a millisecond, paid only by inputs that need it.
"""

from __future__ import annotations

import json
from typing import Any


def exact_input_literal(document: Any) -> str:
    """The document as a Rego term: JSON text, integers of any size written out in full."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

"""The soak's requests, read from ``mixed.lua`` (what wrk sends) so that both stay one list: for
the capture of what Envoy makes of them (``tests.soak.capture``)."""

from __future__ import annotations

import re
from pathlib import Path

SCRIPT = Path(__file__).with_name("mixed.lua")
# local json = {["content-type"] = "application/json", ...}
_HEADERS = re.compile(r'^local (\w+) = \{(\[".*)\}$', re.MULTILINE)
_HEADER = re.compile(r'\["([^"]+)"\] = "([^"]*)"')
# {"POST", "/mcp", mcp, '{...}'} or {"GET", "/echo/soak", {}, nil}, possibly over two lines
_REQUEST = re.compile(r'\{"(\w+)", "([^"]+)",\s*(\w+|\{\}),\s*(nil|\'[^\']*\')\}')

Request = tuple[str, str, dict[str, str], bytes | None]


def mixed_requests(seq: int, script: Path = SCRIPT) -> list[Request]:
    """mixed.lua's table of requests, its ``SEQ`` replaced by ``seq``."""
    text = script.read_text()
    headers = {name: dict(_HEADER.findall(pairs)) for name, pairs in _HEADERS.findall(text)}
    table = text[text.index("local requests = {") :]
    requests: list[Request] = []
    for method, path, header_set, body in _REQUEST.findall(table):
        content = None if body == "nil" else body[1:-1].replace("SEQ", str(seq)).encode()
        requests.append((method, path, headers.get(header_set, {}), content))
    return requests

"""Attack: bodies nested deeper than anything downstream can take, through real Envoy.

Before the strict parser, a body nested 253-1023 levels deep made the service fail with 500
(the policy input's serializer stops at 254 levels) and a deeper one was a 400: each depth
must now be read (up to the parser's limit) or refused with a clear 400, on every kind of route.
"""

from __future__ import annotations

import httpx
import pytest

from ext_proc import strict_json
from tests.harness import Stack

pytestmark = pytest.mark.envoy

PATHS = ["/echo/deep", "/v1/chat/completions", "/mcp"]


def nested(levels: int) -> bytes:
    inner = b'{"a":' * (levels - 1) + b"1" + b"}" * (levels - 1)
    return b'{"jsonrpc":"2.0","id":1,"method":"tools/call","deep":' + inner + b"}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("levels", [strict_json.MAX_DEPTH + 1, 253, 600, 1023, 1024, 5000])
def test_a_body_nested_too_deep_is_a_400(default_stack: Stack, path: str, levels: int) -> None:
    response = httpx.post(
        default_stack.url + path,
        content=nested(levels),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert "body_too_deep" in response.text


@pytest.mark.parametrize("path", PATHS)
def test_a_body_at_the_depth_limit_is_decided_not_crashed(default_stack: Stack, path: str) -> None:
    response = httpx.post(
        default_stack.url + path,
        content=nested(strict_json.MAX_DEPTH),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code < 500, response.text
    assert "internal_error" not in response.text

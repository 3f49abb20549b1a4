"""The admin HTTP port: liveness and readiness open; the operator API behind a bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("admin")
    token = workdir / "admin-token"
    token.write_text("s3cret-admin-token\n")
    sections = {"admin": {"token_file": str(token)}}
    yield from start_stack(
        workdir, copy_policies("default", workdir / "policies"), upstream, service_sections=sections
    )


def test_health_and_readiness_need_no_token(stack: Stack) -> None:
    assert httpx.get(f"{stack.service.admin_url}/healthz").json() == {"status": "alive"}
    assert httpx.get(f"{stack.service.admin_url}/readyz").status_code == 200


def test_the_operator_api_needs_the_token(stack: Stack) -> None:
    url = f"{stack.service.admin_url}/api/anything"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer s3cret-admin-token"}).status_code == 404


def test_without_a_token_file_the_operator_api_is_closed(tmp_path: Path, upstream: UpstreamServer) -> None:
    for stack in start_stack(tmp_path, copy_policies("default", tmp_path / "policies"), upstream):
        response = httpx.get(f"{stack.service.admin_url}/api/anything", headers={"authorization": "Bearer x"})
        assert response.status_code == 503


def test_named_operator_tokens(tmp_path: Path, upstream: UpstreamServer) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# operators\nalice tok-alice\nbob tok-bob\n")
    for stack in start_stack(
        tmp_path,
        copy_policies("default", tmp_path / "policies"),
        upstream,
        service_sections={"admin": {"token_file": str(tokens)}},
    ):
        url = f"{stack.service.admin_url}/api/anything"
        assert httpx.get(url, headers={"authorization": "Bearer tok-bob"}).status_code == 404
        assert httpx.get(url, headers={"authorization": "Bearer tok-carol"}).status_code == 401

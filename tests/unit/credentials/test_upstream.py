"""Upstream credentials from secret files: headers to set, rotation, fail-closed, never logged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from ext_proc.config import Config
from ext_proc.credentials.broker import CredentialBroker
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.watch import FileLoadError

SECRET = "sk-test-0123456789abcdefghijklmnop"
ROTATED = "sk-test-rotated-9876543210zyxwvuts"


def broker_for(section: dict[str, Any]) -> CredentialBroker:
    return CredentialBroker.from_config(msgspec.convert({"credentials": section}, Config, strict=True))


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "openai"
    path.write_text(SECRET + "\n")  # the newline `echo` leaves is not part of the credential
    return path


@pytest.fixture
def broker(secret_file: Path, tmp_path: Path) -> CredentialBroker:
    anthropic = tmp_path / "anthropic"
    anthropic.write_text("sk-ant-test")
    return broker_for(
        {
            "upstream": {
                "openai": {"file": str(secret_file), "prefix": "Bearer "},
                "anthropic": {"file": str(anthropic), "header": "x-api-key"},
            }
        }
    )


def test_the_headers_to_set_on_the_upstream_request(broker: CredentialBroker) -> None:
    assert broker.credential_headers("openai") == [("authorization", f"Bearer {SECRET}")]
    assert broker.credential_headers("anthropic") == [("x-api-key", "sk-ant-test")]


def test_an_unknown_credential_is_refused(broker: CredentialBroker) -> None:
    with pytest.raises(ChaperoneError) as raised:
        broker.credential_headers("github")
    assert raised.value.code == ErrorCode.CREDENTIAL_UNKNOWN
    assert "github" in raised.value.message


def test_rotation_by_a_kubernetes_secret_update(tmp_path: Path) -> None:
    mount = tmp_path / "secret"
    mount.mkdir()
    for generation, value in (("..2026_01_01.1", SECRET), ("..2026_01_02.2", ROTATED)):
        (mount / generation).mkdir()
        (mount / generation / "openai").write_text(value)
        (mount / "..data_tmp").symlink_to(generation)
        os.replace(mount / "..data_tmp", mount / "..data")
        if generation.endswith(".1"):
            (mount / "openai").symlink_to("..data/openai")
            broker = broker_for({"upstream": {"openai": {"file": str(mount / "openai")}}})
            assert broker.credential_headers("openai") == [("authorization", SECRET)]
    broker.poll()
    assert broker.credential_headers("openai") == [("authorization", ROTATED)]


def test_an_unreadable_credential_fails_closed_until_it_is_back(
    broker: CredentialBroker, secret_file: Path
) -> None:
    secret_file.unlink()
    broker.poll()
    with pytest.raises(ChaperoneError) as raised:
        broker.credential_headers("openai")
    assert raised.value.code == ErrorCode.CREDENTIAL_UNAVAILABLE
    assert broker.credential_headers("anthropic"), "other credentials are not affected"
    secret_file.write_text(ROTATED)
    broker.poll()
    assert broker.credential_headers("openai") == [("authorization", f"Bearer {ROTATED}")]


@pytest.mark.parametrize("content", [b"", b"\n  \n", b"line1\nline2", b"sk\x00x", "caf\u00e9".encode()])
def test_a_value_that_cannot_be_a_header_is_refused(
    broker: CredentialBroker, secret_file: Path, tmp_path: Path, content: bytes
) -> None:
    secret_file.write_bytes(content)
    broker.poll()
    with pytest.raises(ChaperoneError, match="cannot be read"):
        broker.credential_headers("openai")
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    with pytest.raises(FileLoadError):
        broker_for({"upstream": {"openai": {"file": str(bad)}}})


def test_a_missing_file_at_start_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(FileLoadError, match="cannot read"):
        broker_for({"upstream": {"openai": {"file": str(tmp_path / "missing")}}})


def test_credentials_never_reach_logs_errors_or_reprs(secret_file: Path) -> None:
    with structlog.testing.capture_logs() as events:
        broker = broker_for({"upstream": {"openai": {"file": str(secret_file), "prefix": "Bearer "}}})
        secret_file.write_text(ROTATED + "\x01")
        broker.poll()
        try:
            broker.credential_headers("openai")
        except ChaperoneError as exc:
            failure = f"{exc} {exc.message} {exc.detail}"
        secret_file.write_text(ROTATED)
        broker.poll()
    seen = repr(events) + failure + repr(broker.upstream._entries) + repr(vars(broker))
    assert SECRET not in seen and ROTATED not in seen
    assert any(e["event"] == "file_reload_failed" for e in events)

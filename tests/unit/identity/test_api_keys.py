"""API keys: hashed at rest, compared in constant time, rotated by editing the key file."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ext_proc.identity import api_keys
from ext_proc.identity.api_keys import Pepper, hash_key, new_key, parse_key_file
from ext_proc.identity.identifier import Identifier
from ext_proc.identity.model import AuthMethod, IdentityError
from ext_proc.watch import FileLoadError
from tests.unit.identity.conftest import bearer, keys_file

KEY = new_key()
NEXT_KEY = new_key()
OTHER_AGENT_KEY = new_key()


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return keys_file(
        tmp_path / "keys.yaml", {"support-bot": [hash_key(KEY)], "billing": [hash_key(OTHER_AGENT_KEY)]}
    )


@pytest.fixture
def identifier(make_identifier: Callable[..., Identifier], key_path: Path) -> Identifier:
    return make_identifier({"api_keys": {"file": str(key_path)}})


async def test_a_key_in_authorization_or_x_api_key_names_its_agent(identifier: Identifier) -> None:
    for headers, header in ((bearer(KEY), "authorization"), ({"x-api-key": KEY}, "x-api-key")):
        identity = await identifier.identify(headers)
        assert identity.authenticated and identity.error is None
        assert identity.agent_id == "support-bot"
        assert identity.method is AuthMethod.API_KEY
        assert identity.key_id == hash_key(KEY).removeprefix("sha256:")[:12]
        assert identity.credential_headers == (header,)
        assert identity.claims is None
    assert (await identifier.identify({"x-api-key": OTHER_AGENT_KEY})).agent_id == "billing"


async def test_a_wrong_key_is_refused(identifier: Identifier) -> None:
    for wrong in (new_key(), KEY[:-1], KEY + "x", KEY.upper()):
        identity = await identifier.identify({"x-api-key": wrong})
        assert not identity.authenticated
        assert identity.error == IdentityError.API_KEY_INVALID
        assert identity.agent_id is None
        assert identity.credential_headers == ("x-api-key",), "a wrong key is stripped too"


async def test_the_stored_hash_is_compared_in_constant_time(
    make_identifier: Callable[..., Identifier], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = new_key()
    wrong_digest = hashlib.sha256(wrong.encode()).digest()
    # A stored hash that shares the wrong key's index prefix but not the rest: lookup alone
    # cannot tell them apart, so the full comparison decides, and it is hmac.compare_digest.
    near_miss = wrong_digest[:8] + bytes(24)
    path = keys_file(tmp_path / "keys.yaml", {"support-bot": [hash_key(KEY), f"sha256:{near_miss.hex()}"]})
    identifier = make_identifier({"api_keys": {"file": str(path)}})
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", spy)
    assert (await identifier.identify({"x-api-key": wrong})).error == IdentityError.API_KEY_INVALID
    assert compared == [(near_miss, wrong_digest)]
    compared.clear()
    assert (await identifier.identify({"x-api-key": KEY})).authenticated
    assert len(compared) == 1


async def test_peppered_hashes(make_identifier: Callable[..., Identifier], tmp_path: Path) -> None:
    pepper_file = tmp_path / "pepper"
    pepper_file.write_bytes(os.urandom(32).hex().encode() + b"\n")
    pepper = Pepper(pepper_file.read_bytes().strip())
    path = keys_file(
        tmp_path / "keys.yaml", {"support-bot": [hash_key(KEY, pepper)], "billing": [hash_key(NEXT_KEY)]}
    )
    assert hash_key(KEY, pepper).startswith("hmac-sha256:")
    identifier = make_identifier({"api_keys": {"file": str(path), "pepper_file": str(pepper_file)}})
    assert (await identifier.identify({"x-api-key": KEY})).agent_id == "support-bot"
    assert (await identifier.identify({"x-api-key": NEXT_KEY})).agent_id == "billing", (
        "both kinds in one file"
    )
    with pytest.raises(FileLoadError, match="pepper_file"):
        make_identifier({"api_keys": {"file": str(path)}})


async def test_rotation_by_editing_the_key_file(identifier: Identifier, key_path: Path) -> None:
    # Step 1: the new key is added next to the old one; both work while agents switch over.
    keys_file(
        key_path, {"support-bot": [hash_key(KEY), hash_key(NEXT_KEY)], "billing": [hash_key(OTHER_AGENT_KEY)]}
    )
    identifier.poll()
    assert (await identifier.identify({"x-api-key": KEY})).authenticated
    assert (await identifier.identify({"x-api-key": NEXT_KEY})).agent_id == "support-bot"
    # Step 2: the old key is removed.
    keys_file(key_path, {"support-bot": [hash_key(NEXT_KEY)], "billing": [hash_key(OTHER_AGENT_KEY)]})
    identifier.poll()
    assert (await identifier.identify({"x-api-key": KEY})).error == IdentityError.API_KEY_INVALID
    assert (await identifier.identify({"x-api-key": NEXT_KEY})).authenticated


async def test_a_broken_key_file_keeps_the_last_good_keys(identifier: Identifier, key_path: Path) -> None:
    key_path.write_text("support-bot: [sha256:not-hex\n")
    identifier.poll()
    assert (await identifier.identify({"x-api-key": KEY})).authenticated
    key_path.unlink()
    identifier.poll()
    assert (await identifier.identify({"x-api-key": KEY})).authenticated


def _secret_mount(directory: Path, generation: str, content: str) -> None:
    """Write a generation of a Kubernetes Secret volume and point ..data at it atomically."""
    target = directory / f"..{generation}"
    target.mkdir()
    (target / "keys.yaml").write_text(content)
    (directory / "..data_tmp").symlink_to(target.name)
    os.replace(directory / "..data_tmp", directory / "..data")


async def test_rotation_by_a_kubernetes_secret_update(
    make_identifier: Callable[..., Identifier], tmp_path: Path
) -> None:
    mount = tmp_path / "secret"
    mount.mkdir()
    _secret_mount(mount, "2026_01_01_00_00_00.1", f"support-bot: {hash_key(KEY)}\n")
    (mount / "keys.yaml").symlink_to("..data/keys.yaml")
    identifier = make_identifier(
        {"api_keys": {"file": str(mount / "keys.yaml")}, "reload_interval_seconds": 0.05}
    )
    await identifier.start()
    try:
        assert (await identifier.identify({"x-api-key": KEY})).authenticated
        # Same size, same file name: only the inode behind the ..data link changes.
        _secret_mount(mount, "2026_01_02_00_00_00.2", f"support-bot: {hash_key(NEXT_KEY)}\n")
        deadline = time.monotonic() + 10
        while not (await identifier.identify({"x-api-key": NEXT_KEY})).authenticated:
            assert time.monotonic() < deadline, "the new key was never picked up"
            await asyncio.sleep(0.02)
        assert (await identifier.identify({"x-api-key": KEY})).error == IdentityError.API_KEY_INVALID
    finally:
        await identifier.stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", "expected a mapping"),
        ("bot: []\n", "non-empty list"),
        ("bot: md5:abcd\n", "expected sha256"),
        ("bot: sha256:abcd\n", "64 hexadecimal"),
        ('"has space": sha256:' + "0" * 64 + "\n", "agent id"),
        (f"a: sha256:{'0' * 64}\nb: sha256:{'0' * 64}\n", "listed for 'a' and 'b'"),
        ("bot: [sha256:\n", "invalid YAML at line"),
    ],
)
def test_key_file_errors_name_the_problem_not_the_content(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    with pytest.raises(FileLoadError, match=message) as raised:
        parse_key_file(content.encode(), path)
    assert "0" * 64 not in str(raised.value)


def test_a_json_key_file(tmp_path: Path) -> None:
    keyset = parse_key_file(f'{{"support-bot": ["{hash_key(KEY)}"]}}'.encode(), tmp_path / "keys.json")
    found = keyset.find(KEY, None)
    assert found is not None and found.agent_id == "support-bot"
    assert parse_key_file(b"", tmp_path / "keys.yaml").size == 0


def test_new_keys_are_random_and_never_jwt_shaped() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("chp_") and "." not in k and len(k) >= 40 for k in keys)
    assert hash_key(KEY) == "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()

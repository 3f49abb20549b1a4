"""A JWKS fetched over HTTP from a real local server: start-up, unknown kids, the refetch limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import pytest

from ext_proc.identity.identifier import Identifier
from ext_proc.identity.model import IdentityError
from tests.jwt_keys import JwksServer, ec_key, jwks, public_jwk, rsa_key, token
from tests.unit.identity.conftest import bearer, jwt_section


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys() -> SimpleNamespace:
    return SimpleNamespace(first=rsa_key(), second=ec_key())


@pytest.fixture
async def server(keys: SimpleNamespace) -> AsyncIterator[JwksServer]:
    async with JwksServer(jwks(public_jwk(keys.first, "key-1"))).running() as running:
        yield running


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
async def identifier(
    make_identifier: Callable[..., Identifier], server: JwksServer, monotonic: Monotonic
) -> AsyncIterator[Identifier]:
    section = jwt_section(jwks_url=server.url, jwks_min_refetch_seconds=30, jwks_refresh_seconds=3600)
    identifier = make_identifier(section, monotonic=monotonic)
    await identifier.start()
    yield identifier
    await identifier.stop()


async def test_keys_are_fetched_at_start(
    identifier: Identifier, server: JwksServer, keys: SimpleNamespace
) -> None:
    assert server.requests == 1
    identity = await identifier.identify(bearer(token(keys.first, "RS256", "key-1")))
    assert identity.authenticated
    assert server.requests == 1, "verification uses the fetched set"


async def test_an_unknown_kid_fetches_the_set_again_at_most_so_often(
    identifier: Identifier, server: JwksServer, keys: SimpleNamespace, monotonic: Monotonic
) -> None:
    # The provider rotates: its set now has key-2, which Chaperone has not seen.
    server.document = jwks(public_jwk(keys.first, "key-1"), public_jwk(keys.second, "key-2"))
    rotated = token(keys.second, "ES256", "key-2")
    # Right after the start-up fetch, the limit holds: no request reaches the provider.
    assert (await identifier.identify(bearer(rotated))).error == IdentityError.JWT_UNKNOWN_KID
    assert server.requests == 1
    monotonic.now += 31
    assert (await identifier.identify(bearer(rotated))).authenticated
    assert server.requests == 2
    # Made-up kids cannot turn into a flood of fetches.
    for attempt in range(20):
        forged = token(keys.second, "ES256", f"made-up-{attempt}")
        assert (await identifier.identify(bearer(forged))).error == IdentityError.JWT_UNKNOWN_KID
    assert server.requests == 2
    monotonic.now += 31
    assert (await identifier.identify(bearer(token(keys.second, "ES256", "made-up")))).error == (
        IdentityError.JWT_UNKNOWN_KID
    )
    assert server.requests == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    identifier: Identifier, server: JwksServer, keys: SimpleNamespace, monotonic: Monotonic
) -> None:
    server.document = jwks(public_jwk(keys.second, "key-2"))
    monotonic.now += 31
    rotated = [token(keys.second, "ES256", "key-2", None) for _ in range(5)]
    results = await asyncio.gather(*(identifier.identify(bearer(t)) for t in rotated))
    assert all(r.authenticated for r in results)
    assert server.requests == 2


async def test_a_failed_fetch_keeps_the_last_good_set(
    identifier: Identifier, server: JwksServer, keys: SimpleNamespace, monotonic: Monotonic
) -> None:
    for status, document in ((500, b"oops"), (200, b"<html>"), (200, b'{"keys": []}')):
        server.status, server.document = status, document
        monotonic.now += 31
        assert (await identifier.identify(bearer(token(keys.second, "ES256", "key-2")))).error == (
            IdentityError.JWT_UNKNOWN_KID
        )
        assert (await identifier.identify(bearer(token(keys.first, "RS256", "key-1")))).authenticated
    assert server.requests == 4


async def test_without_keys_tokens_are_refused_until_the_provider_answers(
    make_identifier: Callable[..., Identifier], keys: SimpleNamespace, monotonic: Monotonic
) -> None:
    async with JwksServer(b"").running() as server:
        server.status = 503
        identifier = make_identifier(jwt_section(jwks_url=server.url), monotonic=monotonic)
        await identifier.start()  # logs the failure, does not raise: the service still starts
        try:
            tok = token(keys.first, "RS256", "key-1")
            assert (await identifier.identify(bearer(tok))).error == IdentityError.JWT_KEYS_UNAVAILABLE
            server.status, server.document = 200, jwks(public_jwk(keys.first, "key-1"))
            monotonic.now += 31
            assert (await identifier.identify(bearer(tok))).authenticated
        finally:
            await identifier.stop()


async def test_an_unreachable_provider_is_a_clear_error(
    make_identifier: Callable[..., Identifier], keys: SimpleNamespace
) -> None:
    async with JwksServer(b"").running() as server:
        url = server.url
    identifier = make_identifier(jwt_section(jwks_url=url, jwks_timeout_ms=500))
    await identifier.start()
    try:
        identity = await identifier.identify(bearer(token(keys.first, "RS256", "key-1")))
        assert identity.error == IdentityError.JWT_KEYS_UNAVAILABLE
    finally:
        await identifier.stop()


async def test_the_set_is_refreshed_on_an_interval(
    make_identifier: Callable[..., Identifier],
    server: JwksServer,
    keys: SimpleNamespace,
    monotonic: Monotonic,
) -> None:
    # The refetch limit never lifts here (the clock stands still): only the refresher can help.
    section = jwt_section(jwks_url=server.url, jwks_min_refetch_seconds=3600, jwks_refresh_seconds=0.05)
    identifier = make_identifier(section, monotonic=monotonic)
    await identifier.start()
    try:
        server.document = jwks(public_jwk(keys.second, "key-2"))
        deadline = asyncio.get_running_loop().time() + 10
        while server.requests < 3:
            assert asyncio.get_running_loop().time() < deadline, "no periodic refresh"
            await asyncio.sleep(0.02)
        assert (await identifier.identify(bearer(token(keys.second, "ES256", "key-2")))).authenticated
        assert (await identifier.identify(bearer(token(keys.first, "RS256", "key-1")))).error == (
            IdentityError.JWT_UNKNOWN_KID
        ), "a key the provider withdrew is gone"
    finally:
        await identifier.stop()

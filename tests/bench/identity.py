"""Identity and credential benchmark (not a test): microseconds per identify, per mint.

    .venv/bin/python -m tests.bench.identity [--iterations 20000] [--repeat 5]

Each case awaits ``Identifier.identify`` on one uvloop event loop, as the service does, and is
reported next to the baseline measured in the same run: awaiting a coroutine that returns a
constant (the least any async step on the request path costs). Cached JWTs hit the
verified-token cache; "first sight" JWTs are distinct tokens, each verified once. Minting signs
one token per call. Numbers are best-of-``repeat`` on one core; the machine is shared, so
compare ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from ext_proc.config import Config
from ext_proc.credentials.broker import CredentialBroker
from ext_proc.identity.api_keys import hash_key, new_key
from ext_proc.identity.identifier import Identifier
from tests.jwt_keys import (
    AUDIENCE,
    ISSUER,
    claims,
    ec_key,
    ed25519_key,
    jwks,
    private_pem,
    public_jwk,
    rsa_key,
    token,
    write,
)

SPIFFE = "spiffe://cluster.local/ns/agents/sa/support-bot"
FRESH = 200


async def _constant() -> int:
    return 1


async def measure(step: Callable[[int], Awaitable[Any]], iterations: int, repeat: int) -> float:
    """Best microseconds per call of ``step(i)``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        for i in range(iterations):
            await step(i)
        best = min(best, (time.perf_counter_ns() - started) / iterations / 1000)
    return best


def build(directory: Path) -> tuple[Identifier, CredentialBroker, dict[str, Any]]:
    key = new_key()
    keys = {"rs": rsa_key(), "es": ec_key(), "ed": ed25519_key()}
    agents = {f"agent-{i}": [hash_key(new_key())] for i in range(999)}
    agents["support-bot"] = [hash_key(key)]
    write(directory / "keys.json", msgspec.json.encode(agents))
    write(
        directory / "jwks.json",
        jwks(
            public_jwk(keys["rs"], "rs"), public_jwk(keys["es"], "es", "ES256"), public_jwk(keys["ed"], "ed")
        ),
    )
    write(directory / "secret", "sk-upstream-0123456789")
    write(directory / "signing-ed.pem", private_pem(keys["ed"]))
    section = {
        "identity": {
            "api_keys": {"file": str(directory / "keys.json")},
            "jwt": {"jwks_file": str(directory / "jwks.json"), "issuer": ISSUER, "audiences": [AUDIENCE]},
            "spiffe": {"trust_domain": "cluster.local", "agent_from": "/ns/agents/sa/{agent}"},
        },
        "credentials": {
            "upstream": {"openai": {"file": str(directory / "secret"), "prefix": "Bearer "}},
            "minting": {"key_file": str(directory / "signing-ed.pem"), "issuer": "https://chaperone"},
        },
    }
    config = msgspec.convert(section, Config, strict=True)
    return Identifier.from_config(config), CredentialBroker.from_config(config), {"key": key, "keys": keys}


async def run(iterations: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        identifier, broker, made = build(Path(tmp))
        keys = made["keys"]
        api_key = {"authorization": f"Bearer {made['key']}"}
        x_api_key = {"x-api-key": made["key"]}
        cached = {
            alg: {"authorization": f"Bearer {token(keys[k], alg, k)}"}
            for k, alg in (("rs", "RS256"), ("es", "ES256"))
        }
        # Distinct tokens for every repetition: each is verified once, then sits in the cache.
        fresh = {
            alg: [f"Bearer {token(keys[k], alg, k, claims(sub=f'bot-{i}'))}" for i in range(FRESH * repeat)]
            for k, alg in (("rs", "RS256"), ("es", "ES256"), ("ed", "EdDSA"))
        }
        anonymous = {"content-type": "application/json"}
        baseline = await measure(lambda _i: _constant(), iterations, repeat)
        cases: list[tuple[str, Callable[[int], Awaitable[Any]], int]] = [
            ("no credential", lambda _i: identifier.identify(anonymous), iterations),
            (
                "API key, Authorization: Bearer (1,000 agents)",
                lambda _i: identifier.identify(api_key),
                iterations,
            ),
            ("API key, x-api-key", lambda _i: identifier.identify(x_api_key), iterations),
            ("SPIFFE ID", lambda _i: identifier.identify(anonymous, SPIFFE), iterations),
            ("JWT RS256, cached", lambda _i: identifier.identify(cached["RS256"]), iterations),
            ("JWT ES256, cached", lambda _i: identifier.identify(cached["ES256"]), iterations),
        ]
        for alg, tokens in fresh.items():
            cases.append((f"JWT {alg}, first sight", _first_sight(identifier, tokens), FRESH))
        print(f"baseline: await of a constant coroutine {baseline:.2f} µs")
        for name, step, count in cases:
            micros = await measure(step, count, repeat)
            print(f"{name:48s} {micros:8.2f} µs  ({micros / baseline:6.1f}x baseline)")
        for name, call in (
            ("credential_headers", lambda: broker.credential_headers("openai")),
            ("mint EdDSA", lambda: broker.mint("support-bot", "orders-mcp", 300, {"task": "t-1"})),
        ):
            micros = await measure(lambda _i, c=call: _sync(c), iterations // 10, repeat)
            print(f"{name:48s} {micros:8.2f} µs  ({micros / baseline:6.1f}x baseline)")


def _first_sight(identifier: Identifier, tokens: list[str]) -> Callable[[int], Awaitable[Any]]:
    unseen = iter(tokens)

    def step(_i: int) -> Awaitable[Any]:
        return identifier.identify({"authorization": next(unseen)})

    return step


async def _sync(call: Callable[[], Any]) -> Any:
    return call()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(run(args.iterations, args.repeat))


if __name__ == "__main__":
    main()

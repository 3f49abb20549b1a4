"""The identity and credentials sections: defaults, environment overrides, errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ext_proc.config import ConfigError, load_config
from ext_proc.credentials.config import DEFAULT_MAX_TTL_SECONDS
from ext_proc.identity.config import (
    DEFAULT_API_KEY_HEADER,
    DEFAULT_JWT_ALGORITHMS,
    DEFAULT_JWT_LEEWAY_SECONDS,
)

JWT = {"jwks_file": "/etc/jwks.json", "issuer": "https://idp", "audiences": ["chaperone"]}


def load(tmp_path: Path, document: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    path = tmp_path / "chaperone.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_config(path, environ=environ or {})


def test_by_default_nothing_is_read_and_nothing_is_brokered() -> None:
    config = load_config(None, environ={})
    assert not config.identity.enabled
    assert config.identity.api_keys.header == DEFAULT_API_KEY_HEADER
    assert config.identity.jwt.algorithms == DEFAULT_JWT_ALGORITHMS
    assert config.identity.jwt.leeway_seconds == DEFAULT_JWT_LEEWAY_SECONDS
    assert config.credentials.upstream == {}
    assert not config.credentials.minting.enabled
    assert config.credentials.minting.max_ttl_seconds == DEFAULT_MAX_TTL_SECONDS


def test_a_full_configuration(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "identity": {
                "api_keys": {"file": "/etc/keys.yaml", "header": "x-agent-key", "pepper_file": "/etc/pepper"},
                "jwt": {**JWT, "algorithms": ["ES256"], "leeway_seconds": 5, "agent_claim": "azp"},
                "spiffe": {"trust_domain": "cluster.local", "agent_from": "/ns/agents/sa/{agent}"},
            },
            "credentials": {
                "upstream": {"openai": {"file": "/run/openai", "prefix": "Bearer "}},
                "minting": {
                    "key_file": "/run/signing.pem",
                    "issuer": "https://chaperone",
                    "max_ttl_seconds": 60,
                },
            },
        },
    )
    assert config.identity.enabled and config.identity.jwt.agent_claim == "azp"
    assert config.credentials.upstream["openai"].header == "authorization"
    assert config.credentials.minting.enabled


def test_environment_overrides_reach_the_new_sections() -> None:
    environ = {
        "CHAPERONE_IDENTITY__API_KEYS__FILE": "/etc/keys.yaml",
        "CHAPERONE_IDENTITY__JWT__LEEWAY_SECONDS": "10",
        "CHAPERONE_CREDENTIALS__MINTING__MAX_TTL_SECONDS": "120",
    }
    config = load_config(None, environ=environ)
    assert config.identity.api_keys.file == "/etc/keys.yaml"
    assert config.identity.jwt.leeway_seconds == 10
    assert config.credentials.minting.max_ttl_seconds == 120
    with pytest.raises(ConfigError, match=r"unknown config key 'identity\.api_keys\.flie'"):
        load_config(None, environ={"CHAPERONE_IDENTITY__API_KEYS__FLIE": "x"})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"identity": {"jwt": {"jwks_file": "/x"}}}, "at identity.jwt: issuer is required"),
        ({"identity": {"jwt": {**JWT, "audiences": []}}}, "at identity.jwt: audiences"),
        (
            {"identity": {"jwt": {**JWT, "jwks_url": "https://idp/jwks"}}},
            "at identity.jwt: jwks_file and jwks_url",
        ),
        ({"identity": {"jwt": {**JWT, "algorithms": ["none"]}}}, "at identity.jwt.algorithms"),
        ({"identity": {"jwt": {**JWT, "algorithms": ["HS256"]}}}, "HS256 is accepted if and only if"),
        ({"identity": {"jwt": {**JWT, "hs256_secret_file": "/s"}}}, "HS256 is accepted if and only if"),
        (
            {"identity": {"jwt": {"hs256_secret_file": "/s", "issuer": "i", "audiences": ["a"]}}},
            "RS/PS/ES/EdDSA algorithms need jwks_file or jwks_url",
        ),
        (
            {
                "identity": {
                    "jwt": {**{k: v for k, v in JWT.items() if k != "jwks_file"}, "jwks_url": "http://idp/j"}
                }
            },
            "jwks_url: expected an https:// URL",
        ),
        ({"identity": {"jwt": {**JWT, "leeway_seconds": 3600}}}, "at identity.jwt.leeway_seconds"),
        (
            {"identity": {"api_keys": {"file": "/k", "header": None, "bearer": False}}},
            "no header could carry",
        ),
        ({"identity": {"api_keys": {"file": "/k", "header": "authorization"}}}, "bearer: true"),
        ({"identity": {"api_keys": {"header": "X-Api-Key"}}}, "at identity.api_keys.header"),
        ({"identity": {"spiffe": {"trust_domain": "cluster.local"}}}, "set together"),
        ({"identity": {"spiffe": {"trust_domain": "Cluster", "agent_from": "/{agent}"}}}, "trust_domain"),
        ({"identity": {"spiffe": {"trust_domain": "c", "agent_from": "/ns/a"}}}, "exactly one {agent}"),
        ({"identity": {"spiffe": {"trust_domain": "c", "agent_from": "ns/{agent}"}}}, "starting with '/'"),
        (
            {"identity": {"spiffe": {"trust_domain": "c", "agent_from": "/ns/../{agent}"}}},
            "'..' is not a valid",
        ),
        ({"credentials": {"upstream": {"OpenAI": {"file": "/x"}}}}, "at credentials: upstream: 'OpenAI'"),
        ({"credentials": {"upstream": {"openai": {"file": ""}}}}, "upstream.openai.file"),
        (
            {"credentials": {"upstream": {"openai": {"file": "/x", "header": "host"}}}},
            "upstream.openai.header",
        ),
        (
            {"credentials": {"upstream": {"openai": {"file": "/x", "prefix": "a\r\nb"}}}},
            "upstream.openai.prefix",
        ),
        ({"credentials": {"minting": {"key_file": "/k"}}}, "at credentials.minting: issuer is required"),
        ({"credentials": {"minting": {"published_key_files": ["/k"]}}}, "published_key_files needs key_file"),
        ({"credentials": {"minting": {"max_ttl_seconds": 0}}}, "at credentials.minting.max_ttl_seconds"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(tmp_path, document)

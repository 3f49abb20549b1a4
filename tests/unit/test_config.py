"""Configuration: defaults, file, environment overrides, and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ext_proc.config import (
    DEFAULT_DECISION_PATH,
    DEFAULT_GRPC_ADDRESS,
    DEFAULT_UPSTREAM_CA_FILE,
    DEFAULT_UPSTREAM_TIMEOUT_SECONDS,
    ConfigError,
    load_config,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chaperone.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    config = load_config(None, environ={})
    assert config.server.address == DEFAULT_GRPC_ADDRESS
    assert config.server.max_concurrent_rpcs == 1024
    assert config.policy.engine == "regorus"
    assert config.policy.decision == DEFAULT_DECISION_PATH
    assert config.policy.dry_run is False


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), environ={}) == load_config(None, environ={})


def test_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "server:\n  address: unix:/run/chaperone.sock\n"
        "policy:\n  engine: opa\n  opa: {url: 'http://opa:8181', timeout_ms: 20}\n",
    )
    config = load_config(path, environ={})
    assert config.server.address == "unix:/run/chaperone.sock"
    assert config.policy.engine == "opa"
    assert config.policy.opa.timeout_ms == 20


def test_environment_overrides_the_file_with_typed_values(tmp_path: Path) -> None:
    path = write(tmp_path, "policy:\n  dry_run: false\n")
    env = {
        "CHAPERONE_POLICY__DRY_RUN": "true",
        "CHAPERONE_SERVER__MAX_CONCURRENT_RPCS": "8",
        "CHAPERONE_POLICY__OPA__URL": "http://10.0.0.1:8181",
        "UNRELATED": "x",
    }
    config = load_config(path, environ=env)
    assert config.policy.dry_run is True
    assert config.server.max_concurrent_rpcs == 8
    assert config.policy.opa.url == "http://10.0.0.1:8181"


def test_config_is_immutable() -> None:
    config = load_config(None, environ={})
    with pytest.raises(AttributeError):
        config.policy.dry_run = True  # type: ignore[misc]


def test_a_refused_url_is_not_echoed_with_its_password(tmp_path: Path) -> None:
    for text, key in (
        ("state:\n  redis_url: 'redis:/:pw-7Hq2@redis:6379'\n", "state.redis_url"),
        ("state:\n  redis_url: 'https://:pw-7Hq2@redis:6379'\n", "state.redis_url"),
        ("policy:\n  engine: opa\n  opa: {url: 'opa://user:pw-7Hq2@opa'}\n", "policy.opa.url"),
    ):
        with pytest.raises(ConfigError) as error:
            load_config(write(tmp_path, text), environ={})
        assert key in str(error.value) and "pw-7Hq2" not in str(error.value)


def test_a_kill_switch_copy_stale_before_its_next_read_is_refused(tmp_path: Path) -> None:
    text = "state:\n  redis_url: redis://r:6379\nlimits:\n  kill_switch: {refresh_interval_seconds: 30}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), environ={})
    assert "limits.kill_switch.stale_after_seconds" in str(error.value)
    fixed = text.replace("30}", "30, stale_after_seconds: 60}")
    assert load_config(write(tmp_path, fixed), environ={}).limits.kill_switch.stale_after_seconds == 60


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server:\n  max_concurrent_rpcs: many\n", "server.max_concurrent_rpcs"),
        ("server:\n  max_concurrent_rpcs: 0\n", "server.max_concurrent_rpcs"),
        ("server:\n  adress: x\n", "adress"),
        ("policy:\n  engine: wasm\n", "policy.engine"),
        ("policy:\n  dry_run: 'yes'\n", "policy.dry_run"),
        ("inspection:\n  deny_status: 99\n", "inspection.deny_status"),
        ("server:\n  address: localhost\n", "server.address"),
        ("server:\n  address: 'host:99999'\n", "server.address"),
        ("server:\n  address: 'unix:'\n", "server.address"),
        ("policy:\n  engine: opa\n  opa: {url: 'opa:8181'}\n", "policy.opa.url"),
        ("policy:\n  decision: '/'\n", "policy.decision"),
        ("inspection:\n  phone_region: UK\n", "inspection.phone_region"),
        ("- a list\n", "top level must be a mapping"),
        ("server: [\n", "not valid YAML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), environ={})
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("CHAPERONE_POLICY__DRYRUN", "CHAPERONE_POLICY__DRYRUN: unknown config key 'policy.dryrun'"),
        ("CHAPERONE_NOPE", "unknown config key 'nope'"),
        ("CHAPERONE_POLICY__DRY_RUN__X", "policy.dry_run is not a section"),
    ],
)
def test_unknown_environment_keys_are_errors(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, environ={name: "1"})
    assert message in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml", environ={})


# -- upstreams (read by `chaperone envoy-config`) -------------------------------------------------


def test_upstreams_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "upstreams:\n"
        "  - {name: openai, url: 'https://api.openai.com', listen: '127.0.0.1:10000'}\n"
        "  - name: mcp\n    url: 'http://127.0.0.1:8000'\n    listen: '0.0.0.0:8080'\n"
        "    credential: {file: /run/secrets/mcp, prefix: 'Bearer '}\n",
    )
    openai, mcp = load_config(path, environ={}).upstreams
    assert (openai.name, openai.timeout_seconds, openai.ca_file) == (
        "openai",
        DEFAULT_UPSTREAM_TIMEOUT_SECONDS,
        DEFAULT_UPSTREAM_CA_FILE,
    )
    assert openai.credential is None
    assert mcp.credential is not None and mcp.credential.header == "authorization"
    assert (openai.protocol, openai.routes) == (None, ())  # undeclared: read by content


def test_upstream_protocols_are_declared_per_upstream_and_route(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "upstreams:\n"
        "  - name: tools\n    url: 'http://127.0.0.1:8000'\n    listen: '127.0.0.1:10000'\n"
        "    protocol: http\n    routes: [{prefix: /mcp, protocol: mcp}, {prefix: /a2a/v1, protocol: a2a}]\n",
    )
    (tools,) = load_config(path, environ={}).upstreams
    assert tools.protocol == "http"
    assert [(route.prefix, route.protocol) for route in tools.routes] == [("/mcp", "mcp"), ("/a2a/v1", "a2a")]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: Open, url: 'https://a.b', listen: 'h:1'}", "upstreams[0].name"),
        ("{name: chaperone, url: 'https://a.b', listen: 'h:1'}", "upstreams[0].name"),
        ("{url: 'https://a.b', listen: 'h:1'}", "upstreams[0]: Object missing required field `name`"),
        ("{name: a, url: 'ftp://a.b', listen: 'h:1'}", "upstreams[0].url"),
        ("{name: a, url: 'https://a.b/v1', listen: 'h:1'}", "upstreams[0].url: only scheme, host and port"),
        ("{name: a, url: 'https://a.b', listen: 'nowhere'}", "upstreams[0].listen"),
        ("{name: a, url: 'https://a.b', listen: 'h:1', credential: {header: x}}", "upstreams[0].credential"),
        ("{name: a, url: 'https://a.b', listen: 'h:1', tls: true}", "unknown field `tls`"),
        ("{name: a, url: 'https://a.b', listen: 'h:1', protocol: grpc}", "upstreams[0].protocol"),
        (
            "{name: a, url: 'https://a.b', listen: 'h:1', routes: [{prefix: /, protocol: mcp}]}",
            "upstreams[0].routes[0].prefix",
        ),
        (
            "{name: a, url: 'https://a.b', listen: 'h:1', routes: [{prefix: 'mcp', protocol: mcp}]}",
            "upstreams[0].routes[0].prefix",
        ),
        (
            "{name: a, url: 'https://a.b', listen: 'h:1', routes: [{prefix: '/m?x', protocol: mcp}]}",
            "upstreams[0].routes[0].prefix",
        ),
        (
            "{name: a, url: 'https://a.b', listen: 'h:1', routes: [{prefix: /m}, {prefix: /m}]}",
            "upstreams[0].routes[0]: Object missing required field `protocol`",
        ),
        (
            "{name: a, url: 'https://a.b', listen: 'h:1', "
            "routes: [{prefix: /m, protocol: mcp}, {prefix: /m, protocol: a2a}]}",
            "upstreams[0].routes[1].prefix: '/m' is used twice",
        ),
    ],
)
def test_invalid_upstreams_name_the_key(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, f"upstreams:\n  - {entry}\n"), environ={})


def test_upstream_names_and_listeners_are_unique(tmp_path: Path) -> None:
    first = "{name: a, url: 'https://a.b', listen: 'h:1'}"
    with pytest.raises(ConfigError, match=r"upstreams\[1\]\.name: 'a' is used twice"):
        load_config(write(tmp_path, f"upstreams:\n  - {first}\n  - {first}\n"), environ={})
    other = "{name: b, url: 'https://a.b', listen: 'h:1'}"
    with pytest.raises(ConfigError, match=r"upstreams\[1\]\.listen: 'h:1' is used twice"):
        load_config(write(tmp_path, f"upstreams:\n  - {first}\n  - {other}\n"), environ={})


def test_a_hold_longer_than_envoy_allows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("config error at approvals.hold_seconds: at most 590")):
        load_config(write(tmp_path, "approvals: {hold_seconds: 900}\n"), environ={})
    assert (
        load_config(write(tmp_path, "approvals: {hold_seconds: 590}\n"), environ={}).approvals.hold_seconds
        == 590
    )

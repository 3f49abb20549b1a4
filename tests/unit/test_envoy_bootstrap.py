"""`chaperone envoy-config`: the shipped Envoy configs are its output, and what it writes is right."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ext_proc.cli import main
from ext_proc.config import ConfigError, load_config
from ext_proc.demo.envoy_config import http_filters
from tests.harness import ROOT, envoy_binary

COMMAND_PREFIX = "#   chaperone envoy-config "


def shipped_envoy_configs() -> list[Path]:
    """Every checked-in file that says it is the output of `chaperone envoy-config`."""
    candidates = [*ROOT.glob("envoy/*.yaml"), *ROOT.glob("k8s/**/*.yaml")]
    return sorted(p for p in candidates if COMMAND_PREFIX in p.read_text())


def run_envoy_config(tmp_path: Path, text: str, *flags: str) -> dict[str, Any]:
    config = tmp_path / "chaperone.yaml"
    config.write_text(text)
    output = tmp_path / "envoy.yaml"
    assert main(["envoy-config", "--config", str(config), *flags, "--output", str(output)]) == 0
    document: dict[str, Any] = yaml.safe_load(output.read_text())
    return document


def validate(path: Path) -> None:
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shipped_configs_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in shipped_envoy_configs()}
    assert "envoy/chaperone.yaml" in names
    assert {"k8s/overlays/egress/envoy.yaml", "k8s/overlays/ingress/envoy.yaml"} <= names


@pytest.mark.parametrize("path", shipped_envoy_configs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_config_is_the_output_of_its_command(path: Path, tmp_path: Path) -> None:
    line = next(line for line in path.read_text().splitlines() if line.startswith(COMMAND_PREFIX))
    args = shlex.split(line.removeprefix("#   "))[1:]
    output = args.index("--output")
    assert args[output + 1] == path.relative_to(ROOT).as_posix(), "the command names the file it writes"
    args[output + 1] = str(tmp_path / "out.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.delenv("CHAPERONE_CONFIG", raising=False)
        assert main(args) == 0
    # The header repeats the command with the real file name; everything else must match exactly.
    expected = path.read_text().replace(path.relative_to(ROOT).as_posix(), str(tmp_path / "out.yaml"))
    assert (tmp_path / "out.yaml").read_text() == expected, (
        f"{path.relative_to(ROOT)} is stale: run `make envoy-configs`"
    )


def test_local_config_keeps_the_shape_the_demo_and_tests_rely_on() -> None:
    config = yaml.safe_load((ROOT / "envoy" / "chaperone.yaml").read_text())
    (listener,) = config["static_resources"]["listeners"]
    assert [c["name"] for c in config["static_resources"]["clusters"]] == ["chaperone", "upstream"]
    assert listener["per_connection_buffer_limit_bytes"] == 1048576
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert (hcm["normalize_path"], hcm["merge_slashes"], hcm["path_with_escaped_slashes_action"]) == (
        True,
        True,
        "REJECT_REQUEST",
    )
    filters = {f["name"]: f["typed_config"] for f in http_filters(config)}
    assert list(filters) == [
        "envoy.filters.http.ext_authz",
        "envoy.filters.http.ext_proc",
        "envoy.filters.http.router",
    ]
    authz, proc = filters["envoy.filters.http.ext_authz"], filters["envoy.filters.http.ext_proc"]
    assert (authz["failure_mode_allow"], authz["status_on_error"], authz["grpc_service"]["timeout"]) == (
        False,
        {"code": "ServiceUnavailable"},
        "1s",
    )
    assert proc["failure_mode_allow"] is False and proc["allow_mode_override"] is True
    assert proc["processing_mode"] == {
        "request_header_mode": "SEND",
        "response_header_mode": "SKIP",
        "request_trailer_mode": "SKIP",
        "response_trailer_mode": "SKIP",
        "request_body_mode": "NONE",
        "response_body_mode": "NONE",
    }
    assert proc["metadata_options"] == {
        "forwarding_namespaces": {"untyped": ["envoy.filters.http.ext_authz"]}
    }
    # The client certificate's URI SAN on the filter itself: a route's override of the list is
    # ignored by Envoy, and a route ext_proc decides alone needs it for a SPIFFE identity.
    assert proc["request_attributes"] == [
        "request.protocol",
        "source.address",
        "destination.address",
        "connection.uri_san_peer_certificate",
    ]
    service = config["static_resources"]["clusters"][0]
    assert "http2_protocol_options" in str(service["typed_extension_protocol_options"])


HTTPS_UPSTREAMS = """
server: {address: "127.0.0.1:9001"}
inspection: {max_body_bytes: 4194304}
upstreams:
  - name: openai
    url: https://api.openai.com
    listen: "127.0.0.1:10000"
    ca_file: %(ca)s
    credential: {file: %(key)s, prefix: "Bearer "}
  - {name: mcp, url: "http://127.0.0.1:8000", listen: "127.0.0.1:10001", timeout_seconds: 30}
"""


def test_https_upstream_gets_tls_with_sni_name_check_and_host(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-test")
    text = HTTPS_UPSTREAMS % {"ca": "/etc/ssl/certs/ca-certificates.crt", "key": tmp_path / "key"}
    config = run_envoy_config(tmp_path, text, "--ready-address", "0.0.0.0:9902")
    validate(tmp_path / "envoy.yaml")
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    openai = clusters["openai"]
    assert openai["type"] == "LOGICAL_DNS"
    address = openai["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "api.openai.com", "port_value": 443}
    tls = openai["transport_socket"]["typed_config"]
    assert tls["sni"] == "api.openai.com"
    validation = tls["common_tls_context"]["validation_context"]
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "api.openai.com"}}
    ]
    assert "transport_socket" not in clusters["mcp"]
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    assert listeners["openai"]["per_connection_buffer_limit_bytes"] == 4194304
    hcm = listeners["openai"]["filter_chains"][0]["filters"][0]["typed_config"]
    (route,) = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert route["route"]["host_rewrite_literal"] == "api.openai.com"
    per_route = route["typed_per_filter_config"]["envoy.filters.http.ext_authz"]
    assert per_route["check_settings"]["context_extensions"] == {"upstream": "openai"}
    mcp_hcm = listeners["mcp"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert "host_rewrite_literal" not in mcp_hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]


def test_credential_is_injected_after_the_policy_decided(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-test")
    text = HTTPS_UPSTREAMS % {"ca": "/etc/ssl/certs/ca-certificates.crt", "key": tmp_path / "key"}
    config = run_envoy_config(tmp_path, text)
    listeners = config["static_resources"]["listeners"]
    names = [
        [f["name"] for f in item["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]]
        for item in listeners
    ]
    assert names[0] == [
        "envoy.filters.http.ext_authz",
        "envoy.filters.http.ext_proc",
        "envoy.filters.http.credential_injector",
        "envoy.filters.http.router",
    ]
    assert "envoy.filters.http.credential_injector" not in names[1]
    assert config["static_resources"]["secrets"] == [
        {"name": "openai_credential", "generic_secret": {"secret": {"filename": str(tmp_path / "key")}}}
    ]


def test_readiness_listener_serves_only_the_admin_ready_path(tmp_path: Path) -> None:
    text = "upstreams: [{name: a, url: 'http://127.0.0.1:8000', listen: '127.0.0.1:10000'}]\n"
    config = run_envoy_config(tmp_path, text, "--ready-address", "0.0.0.0:9902")
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    hcm = listeners["readiness"]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[0] == {"match": {"path": "/ready"}, "route": {"cluster": "envoy_admin"}}
    assert routes[1]["direct_response"] == {"status": 404}
    assert [f["name"] for f in hcm["http_filters"]] == ["envoy.filters.http.router"]
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_no_upstreams_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.yaml").write_text("")
    assert main(["envoy-config", "--config", str(tmp_path / "empty.yaml")]) == 1
    assert "lists no upstreams" in capsys.readouterr().err


def test_unix_socket_service_address(tmp_path: Path) -> None:
    text = (
        "server: {address: 'unix:/run/chaperone/grpc.sock'}\n"
        "upstreams: [{name: a, url: 'http://127.0.0.1:8000', listen: '127.0.0.1:10000'}]\n"
    )
    config = run_envoy_config(tmp_path, text)
    service = config["static_resources"]["clusters"][0]
    endpoint = service["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"] == {"pipe": {"path": "/run/chaperone/grpc.sock"}}


DECLARED = """
upstreams:
  - name: tools
    url: http://127.0.0.1:8000
    listen: 127.0.0.1:10000
    protocol: http
    routes:
      - {prefix: /mcp, protocol: mcp}
      - {prefix: /mcp/admin, protocol: http}
      - {prefix: /v1/chat/completions, protocol: openai}
  - name: anthropic
    url: http://127.0.0.1:8001
    listen: 127.0.0.1:10001
    protocol: anthropic
  - name: plain
    url: http://127.0.0.1:8002
    listen: 127.0.0.1:10002
"""


def _routes(config: dict[str, Any], listener: str) -> list[dict[str, Any]]:
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    hcm = listeners[listener]["filter_chains"][0]["filters"][0]["typed_config"]
    routes: list[dict[str, Any]] = hcm["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def _extensions(route: dict[str, Any]) -> dict[str, str]:
    """The route's context extensions: in ext_authz's settings, or as the gRPC metadata of
    ext_proc's stream on a route that ext_proc decides alone."""
    settings = route["typed_per_filter_config"]
    authz = settings["envoy.filters.http.ext_authz"]
    if not authz.get("disabled"):
        extensions: dict[str, str] = authz["check_settings"]["context_extensions"]
        return extensions
    metadata = settings["envoy.filters.http.ext_proc"]["overrides"]["grpc_initial_metadata"]
    return {item["key"].removeprefix("x-chaperone-route-"): item["value"] for item in metadata}


def _deciders(route: dict[str, Any]) -> tuple[str, ...]:
    settings = route["typed_per_filter_config"]
    return tuple(
        name.rsplit(".", 1)[1]
        for name in ("envoy.filters.http.ext_authz", "envoy.filters.http.ext_proc")
        if not settings.get(name, {}).get("disabled")
    )


def test_declared_protocols_reach_the_policy_per_route(tmp_path: Path) -> None:
    config = run_envoy_config(tmp_path, DECLARED)
    validate(tmp_path / "envoy.yaml")
    routes = _routes(config, "tools")
    # Longest prefix first, each at a segment boundary; the upstream's own protocol last.
    assert [(r["match"].get("path_separated_prefix") or r["match"]["prefix"]) for r in routes] == [
        "/v1/chat/completions",
        "/mcp/admin",
        "/mcp",
        "/",
    ]
    assert [_extensions(r) for r in routes] == [
        {"upstream": "tools", "protocol": "openai"},
        {"upstream": "tools", "protocol": "http"},
        {"upstream": "tools", "protocol": "mcp"},
        {"upstream": "tools", "protocol": "http"},
    ]
    assert all(r["route"]["cluster"] == "tools" for r in routes)
    assert [_extensions(r) for r in _routes(config, "anthropic")] == [
        {"upstream": "anthropic", "protocol": "anthropic"}
    ]
    assert [_extensions(r) for r in _routes(config, "plain")] == [{"upstream": "plain"}]
    # AI protocols are read whole by ext_proc, which decides them alone: one call per request.
    assert [_deciders(r) for r in routes] == [
        ("ext_proc",),
        ("ext_authz", "ext_proc"),
        ("ext_proc",),
        ("ext_authz", "ext_proc"),
    ]
    header = (tmp_path / "envoy.yaml").read_text().split("admin:")[0]
    assert "(anthropic, anthropic)" in (tmp_path / "envoy.yaml").read_text()
    assert "#     /mcp: mcp" in header


FILTERS = """
upstreams:
  - name: api
    url: http://127.0.0.1:8000
    listen: 127.0.0.1:10000
    filters: ext_authz
    routes:
      - {prefix: /v1/chat/completions, protocol: openai, filters: both}
      - {prefix: /upload, protocol: http}
"""


def test_each_route_runs_the_filters_it_is_declared_with(tmp_path: Path) -> None:
    config = run_envoy_config(tmp_path, FILTERS)
    validate(tmp_path / "envoy.yaml")
    routes = _routes(config, "api")
    assert [_deciders(r) for r in routes] == [
        ("ext_authz", "ext_proc"),
        ("ext_authz", "ext_proc"),
        ("ext_authz",),
    ]
    # The check of a route without ext_proc knows it (and refuses what would need ext_proc).
    assert _extensions(routes[-1]) == {"upstream": "api", "filters": "ext_authz"}
    # policy.with_request_body: the check reads the body, so it stays on AI routes too.
    config = run_envoy_config(tmp_path, "policy: {with_request_body: {}}\n" + DECLARED)
    assert _deciders(_routes(config, "anthropic")[0]) == ("ext_authz", "ext_proc")


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "mcp", "a2a"])
def test_a_route_that_speaks_an_ai_protocol_cannot_skip_ext_proc(tmp_path: Path, protocol: str) -> None:
    text = (
        "upstreams: [{name: a, url: 'http://127.0.0.1:8000', listen: '127.0.0.1:10000', "
        f"protocol: {protocol}, filters: ext_authz}}]\n"
    )
    path = tmp_path / "chaperone.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="filters"):
        load_config(path, environ={})


def test_with_request_body_gives_the_check_the_body_as_envoy_buffers_it(tmp_path: Path) -> None:
    text = (
        "policy: {with_request_body: {max_request_bytes: 4096, pack_as_bytes: true}}\n"
        "upstreams: [{name: a, url: 'http://127.0.0.1:8000', listen: '127.0.0.1:10000'}]\n"
    )
    config = run_envoy_config(tmp_path, text)
    authz = http_filters(config)[0]["typed_config"]
    assert authz["with_request_body"] == {
        "max_request_bytes": 4096,
        "allow_partial_message": True,
        "pack_as_bytes": True,
    }
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config))
    validate(path)
    plain = run_envoy_config(tmp_path, text.split("\n", 1)[1])
    assert "with_request_body" not in http_filters(plain)[0]["typed_config"]

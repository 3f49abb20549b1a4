"""`upstreams[].listen_tls`: what `chaperone envoy-config` writes for TLS and client certificates,
and the configurations it refuses. Traffic through these listeners: tests/integration/test_mtls.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ext_proc.cli import main
from ext_proc.config import ConfigError, load_config
from ext_proc.envoy_bootstrap.listeners import CLIENT_CERTIFICATE_HEADERS
from tests.unit.test_envoy_bootstrap import validate

UPSTREAM = {"name": "mcp", "url": "http://127.0.0.1:8000", "listen": "0.0.0.0:8443"}
FILES = {
    "certificate_file": "/var/run/tls/tls.crt",
    "private_key_file": "/var/run/tls/tls.key",
    "client_ca_file": "/var/run/tls/ca.crt",
    "trust_domains": ["cluster.local"],
}


def write_config(tmp_path: Path, listen_tls: dict[str, Any] | None, **extra: Any) -> Path:
    upstream = {**UPSTREAM, **extra} if listen_tls is None else {**UPSTREAM, "listen_tls": listen_tls}
    path = tmp_path / "chaperone.yaml"
    path.write_text(yaml.safe_dump({"upstreams": [upstream]}))
    return path


def render(tmp_path: Path, listen_tls: dict[str, Any] | None, *flags: str) -> dict[str, Any]:
    config = write_config(tmp_path, listen_tls)
    output = tmp_path / "out" / "envoy.yaml"
    output.parent.mkdir(exist_ok=True)
    assert main(["envoy-config", "--config", str(config), *flags, "--output", str(output)]) == 0
    document: dict[str, Any] = yaml.safe_load(output.read_text())
    return document


def tls_context(document: dict[str, Any]) -> dict[str, Any]:
    chain = document["static_resources"]["listeners"][0]["filter_chains"][0]
    assert chain["transport_socket"]["name"] == "envoy.transport_sockets.tls"
    context: dict[str, Any] = chain["transport_socket"]["typed_config"]
    assert context["@type"].endswith("tls.v3.DownstreamTlsContext")
    return context


def test_files_are_read_through_file_based_sds_and_their_directory_is_watched(tmp_path: Path) -> None:
    document = render(tmp_path, FILES, "--sds-directory", "/etc/envoy")
    context = tls_context(document)
    assert context["require_client_certificate"] is True
    common = context["common_tls_context"]
    (certificate,) = common["tls_certificate_sds_secret_configs"]
    assert certificate["sds_config"]["path_config_source"] == {
        "path": "/etc/envoy/mcp_listen_certificate.sds.yaml",
        "watched_directory": {"path": "/etc/envoy"},
    }
    combined = common["combined_validation_context"]
    assert combined["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}
    ]
    assert combined["validation_context_sds_secret_config"]["name"] == "mcp_client_validation"
    # SDS subscriptions need a named node.
    assert document["node"] == {"id": "chaperone", "cluster": "chaperone"}
    # The resource files, beside the output: the PEM files, and their directory watched.
    written = {p.name: yaml.safe_load(p.read_text()) for p in (tmp_path / "out").glob("*.sds.yaml")}
    (cert_secret,) = written["mcp_listen_certificate.sds.yaml"]["resources"]
    assert cert_secret["tls_certificate"] == {
        "certificate_chain": {"filename": "/var/run/tls/tls.crt"},
        "private_key": {"filename": "/var/run/tls/tls.key"},
        "watched_directory": {"path": "/var/run/tls"},
    }
    (validation,) = written["mcp_client_validation.sds.yaml"]["resources"]
    validator = validation["validation_context"]["custom_validator_config"]
    assert validator["name"] == "envoy.tls.cert_validator.spiffe"
    assert validator["typed_config"]["trust_domains"] == [
        {"name": "cluster.local", "trust_bundle": {"filename": "/var/run/tls/ca.crt"}}
    ]
    assert validation["validation_context"]["watched_directory"] == {"path": "/var/run/tls"}


def test_without_trust_domains_any_certificate_of_the_ca_is_accepted(tmp_path: Path) -> None:
    render(tmp_path, {**FILES, "trust_domains": []})
    (validation,) = yaml.safe_load((tmp_path / "out" / "mcp_client_validation.sds.yaml").read_text())[
        "resources"
    ]
    assert validation["validation_context"]["trusted_ca"] == {"filename": "/var/run/tls/ca.crt"}


def test_server_only_tls_checks_no_client(tmp_path: Path) -> None:
    listen_tls = {k: v for k, v in FILES.items() if k in ("certificate_file", "private_key_file")}
    context = tls_context(render(tmp_path, {**listen_tls, "require_client_certificate": False}))
    assert "combined_validation_context" not in context["common_tls_context"]
    assert not context.get("require_client_certificate")
    assert [p.name for p in (tmp_path / "out").glob("*.sds.yaml")] == ["mcp_listen_certificate.sds.yaml"]


def test_spire_serves_the_svid_and_the_bundle_over_sds_on_its_socket(tmp_path: Path) -> None:
    document = render(tmp_path, {"source": "spire", "trust_domains": ["cluster.local"]})
    common = tls_context(document)["common_tls_context"]
    (certificate,) = common["tls_certificate_sds_secret_configs"]
    assert certificate["name"] == "default"  # SPIRE's default_svid_name
    grpc = certificate["sds_config"]["api_config_source"]
    assert grpc["api_type"] == "GRPC" and grpc["transport_api_version"] == "V3"
    assert grpc["grpc_services"] == [{"envoy_grpc": {"cluster_name": "spire_agent"}}]
    combined = common["combined_validation_context"]
    assert combined["validation_context_sds_secret_config"]["name"] == "spiffe://cluster.local"
    (spire,) = [c for c in document["static_resources"]["clusters"] if c["name"] == "spire_agent"]
    endpoint = spire["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"] == {"pipe": {"path": "/spiffe-workload-api/spire-agent.sock"}}
    assert "http2_protocol_options" in str(spire["typed_extension_protocol_options"])
    assert not list((tmp_path / "out").glob("*.sds.yaml"))


def test_spire_with_several_trust_domains_takes_all_bundles_pinned_to_those_named(tmp_path: Path) -> None:
    listen_tls = {"source": "spire", "trust_domains": ["cluster.local", "partner.example"]}
    combined = tls_context(render(tmp_path, listen_tls))["common_tls_context"]["combined_validation_context"]
    assert combined["validation_context_sds_secret_config"]["name"] == "ALL"
    matchers = combined["default_validation_context"]["match_typed_subject_alt_names"]
    assert [m["matcher"]["prefix"] for m in matchers] == [
        "spiffe://cluster.local/",
        "spiffe://partner.example/",
    ]


@pytest.mark.parametrize(
    "listen_tls",
    [FILES, {"source": "spire", "trust_domains": ["cluster.local", "partner.example"]}],
    ids=["files", "spire"],
)
def test_envoy_accepts_the_config(tmp_path: Path, listen_tls: dict[str, Any]) -> None:
    render(tmp_path, listen_tls, "--sds-directory", str(tmp_path / "out"))
    validate(tmp_path / "out" / "envoy.yaml")


def test_no_upstream_sees_client_certificate_headers(tmp_path: Path) -> None:
    for listen_tls in (None, FILES):
        listener = render(tmp_path, listen_tls)["static_resources"]["listeners"][0]
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        assert hcm["forward_client_cert_details"] == "SANITIZE"
        removed = hcm["route_config"]["request_headers_to_remove"]
        assert {"x-forwarded-client-cert", "client-cert", "client-cert-chain", "x-ssl-client-cert"} <= set(
            removed
        )
        assert removed == CLIENT_CERTIFICATE_HEADERS


@pytest.mark.parametrize(
    ("listen_tls", "message"),
    [
        ({"certificate_file": "/a"}, "certificate_file and private_key_file are required"),
        ({"certificate_file": "/a", "private_key_file": "/b"}, "client_ca_file is required"),
        ({**FILES, "trust_domains": ["Cluster.Local"]}, "trust_domains: expected lower-case"),
        ({**FILES, "trust_domains": ["a.b", "a.b"]}, "listed twice"),
        ({"source": "spire"}, "name at least one trust domain"),
        (
            {"source": "spire", "trust_domains": ["td"], "client_ca_file": "/c"},
            "the SPIRE agent provides them",
        ),
        ({"source": "spire", "trust_domains": ["td"], "spire": {"socket": "agent.sock"}}, "absolute path"),
        ({**FILES, "source": "vault"}, "Invalid enum value"),
    ],
)
def test_contradictions_are_refused_naming_the_key(
    tmp_path: Path, listen_tls: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"upstreams\[0\]\.listen_tls") as error:
        load_config(write_config(tmp_path, listen_tls))
    assert message in str(error.value)


def test_one_spire_socket_per_pod(tmp_path: Path) -> None:
    spire = {"source": "spire", "trust_domains": ["td"]}
    upstreams = [
        {**UPSTREAM, "listen_tls": spire},
        {
            **UPSTREAM,
            "name": "b",
            "listen": "0.0.0.0:8444",
            "listen_tls": {**spire, "spire": {"socket": "/other.sock"}},
        },
    ]
    path = tmp_path / "chaperone.yaml"
    path.write_text(yaml.safe_dump({"upstreams": upstreams}))
    with pytest.raises(ConfigError, match="different SPIRE sockets"):
        load_config(path)


def test_sds_files_need_an_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envoy-config", "--config", str(write_config(tmp_path, FILES))]) == 1
    assert "needs --output" in capsys.readouterr().err


def test_the_sds_directory_is_absolute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, FILES))
    output = str(tmp_path / "envoy.yaml")
    assert main(["envoy-config", "--config", config, "--sds-directory", "etc", "--output", output]) == 1
    assert "absolute path" in capsys.readouterr().err

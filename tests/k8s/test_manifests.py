"""The rendered manifests carry the production settings, and the image is built as `make` installs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ext_proc.config import Config, split_host_port
from tests.harness import envoy_binary
from tests.k8s import check
from tests.k8s.manifests import (
    OVERLAYS,
    ROOT,
    PodLayout,
    all_containers,
    container,
    find,
    overlays,
    pod_spec,
    pod_template,
    render,
    volume_files,
)

RENDERED = {overlay.name: render(overlay) for overlay in overlays()}
DEPLOYMENTS = {"egress": "agent", "ingress": "mcp-server"}


@pytest.fixture(params=sorted(RENDERED))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    name: str = request.param
    return name, RENDERED[name], pod_spec(RENDERED[name], DEPLOYMENTS[name])


def test_make_k8s_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main() == 0, capsys.readouterr().out


def test_pods_and_containers_are_locked_down(rendered: tuple[str, list[Any], dict[str, Any]]) -> None:
    _, objects, _ = rendered
    for deployment in find(objects, "Deployment"):  # the workload's, and Redis in the ingress overlay
        check_locked_down(deployment["spec"]["template"]["spec"])


def check_locked_down(spec: dict[str, Any]) -> None:
    security = spec["securityContext"]
    assert {k: v for k, v in security.items() if k != "fsGroup"} == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False
    for item in all_containers(spec):
        security = item["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, item["name"]
        assert security["allowPrivilegeEscalation"] is False, item["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, item["name"]
        assert security["runAsUser"] > 0, item["name"]
        assert set(item["resources"]) == {"requests", "limits"}, item["name"]


def test_non_root_containers_can_read_the_secrets_they_mount(
    rendered: tuple[str, list[Any], dict[str, Any]],
) -> None:
    """The kubelet writes Secret files as root: a non-root user reads them through the pod's
    fsGroup (group bits) or not at all, unless the mode lets everyone read."""
    _, _, spec = rendered
    secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    assert secrets
    for item in all_containers(spec):
        for mount in item.get("volumeMounts", []):
            if mount["name"] not in secrets:
                continue
            mode = secrets[mount["name"]].get("defaultMode", 0o644)
            readable = mode & 0o004 or (mode & 0o040 and spec["securityContext"].get("fsGroup"))
            assert readable, f"{item['name']} cannot read {mount['mountPath']} (mode {mode:o})"
            assert mode & 0o022 == 0, "nobody but the owner writes"


def test_sidecars_start_in_order_and_are_probed(rendered: tuple[str, list[Any], dict[str, Any]]) -> None:
    _, _, spec = rendered
    assert [c["name"] for c in spec["initContainers"]] == ["chaperone", "envoy"]
    assert all(c["restartPolicy"] == "Always" for c in spec["initContainers"]), "native sidecars"
    chaperone, envoy = spec["initContainers"]
    # Chaperone: started (policies compiled, gRPC service serving) and alive while the admin
    # port's /healthz answers; ready when its /readyz says so. Its gRPC service is on a unix
    # socket that the kubelet does not reach.
    healthz = {"path": "/healthz", "port": 9002}
    assert chaperone["startupProbe"]["httpGet"] == chaperone["livenessProbe"]["httpGet"] == healthz
    assert chaperone["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9002}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert envoy[probe]["httpGet"] == {"path": "/ready", "port": 9902}


def chaperone_config(
    name: str, objects: list[dict[str, Any]], spec: dict[str, Any], root: Path
) -> tuple[Config, dict[str, Any]]:
    """The Chaperone container's configuration, loaded as the container loads it (its config file
    and environment, with placeholder Secrets), and the container."""
    secrets, problems = check.user_secrets(spec, objects, check.documented_secrets(OVERLAYS / name))
    assert problems == []
    item = container(spec, "chaperone")
    return check.container_config(PodLayout(root, spec, objects, secrets).materialize(), item), item


def test_probes_and_scraping_reach_the_ports_chaperone_listens_on(
    rendered: tuple[str, list[Any], dict[str, Any]], tmp_path: Path
) -> None:
    name, objects, spec = rendered
    config, item = chaperone_config(name, objects, spec, tmp_path)
    admin_host, admin_port = split_host_port(config.admin.address)
    # The kubelet probes the pod IP, and Prometheus scrapes it: the admin port listens on every
    # address. The gRPC service has no port (a unix socket, see the test below).
    assert admin_host == "0.0.0.0"
    assert config.server.address.startswith("unix:")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert item[probe]["httpGet"]["port"] == admin_port, probe
    assert {p["name"]: p["containerPort"] for p in item["ports"]} == {"admin": admin_port}
    annotations = pod_template(objects, DEPLOYMENTS[name])["metadata"]["annotations"]
    assert config.metrics.enabled
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(admin_port),
        "prometheus.io/path": "/metrics",
    }
    assert config.admin.token_file is not None, "the operator API on that port needs a token"


ANYONE = "anyone"
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def admitted(objects: list[dict[str, Any]], labels: dict[str, str], port: int) -> list[Any]:
    """Who the NetworkPolicies that select a pod with these labels admit to a TCP port: a list of
    peers, ANYONE for a rule without `from`; empty when none does. A pod no policy selects for
    ingress admits anyone (an error here: every pod is covered)."""
    selecting = [
        policy["spec"]
        for policy in find(objects, "NetworkPolicy")
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and labels.items() >= policy["spec"]["podSelector"].get("matchLabels", {}).items()
    ]
    assert selecting, f"no NetworkPolicy governs the ingress of pods labeled {labels}"
    peers: list[Any] = []
    for policy in selecting:
        assert "matchExpressions" not in policy["podSelector"]
        for rule in policy.get("ingress", []):
            ports = rule.get("ports")
            if ports is None or {"protocol": "TCP", "port": port} in ports:
                peers += rule.get("from", [ANYONE])
    return peers


def test_network_policy_admits_the_admin_port_to_prometheus_alone(
    rendered: tuple[str, list[Any], dict[str, Any]], tmp_path: Path
) -> None:
    name, objects, spec = rendered
    config, _ = chaperone_config(name, objects, spec, tmp_path)
    labels = pod_template(objects, DEPLOYMENTS[name])["metadata"]["labels"]
    callers = {"ingress": {8080: [ANYONE]}, "egress": {}}[name]  # Envoy's listener for the MCP clients
    ports = {p["containerPort"] for c in all_containers(spec) for p in c.get("ports", [])}
    ports |= {split_host_port(config.admin.address)[1]}
    expected = (
        {port: [] for port in ports} | callers | {split_host_port(config.admin.address)[1]: [PROMETHEUS]}
    )
    assert {port: admitted(objects, labels, port) for port in sorted(ports)} == expected


def socket_holders(spec: dict[str, Any], path: str) -> set[str]:
    """The containers that mount the volume a socket's path is in."""
    (volume,) = {
        m["name"]
        for item in all_containers(spec)
        for m in item.get("volumeMounts", [])
        if path.startswith(m["mountPath"].rstrip("/") + "/")
    }
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == volume), "a volume of the pod's own"
    return {
        item["name"]
        for item in all_containers(spec)
        if volume in {m["name"] for m in item.get("volumeMounts", [])}
    }


def test_envoy_admin_and_chaperone_grpc_are_sockets_the_workload_cannot_reach(
    rendered: tuple[str, list[Any], dict[str, Any]],
) -> None:
    """The main container shares the pod's network namespace: any TCP port, loopback included, is
    open to it. Envoy's admin (no authentication: POST /quitquitquit, /healthcheck/fail) and
    Chaperone's gRPC service are unix sockets in volumes it does not mount."""
    _, objects, spec = rendered
    volumes = {v["name"]: v for v in spec["volumes"]}
    envoy = yaml.safe_load(volume_files(volumes["envoy-config"], objects, {})["envoy.yaml"])
    chaperone = yaml.safe_load(volume_files(volumes["chaperone-config"], objects, {})["chaperone.yaml"])
    admin = envoy["admin"]["address"]["pipe"]["path"]
    assert socket_holders(spec, admin) == {"envoy"}
    grpc_socket = chaperone["server"]["address"].removeprefix("unix:")
    (cluster,) = [c for c in envoy["static_resources"]["clusters"] if c["name"] == "chaperone"]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"] == {"pipe": {"path": grpc_socket}}
    assert socket_holders(spec, grpc_socket) == {"chaperone", "envoy"}
    # Envoy listens on TCP only where the workload is meant to call it, and for the kubelet.
    tcp = {
        listener["name"]: listener["address"]["socket_address"]
        for listener in envoy["static_resources"]["listeners"]
    }
    assert tcp.pop("readiness") == {"address": "0.0.0.0", "port_value": 9902}
    assert set(tcp) == {upstream["name"] for upstream in chaperone["upstreams"]}
    assert "--admin-address" not in container(spec, "envoy")["args"]


def test_policies_configmap_keeps_its_name_for_hot_reload(
    rendered: tuple[str, list[Any], dict[str, Any]],
) -> None:
    _, objects, spec = rendered
    (policies,) = [v for v in spec["volumes"] if v["name"] == "chaperone-policies"]
    assert policies["configMap"]["name"] == "chaperone-policies"
    assert find(objects, "ConfigMap", "chaperone-policies")


def test_envoy_image_is_the_tested_version(rendered: tuple[str, list[Any], dict[str, Any]]) -> None:
    _, _, spec = rendered
    version = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True).stdout
    tested = re.search(r"/(\d+\.\d+\.\d+)/", version)
    assert tested is not None
    assert container(spec, "envoy")["image"] == f"envoyproxy/envoy:v{tested.group(1)}"


def secret_holders(spec: dict[str, Any]) -> dict[str, set[str]]:
    """Secret name -> the containers that mount it or read a key of it."""
    volumes = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    holders: dict[str, set[str]] = {}
    for item in all_containers(spec):
        assert not item.get("envFrom"), f"{item['name']}: every variable is named"
        names = {volumes[m["name"]] for m in item.get("volumeMounts", []) if m["name"] in volumes}
        names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in item.get("env", []) if "valueFrom" in e}
        for name in names:
            holders.setdefault(name, set()).add(item["name"])
    return holders


def test_each_secret_is_held_only_by_the_container_that_needs_it() -> None:
    # Egress: the upstream keys are Envoy's alone; the agent has its own key to Chaperone, which
    # holds the key hashes and the operators' tokens.
    assert secret_holders(pod_spec(RENDERED["egress"], "agent")) == {
        "chaperone-upstream-credentials": {"envoy"},
        "agent-api-key": {"agent"},
        "chaperone-agent-keys": {"chaperone"},
        "chaperone-operator-tokens": {"chaperone"},
    }
    # Ingress: the MCP server's credential is Chaperone's alone (it sets it on allowed calls), and
    # so is the password of the replicas' Redis.
    assert secret_holders(pod_spec(RENDERED["ingress"], "mcp-server")) == {
        "chaperone-brokered-credentials": {"chaperone"},
        "chaperone-agent-keys": {"chaperone"},
        "chaperone-operator-tokens": {"chaperone"},
        "chaperone-redis": {"chaperone"},
    }


def test_secrets_are_mounted_read_only_as_whole_directories(
    rendered: tuple[str, list[Any], dict[str, Any]],
) -> None:
    """A subPath mount never sees a Secret's update, and Chaperone re-reads rotated keys."""
    _, _, spec = rendered
    secret_volumes = {v["name"] for v in spec["volumes"] if "secret" in v}
    for item in all_containers(spec):
        for mount in item.get("volumeMounts", []):
            if mount["name"] in secret_volumes:
                assert mount.get("readOnly") is True and "subPath" not in mount, (item["name"], mount)


def test_every_secret_is_documented_with_the_keys_the_pod_uses(
    rendered: tuple[str, list[Any], dict[str, Any]],
) -> None:
    name, objects, spec = rendered
    secrets, problems = check.user_secrets(
        spec, objects, check.documented_secrets(ROOT / "k8s" / "overlays" / name)
    )
    assert problems == []
    assert set(secrets) == set(secret_holders(spec)), "every Secret the pod uses is one the user creates"


def test_egress_network_policy_allows_only_dns_and_public_https() -> None:
    (policy,) = find(RENDERED["egress"], "NetworkPolicy")
    assert policy["spec"]["ingress"] == [{"from": [PROMETHEUS], "ports": [{"protocol": "TCP", "port": 9002}]}]
    dns, https = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    # The cluster's DNS pods as they are labeled, nothing of the overlay's own labels added.
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "169.254.0.0/16" in https["to"][0]["ipBlock"]["except"], "no cloud metadata endpoint"


def test_ingress_has_a_disruption_budget() -> None:
    (budget,) = find(RENDERED["ingress"], "PodDisruptionBudget")
    (deployment,) = find(RENDERED["ingress"], "Deployment", "mcp-server")
    assert deployment["spec"]["replicas"] > budget["spec"]["minAvailable"]


# -- the image ------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_installs_the_package_as_make_does_and_runs_as_non_root() -> None:
    instructions = dockerfile()
    runs = [args for kind, args in instructions if kind == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs)
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PIP) install -e ." in makefile, "make installs with pip from the project's files too"
    copied = [args.split()[0] for kind, args in instructions if kind == "COPY"]
    assert {"pyproject.toml", "ext_proc"} <= set(copied)
    (user,) = [args for kind, args in instructions if kind == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert dict(instructions)["ENTRYPOINT"] == '["chaperone"]'
    assert dict(instructions)["CMD"] == '["serve"]'
    chaperone = container(pod_spec(RENDERED["egress"], "agent"), "chaperone")
    assert str(chaperone["securityContext"]["runAsUser"]) == user.split(":")[0]


def test_image_python_matches_the_project() -> None:
    (base,) = [args for kind, args in dockerfile() if kind == "FROM"]
    assert re.match(r"python:3\.11-", base)
    assert 'requires-python = ">=3.11"' in Path(ROOT / "pyproject.toml").read_text()

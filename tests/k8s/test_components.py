"""The components under k8s/components. Redis: one Redis that the replicas share, locked down, its
password held by Chaperone's container alone; named by the ingress overlay, and added on top of
the egress one. Remote OPA: decisions by an OPA server the user runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s import check
from tests.k8s.manifests import OVERLAYS, ROOT, PodLayout, all_containers, container, find, render
from tests.k8s.test_manifests import check_locked_down

COMPONENTS = ROOT / "k8s" / "components"
REDIS = "chaperone-redis"
CLIENT_LABEL = {"chaperone-redis-client": "true"}


def compose(tmp_path: Path, overlay: str, *components: str) -> Path:
    """A kustomization that adds components on top of an overlay, as a user's own would."""
    directory = tmp_path / "-".join((overlay, *components))
    directory.mkdir()
    document = {
        "resources": [os.path.relpath(OVERLAYS / overlay, directory)],
        "components": [os.path.relpath(COMPONENTS / name, directory) for name in components],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(document))
    return directory


@pytest.fixture(scope="module")
def renderings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """The ingress overlay (which names the Redis component) and the egress overlay with it added."""
    egress = compose(tmp_path_factory.mktemp("compose"), "egress", "redis")
    return {
        "ingress": (OVERLAYS / "ingress", render(OVERLAYS / "ingress")),
        "egress": (egress, render(egress)),
    }


@pytest.mark.parametrize("overlay", ["ingress", "egress"])
def test_redis_renders_and_passes_the_checks(
    renderings: dict[str, tuple[Path, list[dict[str, Any]]]], overlay: str, tmp_path: Path
) -> None:
    directory, objects = renderings[overlay]
    assert check.check_overlay(directory, tmp_path) == []
    (redis,) = find(objects, "Deployment", REDIS)
    # Redis keeps its own labels: nothing of the overlay's reaches its selectors.
    labels = {"app.kubernetes.io/name": REDIS}
    assert (
        redis["spec"]["selector"]["matchLabels"] == labels == redis["spec"]["template"]["metadata"]["labels"]
    )
    (service,) = find(objects, "Service", REDIS)
    assert service["spec"]["selector"] == labels


@pytest.mark.parametrize("overlay", ["ingress", "egress"])
def test_chaperone_uses_the_components_redis_with_its_password(
    renderings: dict[str, tuple[Path, list[dict[str, Any]]]], overlay: str, tmp_path: Path
) -> None:
    directory, objects = renderings[overlay]
    (workload,) = [d for d in find(objects, "Deployment") if d["metadata"]["name"] != REDIS]
    spec = workload["spec"]["template"]["spec"]
    secrets, problems = check.user_secrets(spec, objects, check.documented_secrets(directory))
    assert problems == []
    secrets[REDIS] = {"password": "0123abcd"}
    layout = PodLayout(tmp_path / "pod", spec, objects, secrets).materialize()
    config = check.container_config(layout, container(spec, "chaperone"))
    (service,) = find(objects, "Service", REDIS)
    assert config.state.redis_url == f"redis://:0123abcd@{REDIS}:{service['spec']['ports'][0]['port']}/0"
    assert config.state.fail_open is False, "Redis down: calls refused, not let through"
    # The password reaches Chaperone's container alone; the agent or the MCP server never.
    for item in all_containers(spec):
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in item.get("env", []) if "valueFrom" in e]
        assert (REDIS in refs) == (item["name"] == "chaperone"), item["name"]
    assert workload["spec"]["template"]["metadata"]["labels"].items() >= CLIENT_LABEL.items()
    # Redis requires the same password.
    (redis,) = find(objects, "Deployment", REDIS)
    server = container(redis["spec"]["template"]["spec"], "redis")
    redis_layout = PodLayout(
        tmp_path / "redis", redis["spec"]["template"]["spec"], objects, secrets
    ).materialize()
    args = redis_layout.command(server)
    assert args[args.index("--requirepass") + 1] == "0123abcd"


def test_redis_is_one_locked_down_pod_that_admits_only_chaperone(
    renderings: dict[str, tuple[Path, list[dict[str, Any]]]],
) -> None:
    _, objects = renderings["ingress"]
    (redis,) = find(objects, "Deployment", REDIS)
    assert redis["spec"]["replicas"] == 1
    assert redis["spec"]["strategy"] == {"type": "Recreate"}, "never two Redis behind the Service"
    spec = redis["spec"]["template"]["spec"]
    check_locked_down(spec)
    # The component's patch of the workload passed Redis by: no sidecars, not a client of itself.
    assert [c["name"] for c in all_containers(spec)] == ["redis"]
    assert redis["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/name": REDIS}
    server = container(spec, "redis")
    args = server["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction", "a kill switch is never evicted"
    (data,) = server["volumeMounts"]
    assert data["mountPath"] == args[args.index("--dir") + 1], "Redis writes into its emptyDir only"
    (policy,) = [p for p in find(objects, "NetworkPolicy") if p["metadata"]["name"] == REDIS]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": REDIS}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and policy["spec"]["egress"] == []
    assert policy["spec"]["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": CLIENT_LABEL}}],
            "ports": [{"protocol": "TCP", "port": 6379}],
        }
    ]


def test_a_restricted_egress_also_reaches_redis(
    renderings: dict[str, tuple[Path, list[dict[str, Any]]]],
) -> None:
    _, objects = renderings["egress"]
    (policy,) = [p for p in find(objects, "NetworkPolicy") if p["metadata"]["name"] == "agent"]
    assert policy["spec"]["egress"][-1] == {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": REDIS}}}],
        "ports": [{"protocol": "TCP", "port": 6379}],
    }
    # Without the component the egress overlay reaches nothing in the cluster.
    (plain,) = find(render(OVERLAYS / "egress"), "NetworkPolicy")
    assert policy["spec"]["egress"][:-1] == plain["spec"]["egress"]


def test_redis_image_is_the_tested_version(renderings: dict[str, tuple[Path, list[dict[str, Any]]]]) -> None:
    _, objects = renderings["ingress"]
    (redis,) = find(objects, "Deployment", REDIS)
    binary = shutil.which("redis-server")
    assert binary is not None, "make test-deps installs redis-server"
    version = re.search(
        r"v=(\d+\.\d+\.\d+)", subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    )
    assert version is not None
    assert (
        container(redis["spec"]["template"]["spec"], "redis")["image"] == f"redis:{version.group(1)}-alpine"
    )


# -- remote OPA ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["ingress", "egress"])
def test_remote_opa_decides_instead_of_the_embedded_engine(overlay: str, tmp_path: Path) -> None:
    directory = compose(tmp_path, overlay, "remote-opa")
    assert check.check_overlay(directory, tmp_path / "check") == []
    objects = render(directory)
    (workload,) = [d for d in find(objects, "Deployment") if d["metadata"]["name"] != REDIS]
    spec = workload["spec"]["template"]["spec"]
    secrets, _ = check.user_secrets(spec, objects, check.documented_secrets(directory))
    layout = PodLayout(tmp_path / "pod", spec, objects, secrets).materialize()
    config = check.container_config(layout, container(spec, "chaperone"))
    assert (config.policy.engine, config.policy.opa.url) == ("opa", "http://opa.opa.svc.cluster.local:8181")
    assert config.policy.opa.fail_open is False
    policies = [
        p for p in find(objects, "NetworkPolicy") if "chaperone-egress" in p["metadata"].get("labels", {})
    ]
    for policy in policies:  # the egress overlay's: OPA's port in OPA's namespace, besides the rest
        assert policy["spec"]["egress"][-1]["ports"] == [{"protocol": "TCP", "port": 8181}]
    assert len(policies) == (overlay == "egress")

"""The SPIRE component on the ingress pod, run here: callers present their X509-SVIDs to Envoy's
mTLS listener, which gets its own SVID and the trust bundle from the SPIRE agent over SDS.

Everything comes from `kubectl kustomize` of the ingress overlay with k8s/components/spire
added, as a user's kustomization would add it, and runs as in tests/k8s/test_ingress_pod.py.

What stands in for SPIRE: tests/k8s/spire_sds.py serves Envoy's SDS API on the agent's socket,
at the path the component mounts (the SPIFFE CSI driver's volume), as SPIRE's agent serves it
(the same resource names and shapes: ``default`` for the workload's X509-SVID, the trust
domain's SPIFFE ID for its bundle with Envoy's SPIFFE validator, pushed again on renewal).
SPIRE itself is a Go program: Debian does not package it and only PyPI, Debian and npm are
reachable where the tests run, so it cannot run here. The SVIDs are minted by the test's CA for
the trust domain cluster.local.
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.k8s import check
from tests.k8s.manifests import ROOT, container, pod_spec, render
from tests.k8s.pod import Pod
from tests.k8s.test_components import compose
from tests.k8s.test_ingress_pod import INITIALIZE, MCP_ACCEPT, IngressPod, run_ingress_pod
from tests.tls_certs import Issued, ThrowawayCa

pytestmark = [pytest.mark.envoy]

TRUST_DOMAIN = "cluster.local"
POD_ID = f"spiffe://{TRUST_DOMAIN}/ns/tools/sa/mcp-server"
CALLER_ID = f"spiffe://{TRUST_DOMAIN}/ns/agents/sa/support-bot"
COMPONENT = ROOT / "k8s" / "components" / "spire"


@dataclass
class SpirePod:
    ingress: IngressPod
    ca: ThrowawayCa
    svid_dir: Path

    @property
    def pod(self) -> Pod:
        return self.ingress.pod

    def tls(self, caller: Issued | None) -> dict[str, str]:
        files = {"ca": str(self.ca.cert)}
        if caller is not None:
            files |= {"cert": str(caller.cert), "key": str(caller.key)}
        return files

    def initialize(self, caller: Issued | None) -> dict[str, Any]:
        (answer,) = self.pod.fetch(
            {
                "method": "POST",
                "url": self.ingress.url,
                "json": INITIALIZE,
                "headers": MCP_ACCEPT,
                "tls": self.tls(caller),
            }
        )
        return answer


def issue_svid(ca: ThrowawayCa, directory: Path, name: str) -> None:
    """The pod's X509-SVID and the bundle, where the SPIRE stand-in reads them (a renewal)."""
    svid = ca.issue(name, uri=POD_ID)
    (directory / "svid.key").write_bytes(svid.key.read_bytes())
    (directory / "bundle.pem").write_bytes(ca.cert_pem())
    (directory / "svid.pem").write_bytes(svid.cert.read_bytes())


@pytest.fixture(scope="module")
def spire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpirePod]:
    root = tmp_path_factory.mktemp("spire-pod")
    objects = render(compose(root, "ingress", "spire"))
    ca = ThrowawayCa(root)
    svid_dir = root / "svid"
    svid_dir.mkdir()
    issue_svid(ca, svid_dir, "mcp-server-svid")

    def start_spire_agent(pod: Pod) -> None:
        envoy = container(pod.layout.spec, "envoy")
        (mount,) = [m for m in envoy["volumeMounts"] if m["name"] == "spiffe-workload-api"]
        socket = pod.layout.volume_dir(mount["name"]) / "spire-agent.sock"
        agent = ["-m", "tests.k8s.spire_sds", "--socket", str(socket), "--svid-dir", str(svid_dir)]
        pod.start(
            "spire-agent", [sys.executable, *agent, "--trust-domain", TRUST_DOMAIN], pod.base_environment()
        )
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert time.monotonic() < deadline, "the SPIRE stand-in did not start" + pod.log_tail()
            time.sleep(0.05)

    for ingress in run_ingress_pod(root, objects, before_envoy=start_spire_agent, scheme="https"):
        yield SpirePod(ingress, ca, svid_dir)


def test_the_component_renders_envoys_mtls_from_spire_and_passes_the_checks(tmp_path: Path) -> None:
    directory = compose(tmp_path, "ingress", "spire")
    assert check.check_overlay(directory, tmp_path / "check") == []
    spec = pod_spec(render(directory), "mcp-server")
    # The agent's socket reaches Envoy's container alone, through SPIRE's CSI driver.
    (volume,) = [v for v in spec["volumes"] if v["name"] == "spiffe-workload-api"]
    assert volume["csi"] == {"driver": "csi.spiffe.io", "readOnly": True}
    holders = {
        c["name"]
        for c in [*spec["initContainers"], *spec["containers"]]
        if any(m["name"] == "spiffe-workload-api" for m in c.get("volumeMounts", []))
    }
    assert holders == {"envoy"}


def test_the_components_config_is_the_ingress_one_with_workload_identity() -> None:
    """The component replaces the ingress overlay's chaperone.yaml: it must not drift from it."""
    ingress = yaml.safe_load((ROOT / "k8s" / "overlays" / "ingress" / "chaperone.yaml").read_text())
    component = yaml.safe_load((COMPONENT / "chaperone.yaml").read_text())
    listen_tls = component["upstreams"][0].pop("listen_tls")
    spiffe = component["identity"].pop("spiffe")
    assert component == ingress
    assert listen_tls["source"] == "spire" and listen_tls["trust_domains"] == [spiffe["trust_domain"]]


def test_a_caller_with_its_svid_uses_the_allowed_tools(spire: SpirePod) -> None:
    caller = spire.ca.issue("caller", uri=CALLER_ID)
    seen = spire.pod.run(
        "tests.k8s.mcp_agent", spire.ingress.url, "--client-cert", str(caller.cert),
        "--client-key", str(caller.key), "--ca", str(spire.ca.cert),
    )  # fmt: skip
    assert seen["search"] == "3 pages about refunds."
    assert seen["tools"] == ["get_weather", "search_docs"]
    assert seen["refused"] is not None and "delete_repo" in seen["refused"]
    decisions = [e for e in spire.pod.log_events("chaperone") if e.get("event") == "decision"]
    assert "support-bot" in {e.get("agent") for e in decisions}


def test_envoy_presents_the_pods_svid(spire: SpirePod) -> None:
    answer = spire.initialize(spire.ca.issue("caller-2", uri=CALLER_ID))
    assert answer["status"] == 200, answer
    assert answer["peer"] == [POD_ID]


def test_callers_without_an_svid_of_the_trust_domain_are_refused(spire: SpirePod, tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    refused = {
        "no certificate": None,
        "another trust domain": spire.ca.issue("foreign", uri="spiffe://partner.example/ns/agents/sa/support-bot"),
        "another CA": ThrowawayCa(tmp_path, name="impostor").issue("impostor", uri=CALLER_ID),
        "expired": spire.ca.issue(
            "expired", uri=CALLER_ID, not_before=now - datetime.timedelta(hours=2),
            not_after=now - datetime.timedelta(hours=1),
        ),
    }  # fmt: skip
    for reason, caller in refused.items():
        answer = spire.initialize(caller)
        assert answer["status"] is None, (reason, answer)


def test_a_renewed_svid_is_served_without_a_restart(spire: SpirePod) -> None:
    caller = spire.ca.issue("caller-3", uri=CALLER_ID)
    assert served_serial(spire, caller) == serial_of(spire.svid_dir / "svid.pem")
    envoy = spire.pod.processes["envoy"]
    issue_svid(spire.ca, spire.svid_dir, "mcp-server-svid-renewed")
    deadline = time.monotonic() + 20
    while served_serial(spire, caller) != serial_of(spire.svid_dir / "svid.pem"):
        assert time.monotonic() < deadline, "the renewed SVID was not served" + spire.pod.log_tail()
        time.sleep(0.2)
    assert envoy.poll() is None and spire.pod.processes["envoy"] is envoy


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def served_serial(spire: SpirePod, caller: Issued) -> int:
    (answer,) = spire.pod.fetch({"url": spire.ingress.url, "tls": spire.tls(caller)})
    assert answer["status"] is not None, answer
    return int(answer["serial"])

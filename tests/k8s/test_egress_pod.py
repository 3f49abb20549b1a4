"""The egress pod, run here: Envoy and Chaperone as the rendered manifests start them, real traffic.

The containers' commands, arguments, environment and mounted files come from `kubectl kustomize
k8s/overlays/egress`: ConfigMaps and the Secrets the overlay documents (the upstream keys, the
agent's key and its hash, the operators' tokens) are laid out as the kubelet lays them out,
container paths map to that directory, and the processes share one network namespace of their
own, as a pod's containers do, so every port is the manifests' port. The sidecars start in the
manifests' order, each once the previous one's startup probe passed, then the agent (the OpenAI
SDK with the agent container's environment, its key from a Secret) makes its calls.

What stands in for the outside world: an HTTPS server in the namespace with a certificate from a
test CA for api.openai.com, in place of the image's CA bundle, and the upstream clusters'
endpoint address (the DNS name) pointed at it. Nothing else of the configs changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme
import yaml

from ext_proc.identity.api_keys import hash_key, new_key
from tests.k8s.manifests import OVERLAYS, PodLayout, container, pod_spec, pod_template, render
from tests.k8s.netns import NetworkNamespace
from tests.k8s.pod import Pod, agent_environment

# The pod runs in a network namespace of its own (unshare --net, as root), which the test
# machines provide; without one the test fails rather than being skipped.
pytestmark = [pytest.mark.envoy]

OPENAI_KEY = "sk-test-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-test-0123456789"
AGENT_ID = "agent"
AGENT_KEY = new_key()
OPERATOR_TOKEN = "operator-token-0123456789"
# The Secrets the overlay's kustomization.yaml says to create, as its commands would.
SECRETS = {
    "chaperone-upstream-credentials": {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY},
    "agent-api-key": {"key": AGENT_KEY},
    "chaperone-agent-keys": {"keys.yaml": f"{AGENT_ID}: {hash_key(AGENT_KEY)}"},
    "chaperone-operator-tokens": {"tokens": f"alice {OPERATOR_TOKEN}"},
}
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOSTS = ("api.openai.com", "api.anthropic.com")


def _point_upstreams_here(layout: PodLayout) -> None:
    """The upstream clusters' DNS names resolve to the stand-in inside the namespace."""
    envoy = container(layout.spec, "envoy")
    path = Path(layout.command(envoy)[layout.command(envoy).index("--config-path") + 1]).resolve()
    config = yaml.safe_load(path.read_text())
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        if endpoint["address"].get("socket_address", {}).get("address") in HOSTS:
            endpoint["address"]["socket_address"]["address"] = "127.0.0.1"
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    root = tmp_path_factory.mktemp("pod")
    objects = render(OVERLAYS / "egress")
    spec = pod_spec(objects, "agent")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    server_cert = ca.issue_cert(*HOSTS)
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
    layout = PodLayout(
        root / "pod", spec, objects, secrets=SECRETS, image_files={IMAGE_CA_BUNDLE: root / "ca.pem"}
    ).materialize()
    pod = Pod(layout, NetworkNamespace().start(), root)
    try:
        upstream = [
            sys.executable, "-m", "tests.k8s.tls_upstream", "--cert", str(root / "server.pem"),
            "--key", str(root / "server.pem"),
            "--expect", f"api.openai.com=authorization=Bearer {OPENAI_KEY}",
            "--expect", f"api.anthropic.com=x-api-key={ANTHROPIC_KEY}",
        ]  # fmt: skip
        pod.start("upstream", upstream, pod.base_environment())
        # The sidecars, in the manifests' order, each once the one before it has started.
        for sidecar in spec["initContainers"]:
            assert sidecar.get("restartPolicy") == "Always", "a native sidecar"
            layout.map_config_files(sidecar)
            if sidecar["name"] == "envoy":
                _point_upstreams_here(layout)
            pod.start_container(sidecar)
            pod.wait_for_probe(sidecar["name"], sidecar["startupProbe"])
        pod.wait_until_ready()
        yield pod
    finally:
        pod.stop_all()


def run_agent(pod: Pod) -> dict[str, Any]:
    """The agent container: the OpenAI SDK with the container's environment (tests/k8s/agent.py)."""
    return pod.run("tests.k8s.agent", env=agent_environment(pod, "agent"))


def test_agent_traffic_is_allowed_denied_and_redacted(pod: Pod) -> None:
    results = run_agent(pod)
    assert results["base_url"] == "http://127.0.0.1:10000/v1/"
    # Allowed: through Envoy's TLS to the upstream, with SNI, Host and the key from the Secret
    # (the stand-in answers 421 otherwise), and the answer redacted on the way back.
    said = "You said: please write to [REDACTED:EMAIL] today"
    assert results["chat"] == {
        "status": 200,
        "content": f"Hello from the demo upstream (gpt-4o-mini). {said}",
    }, pod.log_tail()
    assert results["stream"]["status"] == 200
    assert results["stream"]["content"].endswith(said)
    assert "bob@example.com" not in orjson.dumps(results).decode()
    # Denied by the policy: a model off the list (request body), a call off the list (request line).
    assert results["other_model"]["status"] == 403
    assert results["other_model"]["error"]["message"] == 'model "gpt-5-ultra" is not allowed'
    assert results["other_call"]["status"] == 403
    assert results["other_call"]["error"]["code"] == "denied"
    # Without the agent's key, nothing leaves.
    assert results["unknown_key"]["status"] == 401


def test_decisions_name_the_agent_and_its_key_never_leaves(pod: Pod) -> None:
    run_agent(pod)
    decisions = [e for e in pod.log_events("chaperone") if e.get("event") == "decision"]
    assert {e.get("agent") for e in decisions if e["phase"] == "check"} >= {AGENT_ID, None}
    assert AGENT_KEY not in (pod.logs / "chaperone.log").read_text()
    # The stand-in upstream refuses (421) any request whose credential is not the Secret's key,
    # so the chat call's 200 shows the agent's key was replaced, not forwarded.


def test_chaperone_is_ready_scraped_and_its_operator_api_needs_a_token(pod: Pod) -> None:
    chaperone = container(pod.layout.spec, "chaperone")
    ready = chaperone["readinessProbe"]["httpGet"]
    annotations = pod_template(pod.layout.objects, "agent")["metadata"]["annotations"]
    admin = f"http://127.0.0.1:{ready['port']}"
    answers = pod.fetch(
        {"url": f"{admin}{ready['path']}"},
        {"url": f"http://127.0.0.1:{annotations['prometheus.io/port']}{annotations['prometheus.io/path']}"},
        {"url": f"{admin}/api/policy"},
        {"url": f"{admin}/api/policy", "headers": {"authorization": f"Bearer {OPERATOR_TOKEN}"}},
    )
    assert [a["status"] for a in answers] == [200, 200, 401, 200]
    assert "chaperone_decisions_total" in answers[1]["text"]
    assert orjson.loads(answers[3]["text"])["loaded"] is True


def test_the_readiness_port_serves_only_envoys_ready(pod: Pod) -> None:
    probe = container(pod.layout.spec, "envoy")["readinessProbe"]["httpGet"]
    base = f"http://127.0.0.1:{probe['port']}"
    answers = pod.fetch({"url": base + probe["path"]}, {"url": base + "/quitquitquit"})
    assert [a["status"] for a in answers] == [200, 404]


def test_the_agent_reaches_neither_envoys_admin_nor_chaperones_grpc_service(pod: Pod) -> None:
    """As the agent container sees the pod (its network namespace, its own volumes only), every
    listening TCP port and unix socket is tried as Envoy's admin (POST /healthcheck/fail and
    /quitquitquit included) and as Chaperone's gRPC service (tests/k8s/reach.py)."""
    admin_socket = str(pod.layout.volume_dir("envoy-admin") / "admin.sock")
    grpc_socket = str(pod.layout.volume_dir("chaperone-grpc") / "grpc.sock")
    # The control: as Envoy's container sees the pod, both sockets are there and answer.
    envoy_view = pod.run_as("envoy", "tests.k8s.reach", "--harmless")
    assert envoy_view["unix"][admin_socket]["admin"] == ["admin"]
    assert envoy_view["unix"][grpc_socket]["grpc"] == {"health": "SERVING", "ext_authz": "answered"}
    # The agent: no admin answer, no gRPC answer, on any port or socket of the pod.
    agent_view = pod.run_as("agent", "tests.k8s.reach", env=agent_environment(pod, "agent"))
    assert set(agent_view["tcp"]) == {"9002", "9902", "10000", "10001", "443"}, agent_view["tcp"]
    for port, answers in agent_view["tcp"].items():
        assert "admin" not in answers["admin"], (port, answers)
        assert answers["grpc"]["health"] != "SERVING" and answers["grpc"]["ext_authz"] != "answered", (
            port,
            answers,
        )
    assert set(agent_view["unix"]) >= {admin_socket, grpc_socket}
    assert set(agent_view["unix"].values()) == {"unreachable"}, agent_view["unix"]
    # Envoy did not take the agent's POST /healthcheck/fail or /quitquitquit from anywhere.
    assert pod.processes["envoy"].poll() is None
    probe = container(pod.layout.spec, "envoy")["readinessProbe"]["httpGet"]
    assert pod.fetch({"url": f"http://127.0.0.1:{probe['port']}{probe['path']}"})[0]["status"] == 200


def test_policy_configmap_update_changes_decisions_without_restart(pod: Pod) -> None:
    chaperone = pod.processes["chaperone"]
    files = pod.layout.current_files("chaperone-policies")
    data = yaml.safe_load(files["data.yaml"])
    data["chaperone"]["upstreams"]["openai"]["models"] = ["gpt-4o"]
    files["data.yaml"] = yaml.safe_dump(data).encode()
    pod.layout.publish("chaperone-policies", files)  # the kubelet's atomic ..data swap
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        results = run_agent(pod)
        if results["chat"]["status"] == 403:
            break
        time.sleep(0.5)
    assert results["chat"]["status"] == 403, pod.log_tail()
    assert results["chat"]["error"]["message"] == 'model "gpt-4o-mini" is not allowed'
    assert chaperone.poll() is None, "the same process answered before and after"

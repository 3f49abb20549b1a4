"""The ingress pod and the Redis it shares, run here: MCP clients through Envoy and Chaperone.

Everything comes from `kubectl kustomize k8s/overlays/ingress` (which includes the Redis
component): the sidecars' and Redis's commands, arguments, environment (the Redis password put
into state.redis_url by the kubelet's $(VAR) expansion) and mounted files, with the Secrets the
overlay documents. Redis runs from Debian's redis-server with the manifests' arguments, in the
pod's network namespace; the Service's DNS name in the Redis URL is pointed at it, as the egress
pod test points the upstreams' names. The MCP server container is a real MCP server that wants
the credential Chaperone brokers; the callers are the real MCP client with an agent's key.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ext_proc.identity.api_keys import hash_key, new_key
from tests.k8s.manifests import OVERLAYS, ROOT, PodLayout, container, find, pod_spec, render
from tests.k8s.netns import NetworkNamespace
from tests.k8s.pod import Pod

pytestmark = [pytest.mark.envoy]

AGENT_ID = "support-bot"
AGENT_KEY = new_key()
OPERATOR_TOKEN = "operator-token-0123456789"
MCP_SERVER_TOKEN = "mcp-server-token-0123456789"
REDIS_PASSWORD = "0123456789abcdef0123456789abcdef"
# The Secrets the overlay's kustomization.yaml (and the Redis component's) say to create.
SECRETS = {
    "chaperone-agent-keys": {"keys.yaml": f"{AGENT_ID}: {hash_key(AGENT_KEY)}\n"},
    "chaperone-operator-tokens": {"tokens": f"alice {OPERATOR_TOKEN}"},
    "chaperone-brokered-credentials": {"mcp-server": MCP_SERVER_TOKEN},
    "chaperone-redis": {"password": REDIS_PASSWORD},
}
REDIS_SERVICE = "chaperone-redis"
OPERATOR = {"authorization": f"Bearer {OPERATOR_TOKEN}"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_ACCEPT = {"accept": "application/json, text/event-stream"}


@dataclass
class IngressPod:
    pod: Pod
    redis: Pod
    url: str  # the Service's target: Envoy's listener
    admin: str

    def restart_chaperone(self) -> None:
        """The kubelet restarting Chaperone's container (or another replica starting)."""
        self.pod.stop("chaperone")
        start_chaperone(self.pod)
        self.pod.wait_until_ready()

    def initialize(self, headers: dict[str, str]) -> dict[str, Any]:
        (answer,) = self.pod.fetch(
            {"method": "POST", "url": self.url, "json": INITIALIZE, "headers": headers}
        )
        return answer


def start_chaperone(pod: Pod) -> None:
    chaperone = container(pod.layout.spec, "chaperone")
    environment = pod.layout.environment(chaperone)
    url = environment["CHAPERONE_STATE__REDIS_URL"]
    assert f"@{REDIS_SERVICE}:6379/" in url
    environment["CHAPERONE_STATE__REDIS_URL"] = url.replace(f"@{REDIS_SERVICE}:", "@127.0.0.1:")
    pod.start_container(chaperone, environment)
    pod.wait_for_probe("chaperone", chaperone["startupProbe"])


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngressPod]:
    yield from run_ingress_pod(tmp_path_factory.mktemp("ingress-pod"), render(OVERLAYS / "ingress"))


def run_ingress_pod(
    root: Path,
    objects: list[dict[str, Any]],
    *,
    before_envoy: Callable[[Pod], None] | None = None,
    scheme: str = "http",
) -> Iterator[IngressPod]:
    """The ingress pod of these manifests and its Redis, running (a generator for fixtures);
    ``before_envoy`` starts what Envoy needs besides (the SPIRE component's agent)."""
    spec = pod_spec(objects, "mcp-server")
    namespace = NetworkNamespace().start()
    pod = Pod(PodLayout(root / "pod", spec, objects, SECRETS).materialize(), namespace, root)
    (root / "redis").mkdir()
    redis_spec = pod_spec(objects, REDIS_SERVICE)
    redis = Pod(
        PodLayout(root / "redis" / "pod", redis_spec, objects, SECRETS).materialize(),
        namespace,
        root / "redis",
    )
    try:
        server = container(redis_spec, "redis")
        redis.start_container(server)
        redis.wait_for_probe("redis", server["readinessProbe"])
        mcp_server = container(spec, "mcp-server")
        stand_in = [
            sys.executable,
            "-m",
            "tests.k8s.mcp_upstream",
            "--authorization",
            f"Bearer {MCP_SERVER_TOKEN}",
        ]
        pod.start("mcp-server", stand_in, {**pod.base_environment(), **pod.layout.environment(mcp_server)})
        pod.wait_for_probe(
            "mcp-server", {"tcpSocket": {"port": int(pod.layout.environment(mcp_server)["PORT"])}}
        )
        start_chaperone(pod)
        if before_envoy is not None:
            before_envoy(pod)
        envoy = container(spec, "envoy")
        pod.start_container(envoy)
        pod.wait_for_probe("envoy", envoy["startupProbe"])
        pod.wait_until_ready()
        (service,) = find(objects, "Service", "mcp-server")
        (port,) = [p for p in envoy["ports"] if p["name"] == service["spec"]["ports"][0]["targetPort"]]
        admin = container(spec, "chaperone")["readinessProbe"]["httpGet"]["port"]
        yield IngressPod(
            pod, redis, f"{scheme}://127.0.0.1:{port['containerPort']}/mcp", f"http://127.0.0.1:{admin}"
        )
    finally:
        for name in list(pod.processes):
            pod.stop(name)
        redis.stop_all()


def test_an_agent_with_its_key_calls_allowed_tools_with_the_servers_credential(ingress: IngressPod) -> None:
    seen = ingress.pod.run("tests.k8s.mcp_agent", ingress.url, AGENT_KEY)
    # The MCP server answers only with the brokered credential and without the caller's key.
    assert seen["search"] == "3 pages about refunds."
    assert seen["tools"] == ["get_weather", "search_docs"], "delete_repo is hidden"
    assert seen["refused"] is not None and "delete_repo" in seen["refused"]
    for headers in ({}, {"x-api-key": new_key()}):
        assert ingress.initialize({**MCP_ACCEPT, **headers})["status"] == 401


def test_redis_wants_its_password(ingress: IngressPod) -> None:
    assert "NOAUTH" in redis_cli(ingress, "ping")
    assert redis_cli(ingress, "--no-auth-warning", "-a", REDIS_PASSWORD, "ping").strip() == "PONG"


def test_a_kill_switch_lives_in_redis_across_a_restart(ingress: IngressPod) -> None:
    caller = {**MCP_ACCEPT, "x-api-key": AGENT_KEY}
    assert ingress.initialize(caller)["status"] == 200
    kill = {"scope": "agent", "target": AGENT_ID, "reason": "pod test"}
    (engaged,) = ingress.pod.fetch(
        {"method": "POST", "url": f"{ingress.admin}/api/kill-switch", "json": kill, "headers": OPERATOR}
    )
    assert engaged["status"] in (200, 201), engaged
    try:
        stopped = ingress.initialize(caller)
        assert stopped["status"] == 503 and "kill_switch" in stopped["text"]
        # A new Chaperone process reads the engaged kill switch from Redis.
        ingress.restart_chaperone()
        stopped = ingress.initialize(caller)
        assert stopped["status"] == 503 and "kill_switch" in stopped["text"], ingress.pod.log_tail()
    finally:
        release = f"{ingress.admin}/api/kill-switch?scope=agent&target={AGENT_ID}"
        (released,) = ingress.pod.fetch({"method": "DELETE", "url": release, "headers": OPERATOR})
    assert released["status"] in (200, 204), released
    assert ingress.initialize(caller)["status"] == 200
    keys = redis_cli(ingress, "--no-auth-warning", "-a", REDIS_PASSWORD, "--scan", "--pattern", "chaperone:*")
    assert keys.split(), "the state is in Redis"


def redis_cli(ingress: IngressPod, *args: str) -> str:
    """redis-cli inside the pod's network namespace: what a container of the pod reaches."""
    result = subprocess.run(
        [*ingress.pod.namespace.prefix(), "redis-cli", "-p", "6379", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    return result.stdout + result.stderr

"""Attack stacks: real Envoy, written by `chaperone envoy-config` from a configuration that declares
what each upstream speaks, the shipped default policies, and a lenient upstream that records all
it receives (lenient_upstream.py); and the response side's scripted hostile upstream (hostile.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ext_proc.cli import main as chaperone
from tests.harness import (
    EnvoyProcess,
    ServiceProcess,
    Stack,
    UpstreamServer,
    copy_policies,
    free_port,
    service_config,
    start_stack,
)
from tests.security.hostile import HostileUpstream
from tests.security.lenient_upstream import Recorder, lenient_app

# Listener name -> what it declares (None: recognized by content).
LISTENERS: dict[str, str | None] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "mcp": "mcp",
    "a2a": "a2a",
    "open": None,
}


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    """Envoy + Chaperone with the shipped default policies and Envoy config, as `make run` starts them."""
    workdir = tmp_path_factory.mktemp("security-default")
    policies = copy_policies("default", workdir / "policies")
    yield from start_stack(workdir, policies, upstream)


@dataclass
class Declared:
    """One Chaperone behind Envoy listeners that each declare a protocol, one upstream recording."""

    urls: dict[str, str]
    recorder: Recorder
    service: ServiceProcess
    envoy: EnvoyProcess

    def url(self, listener: str) -> str:
        return self.urls[listener]

    def post(self, listener: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.urls[listener] + path, timeout=15, **kwargs)


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def lenient(recorder: Recorder) -> Iterator[UpstreamServer]:
    """The lenient, recording upstream (lenient_upstream.py)."""
    server = UpstreamServer(lenient_app(recorder)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hostile() -> Iterator[HostileUpstream]:
    """A scripted hostile upstream (tests.security.hostile)."""
    server = HostileUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def guarded(tmp_path_factory: pytest.TempPathFactory, hostile: HostileUpstream) -> Iterator[Stack]:
    """Envoy + Chaperone with the shipped default policies, in front of the hostile upstream."""
    workdir = tmp_path_factory.mktemp("guarded")
    yield from start_stack(workdir, copy_policies("default", workdir / "policies"), hostile)  # type: ignore[arg-type]


def start_declared(
    workdir: Path,
    upstream: UpstreamServer,
    recorder: Recorder,
    *,
    data: dict[str, Any] | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Declared]:
    """Start Chaperone and Envoy for LISTENERS; ``data`` is merged into data.chaperone."""
    policies = copy_policies("default", workdir / "policies")
    if data:
        path = policies / "data.yaml"
        document = yaml.safe_load(path.read_text())
        document["chaperone"].update(data)
        path.write_text(yaml.safe_dump(document))
    service_port, admin_port = free_port(), free_port()
    config = service_config(f"127.0.0.1:{service_port}", policies, **(sections or {}))
    ports = {name: free_port() for name in LISTENERS}
    config["upstreams"] = [
        {
            "name": name,
            "url": f"http://127.0.0.1:{upstream.port}",
            "listen": f"127.0.0.1:{port}",
            **({"protocol": declared} if declared else {}),
        }
        for (name, declared), port in zip(LISTENERS.items(), ports.values(), strict=True)
    ]
    service = ServiceProcess(workdir, config)
    config_path = workdir / "chaperone-envoy.yaml"
    config_path.write_text(yaml.safe_dump(config))
    envoy_path = workdir / "envoy-generated.yaml"
    args = ["envoy-config", "--config", str(config_path), "--admin-address", f"127.0.0.1:{admin_port}"]
    assert chaperone([*args, "--output", str(envoy_path)]) == 0
    envoy_config = yaml.safe_load(envoy_path.read_text())
    envoy = EnvoyProcess(envoy_config, workdir, ports["open"], admin_port)
    try:
        service.start()
        envoy.start()
        yield Declared(
            {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}, recorder, service, envoy
        )
    finally:
        envoy.stop()
        service.stop()
        shutil.rmtree(workdir / "policies", ignore_errors=True)


@pytest.fixture(scope="module")
def declared(
    tmp_path_factory: pytest.TempPathFactory, lenient: UpstreamServer, recorder: Recorder
) -> Iterator[Declared]:
    """The default policy, with approvals answered at once (retry mode) rather than held, and
    room for the same tool call to repeat across tests (the loop limit is tested on its own)."""
    workdir = tmp_path_factory.mktemp("security-declared")
    yield from start_declared(
        workdir,
        lenient,
        recorder,
        data={"max_repeats": 10_000, "max_session_calls": 100_000},
        sections={"approvals": {"mode": "retry"}, "admin": {"token_file": str(_token(workdir))}},
    )


ADMIN_TOKEN = "security-operator-token"


def _token(workdir: Path) -> Path:
    path = workdir / "operator-tokens"
    path.write_text(f"ops {ADMIN_TOKEN}\n")
    return path

"""A pod of the rendered manifests, run on this machine: its containers' processes in one network
namespace of their own, as a pod's containers share one, so every port is the manifests' port.

Each container runs its own command, arguments and environment (tests/k8s/manifests.py lays out
its volumes and maps its paths); the sidecars start in the manifests' order, each once the one
before it passed its startup probe, as the kubelet starts native sidecars. Nothing is skipped: a
machine without network namespaces fails the tests that use one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.k8s.manifests import ROOT, PodLayout, container
from tests.k8s.netns import NetworkNamespace

STARTUP_SECONDS = 60


@dataclass
class Pod:
    layout: PodLayout
    namespace: NetworkNamespace
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def base_environment(self) -> dict[str, str]:
        """This machine's environment, without what would configure Chaperone behind the manifests;
        this project's modules importable (the stand-ins run from tests/k8s)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAPERONE_")}
        return {**env, "PYTHONPATH": str(ROOT)}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [*self.namespace.prefix(), *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.logs,
            )

    def start_container(self, item: dict[str, Any], environment: dict[str, str] | None = None) -> None:
        """A container of the pod, as the kubelet starts it (its environment may be amended)."""
        self.layout.map_config_files(item)
        env = {**self.base_environment(), **(environment or self.layout.environment(item))}
        self.start(item["name"], self.layout.command(item), env)

    def wait_for_probe(self, name: str, probe: dict[str, Any]) -> None:
        """Until the probe passes (tests/k8s/probe.py, inside the pod); fails at once if the
        container's process exits."""
        action = {k: v for k, v in probe.items() if k in ("grpc", "httpGet", "tcpSocket")}
        checker = subprocess.Popen(
            [
                *self.namespace.prefix(),
                sys.executable,
                "-m",
                "tests.k8s.probe",
                orjson.dumps(action).decode(),
                str(STARTUP_SECONDS),
            ],
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS + 30
            while checker.poll() is None and time.monotonic() < deadline:
                assert self.processes[name].poll() is None, f"{name} exited" + self.log_tail()
                time.sleep(0.1)
        finally:
            if checker.poll() is None:
                checker.kill()
            checker.wait()
        assert checker.returncode == 0, f"{name}'s probe {action} did not pass" + self.log_tail()

    def wait_until_ready(self) -> None:
        """Every sidecar's readiness probe passes: the pod would receive the Service's calls."""
        for sidecar in self.layout.spec["initContainers"]:
            self.wait_for_probe(sidecar["name"], sidecar["readinessProbe"])

    def run(self, module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """A module of tests/k8s run inside the pod; it prints one JSON document."""
        result = subprocess.run(
            [*self.namespace.prefix(), sys.executable, "-m", module, *args],
            capture_output=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode() + self.log_tail()
        document: dict[str, Any] = orjson.loads(result.stdout)
        return document

    def run_as(self, name: str, module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """A module run inside the pod as container NAME sees the pod: the same network namespace,
        and of the pod's volumes only those it mounts (a mount namespace of its own in which the
        others are hidden)."""
        mounted = {m["name"] for m in container(self.layout.spec, name).get("volumeMounts", [])}
        script = ["set -e"]
        for index, volumes in enumerate(self.layout.volume_roots()):
            staging = self.layout.root / f"volumes-staging-{index}"
            staging.mkdir(exist_ok=True)
            script += [f"mount --bind {volumes} {staging}", f"mount -t tmpfs tmpfs {volumes}"]
            for volume in sorted(mounted):
                if (staging / volume).exists() or (volumes / volume).exists():
                    script.append(
                        f"mkdir {volumes / volume} && mount --bind {staging / volume} {volumes / volume}"
                    )
            script.append(f"umount -l {staging}")
        script.append('exec "$@"')
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script), "sh"]
        result = subprocess.run(
            [*self.namespace.prefix(), *command, sys.executable, "-m", module, *args],
            capture_output=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode() + self.log_tail()
        document: dict[str, Any] = orjson.loads(result.stdout)
        return document

    def fetch(self, *requests: dict[str, Any]) -> list[dict[str, Any]]:
        """HTTP requests from inside the pod (tests/k8s/fetch.py): status and text of each."""
        answers: list[dict[str, Any]] = self.run("tests.k8s.fetch", orjson.dumps(requests).decode())[
            "answers"
        ]
        return answers

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.namespace.stop()

    def log_tail(self) -> str:
        return "".join(
            f"\n--- {p.name} ---\n" + "\n".join(p.read_text(errors="replace").splitlines()[-40:])
            for p in sorted(self.logs.glob("*.log"))
        )

    def log_events(self, name: str) -> list[dict[str, Any]]:
        """The JSON lines a container wrote (Chaperone's log and audit events)."""
        lines = (self.logs / f"{name}.log").read_text().splitlines()
        return [orjson.loads(line) for line in lines if line.startswith("{")]


def agent_environment(pod: Pod, name: str) -> dict[str, str]:
    """A main container's environment over this machine's, without this machine's SDK settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "CHAPERONE_"))}
    return {**env, **pod.layout.environment(container(pod.layout.spec, name))}

"""Real processes for integration tests: Envoy, the Chaperone service, and a local upstream.

Each test stack gets free ports, its own temporary directory and log files. Envoy runs the
checked-in config with only its ports rewritten (as envoyproxy/ai-gateway's data-plane tests
do), so the tests exercise what users deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import yaml
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ext_proc.demo.envoy_config import LocalPorts, local_envoy_config

ROOT = Path(__file__).resolve().parents[1]
POLICY_FIXTURES = Path(__file__).parent / "fixtures" / "policies"
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 30


# Ports handed out by free_port in this process. A test stack takes several ports before any of
# its programs binds one; asking the kernel for "any free port" each time can return the same port
# twice (it was free both times), and once Envoy failed to start with "Address already in use".
_HANDED_OUT: set[int] = set()
_PORT_LOCK = threading.Lock()
_PORT_CHOICE = random.Random(os.getpid() ^ time.monotonic_ns())
# Test ports come from below the kernel's ephemeral range, where neither bind(("", 0)) nor the
# source port of an outgoing connection (to Redis, to an upstream) can take one in the meantime.
_PORT_FLOOR = 20000


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing holds now and this process has not handed out before."""
    ceiling = _ephemeral_floor()
    with _PORT_LOCK:
        for _ in range(1000):
            port = _PORT_CHOICE.randrange(_PORT_FLOOR, ceiling) if ceiling > _PORT_FLOOR + 1000 else 0
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = int(sock.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
    raise RuntimeError("no free TCP port on 127.0.0.1")


def envoy_binary() -> str:
    return str(BIN / "envoy") if (BIN / "envoy").exists() else shutil.which("envoy") or "envoy"


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name}: no output)"
    text = path.read_text(errors="replace").splitlines()
    return f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:])


def pinned(cpus: frozenset[int] | None) -> list[str]:
    """The command prefix that runs a program (and every thread it starts) on ``cpus`` only."""
    if cpus is None:
        return []
    return ["taskset", "--cpu-list", ",".join(str(cpu) for cpu in sorted(cpus))]


# -- Envoy ------------------------------------------------------------------------------------


def render_envoy_config(
    *,
    listener_port: int,
    admin_port: int,
    upstream_port: int,
    service_port: int | None = None,
    service_socket: Path | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    ports = LocalPorts(listener_port, admin_port, upstream_port, service_port, service_socket)
    config = local_envoy_config(ports)
    if edit is not None:
        edit(config)
    return config


@dataclass
class EnvoyProcess:
    config: dict[str, Any]
    workdir: Path
    listener_port: int
    admin_port: int
    process: subprocess.Popen[bytes] | None = None
    cpus: frozenset[int] | None = None  # pin Envoy to these CPUs (benchmarks)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "envoy.log"

    def start(self) -> EnvoyProcess:
        path = self.workdir / "envoy.yaml"
        path.write_text(yaml.safe_dump(self.config))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *pinned(self.cpus),
                    envoy_binary(),
                    "-c",
                    str(path),
                    "--disable-hot-restart",
                    "-l",
                    "warning",
                    "--concurrency",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited with {self.process.returncode}\n{tail(self.log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.admin_port}/ready", timeout=0.5).text.strip() == "LIVE":
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"envoy did not become ready\n{tail(self.log_path)}")

    def stats(self, prefix: str) -> dict[str, int]:
        text = httpx.get(f"http://127.0.0.1:{self.admin_port}/stats", params={"filter": prefix}).text
        result = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                result[name] = int(value)
        return result

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- the Chaperone service --------------------------------------------------------------------


@dataclass
class ServiceProcess:
    workdir: Path
    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    cpus: frozenset[int] | None = None  # pin the service to these CPUs (benchmarks)
    # Several worker processes start at once, each loading everything: they may need longer.
    startup_seconds: float = STARTUP_SECONDS
    module: str = "ext_proc"  # what runs `serve` (benchmarks swap in variants of the service)

    @property
    def address(self) -> str:
        return str(self.config["server"]["address"])

    @property
    def log_path(self) -> Path:
        return self.workdir / "chaperone.log"

    @property
    def admin_url(self) -> str:
        return f"http://{self.config['admin']['address']}"

    def start(self, *, wait: bool = True) -> ServiceProcess:
        path = self.workdir / "chaperone.yaml"
        path.write_text(yaml.safe_dump(self.config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAPERONE_")}
        env.update(self.env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*pinned(self.cpus), sys.executable, "-m", self.module, "serve", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        if wait:
            self.wait_serving()
        return self

    def wait_serving(self) -> None:
        deadline = time.monotonic() + self.startup_seconds
        target = self.address
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"chaperone exited with {self.process.returncode}\n{tail(self.log_path)}")
            with contextlib.suppress(grpc.RpcError), grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=0.5
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"chaperone did not start serving\n{tail(self.log_path)}")

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                event = orjson.loads(line)
                if isinstance(event, dict):
                    events.append(event)
        return events

    def wait_for_event(
        self, matches: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        """The last logged event that matches, waiting for it (a stream's summary is written when
        Envoy closes the ext_proc stream, just after the client got its answer)."""
        deadline = time.monotonic() + timeout
        while not (events := [e for e in self.log_events() if matches(e)]):
            if time.monotonic() > deadline:
                raise AssertionError("no such event in the service log")
            time.sleep(0.05)
        return events[-1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def service_config(address: str, policy_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        # One process unless a test asks for workers (server.workers auto would start one per CPU
        # whenever Redis is configured).
        "server": {"address": address, "grace_period_seconds": 5, "workers": 1},
        "policy": {"directory": str(policy_dir), "reload_interval_seconds": 0.2},
        "logging": {"level": "info", "format": "json"},
        "admin": {"address": f"127.0.0.1:{free_port()}"},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


# -- a local upstream -------------------------------------------------------------------------


class UpstreamServer:
    """An aiohttp application served from a background thread of the test process."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="upstream")

    def start(self) -> UpstreamServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


# -- a whole stack ----------------------------------------------------------------------------


@dataclass
class Stack:
    envoy: EnvoyProcess
    service: ServiceProcess
    policy_dir: Path

    @property
    def url(self) -> str:
        return self.envoy.url

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(**{"base_url": self.url, "timeout": 10, **kwargs})


def copy_policies(name: str, target: Path) -> Path:
    """A private, writable copy of a policy fixture directory (or of the shipped policies)."""
    source = ROOT / "policies" if name == "default" else POLICY_FIXTURES / name
    shutil.copytree(source, target)
    return target


def start_stack(
    workdir: Path,
    policy_dir: Path,
    upstream: UpstreamServer,
    *,
    service_sections: dict[str, dict[str, Any]] | None = None,
    edit_envoy: Callable[[dict[str, Any]], None] | None = None,
    unix_socket: bool = False,
    startup_seconds: float = STARTUP_SECONDS,
) -> Iterator[Stack]:
    """Start the service and Envoy; yield the stack; stop both (a generator for fixtures)."""
    workdir.mkdir(parents=True, exist_ok=True)
    socket_path = workdir / "chaperone.sock"
    service_port = free_port()
    address = f"unix:{socket_path}" if unix_socket else f"127.0.0.1:{service_port}"
    service = ServiceProcess(
        workdir,
        service_config(address, policy_dir, **(service_sections or {})),
        startup_seconds=startup_seconds,
    )
    listener_port, admin_port = free_port(), free_port()
    envoy_config = render_envoy_config(
        listener_port=listener_port,
        admin_port=admin_port,
        upstream_port=upstream.port,
        service_port=None if unix_socket else service_port,
        service_socket=socket_path if unix_socket else None,
        edit=edit_envoy,
    )
    envoy = EnvoyProcess(envoy_config, workdir, listener_port, admin_port)
    try:
        service.start()
        envoy.start()
        yield Stack(envoy, service, policy_dir)
    finally:
        envoy.stop()
        service.stop()

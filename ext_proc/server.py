"""The gRPC server: ext_authz Check, ext_proc Process and gRPC health on one port.

Server model: a synchronous grpc.server on a thread pool. Measured on a 2-core machine with a
no-op policy (DESIGN §5): ext_authz ~2.9-3.2k checks/s sync vs ~1.9k with grpc.aio; ext_proc
headers-only ~2.0k/s sync vs ~1.3-1.5k aio. Per-RPC machinery, not our code, dominates, and the
sync server's is cheaper. The price is one worker thread per open ext_proc stream (a streamed
LLM response holds its thread, idle, until it ends), so `server.max_workers` bounds concurrent
streams; blocking calls (a remote OPA, later Redis) are plain calls on that thread.
"""

from __future__ import annotations

import signal
import stat
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ext_proc.audit import AuditLog
from ext_proc.authz.servicer import AuthorizationServicer
from ext_proc.config import Config
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.engine import PolicyEngine
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.policy.reloader import PolicyReloader
from ext_proc.policy.remote_opa import RemoteOpaEngine
from ext_proc.processing.servicer import ExternalProcessorServicer
from ext_proc.processing.stream import StreamProcessor, StreamSettings

log = structlog.get_logger("chaperone.server")

AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"
EXTPROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"


@dataclass(slots=True)
class Policy:
    engine: PolicyEngine
    reloader: PolicyReloader | None


def build_policy(config: Config) -> Policy:
    """The configured engine; for the embedded one, its bundle is loaded and compiled now."""
    policy = config.policy
    if policy.engine == "opa":
        return Policy(RemoteOpaEngine(policy.opa.url, policy.decision, policy.opa.timeout_ms), None)
    engine = RegorusEngine(load_bundle(policy.directory), policy.decision)
    return Policy(engine, PolicyReloader(engine, policy.directory, policy.reload_interval_seconds))


class Service:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.policy = build_policy(config)
        self.evaluator = Evaluator(
            self.policy.engine,
            dry_run=config.policy.dry_run,
            deny_status=config.inspection.deny_status,
            fail_open=config.policy.opa.fail_open,
        )
        self.health = health.HealthServicer()
        self._server: Any = None
        self._executor: futures.ThreadPoolExecutor | None = None

    def start(self) -> str:
        """Bind and start serving; returns the bound address (the real port if 0 was asked)."""
        server_config = self.config.server
        options = [
            ("grpc.max_receive_message_length", server_config.max_message_bytes),
            ("grpc.max_send_message_length", server_config.max_message_bytes),
            # Two processes must never share a port by accident (DESIGN §4: Envoy would pin one).
            ("grpc.so_reuseport", 0),
        ]
        executor = futures.ThreadPoolExecutor(
            max_workers=server_config.max_workers, thread_name_prefix="grpc"
        )
        self._executor = executor
        server = grpc.server(executor, options=options)
        audit = AuditLog()
        settings = StreamSettings(
            max_body_bytes=self.config.inspection.max_body_bytes,
            deny_status=self.config.inspection.deny_status,
        )
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(
            AuthorizationServicer(self.evaluator, audit, self.config.inspection.deny_status), server
        )
        external_processor_pb2_grpc.add_ExternalProcessorServicer_to_server(
            ExternalProcessorServicer(lambda: StreamProcessor(self.evaluator, audit, settings)), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        address = self._bind(server, server_config.address)
        server.start()
        for service in ("", AUTHZ_SERVICE, EXTPROC_SERVICE):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self.policy.reloader is not None:
            self.policy.reloader.start()
        self._server = server
        log.info(
            "serving",
            address=address,
            engine=self.config.policy.engine,
            policy_revision=self.policy.engine.revision,
            decision=self.config.policy.decision,
            dry_run=self.config.policy.dry_run,
            max_workers=server_config.max_workers,
        )
        return address

    def stop(self, grace: float | None = None) -> None:
        """Refuse new streams at once, let in-flight ones finish within the grace period."""
        if self._server is None:
            return
        grace = self.config.server.grace_period_seconds if grace is None else grace
        self.health.enter_graceful_shutdown()
        log.info("shutting_down", grace_seconds=grace)
        self._server.stop(grace).wait()
        # Let the workers exit first: each drops its own regorus engine (they are thread-affine).
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self.policy.reloader is not None:
            self.policy.reloader.stop()
        self.policy.engine.close()
        self._server = None
        log.info("stopped")

    @staticmethod
    def _bind(server: Any, address: str) -> str:
        if address.startswith("unix:"):
            _remove_stale_socket(Path(address.removeprefix("unix:").removeprefix("//")))
            server.add_insecure_port(address)
            return address
        port = server.add_insecure_port(address)
        host = address.rpartition(":")[0]
        return f"{host}:{port}"


def _remove_stale_socket(path: Path) -> None:
    try:
        if stat.S_ISSOCK(path.stat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def serve(config: Config) -> int:
    service = Service(config)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.start()
    except RuntimeError as exc:
        log.error("bind_failed", address=config.server.address, error=str(exc))
        return 1
    stop.wait()
    service.stop()
    return 0

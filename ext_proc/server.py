"""The gRPC server: ext_authz Check, ext_proc Process and gRPC health on one port.

Server model: grpc.aio on one event loop. Measured through Envoy on a 2-core machine with
`make bench` (ext_proc: request and response bodies streamed, 4 messages per request; 16
connections): grpc.aio ~1,100 req/s against at most ~740 for the synchronous server, whose
thread hand-off per message and GIL convoy grow with the pool (64 threads: ~590). For unary
Check the sync server only wins with a tiny pool (2 threads: ~2,540 vs aio ~2,300 at the same
Python cost), and a tiny pool cannot hold long-lived streams: a streamed LLM response, or a call
held for approval, would pin a thread for its whole life. On the event loop an idle stream costs
nothing, so aio it is; the Check path is kept lean instead (see authz/). uvloop adds ~5-8% to
Check throughput in the same measurement and is the default event loop.

The embedded engine evaluates on the loop's thread (regorus engines are thread-affine); the
remote engine and any other I/O are awaited, never blocking the loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ext_proc import scanning
from ext_proc.admin.app import AdminExtension, build_admin_app
from ext_proc.admin.console import console_routes
from ext_proc.admin.decisions import decisions_routes
from ext_proc.admin.policy_routes import policy_routes
from ext_proc.admin.rpc.auth import OperatorAuth
from ext_proc.admin.rpc.backends import ApprovalsBackend, KillSwitchBackend
from ext_proc.admin.rpc.servicers import ADMIN_SERVICES, add_admin_services
from ext_proc.admin.server import AdminServer
from ext_proc.approvals.rpc_backend import StoreApprovalsBackend
from ext_proc.audit import AuditLog, DecisionFeed
from ext_proc.audit.checkpoints import load_private_key
from ext_proc.audit.log import CheckpointSettings
from ext_proc.authz.servicer import AuthorizationServicer
from ext_proc.config import AuditConfig, Config
from ext_proc.enforcement.components import Enforcement
from ext_proc.enforcement.sessions import reads_sessions
from ext_proc.grpc_services import (
    AUTHZ_SERVICE,
    EXTPROC_SERVICE,
    add_authorization_service,
    add_external_processor_service,
)
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.metrics.http import metrics_routes
from ext_proc.metrics.prometheus import PrometheusMetrics
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.engine import PolicyEngine
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.policy.reloader import PolicyReloader
from ext_proc.policy.remote_opa import RemoteOpaEngine
from ext_proc.policy.status import PolicyStatusSource
from ext_proc.processing.servicer import ExternalProcessorServicer
from ext_proc.processing.stream import StreamProcessor, StreamSettings
from ext_proc.safe_errors import internal_error
from ext_proc.workers import MULTIPROC_ENV, SOLE_WORKER, WorkerRole

log = structlog.get_logger("chaperone.server")
MAINTENANCE_SECONDS = 1.0


@dataclass(slots=True)
class Policy:
    engine: PolicyEngine
    reloader: PolicyReloader | None


def build_policy(config: Config) -> Policy:
    """The configured engine; for the embedded one, its bundle is loaded and compiled now."""
    policy = config.policy
    if policy.engine == "opa":
        return Policy(RemoteOpaEngine(policy.opa.url, policy.decision, policy.opa.timeout_ms), None)
    engine = RegorusEngine(load_bundle(policy.directory), policy.decision, rego_version=policy.rego_version)
    return Policy(engine, PolicyReloader(engine, policy.directory, policy.reload_interval_seconds))


def build_audit(
    config: AuditConfig, feed: DecisionFeed, metrics: Metrics, role: WorkerRole = SOLE_WORKER
) -> AuditLog:
    """With several workers, each writes files of its own (workers.py, WorkerRole.audit_path)."""
    checkpoint = config.checkpoint
    options: dict[str, Any] = {
        "feed": feed,
        "metrics": metrics,
        "on_failure": config.on_failure,
        "buffer_bytes": config.buffer_bytes,
        "checkpoints": CheckpointSettings(
            every_events=checkpoint.every_events,
            every_seconds=checkpoint.every_seconds,
            key=load_private_key(checkpoint.key_file) if checkpoint.key_file else None,
            anchor_file=role.audit_path(checkpoint.anchor_file) if checkpoint.anchor_file else None,
        ),
    }
    file = config.file
    if file.path is None:
        return AuditLog(**options) if config.stdout else AuditLog([], **options)
    return AuditLog.to_file(
        role.audit_path(file.path), file.max_bytes, file.backups, stdout=config.stdout, **options
    )


class Service:
    def __init__(self, config: Config, role: WorkerRole = SOLE_WORKER) -> None:
        self.config = config
        self.role = role
        self.policy = build_policy(config)
        self.evaluator = Evaluator(
            self.policy.engine,
            dry_run=config.policy.dry_run,
            deny_status=config.inspection.deny_status,
            fail_open=config.policy.opa.fail_open,
        )
        self.health = health.aio.HealthServicer()
        self._server: Any = None
        self._serving = False
        self.admin_extensions: list[AdminExtension] = []
        self.admin: AdminServer | None = None
        # -- oversight: metrics, audit trail, admin API (the integrator plugs in the backends) --
        self.policy_status = PolicyStatusSource(config.policy, self.policy.engine, self.policy.reloader)
        self.metrics: Metrics = (
            PrometheusMetrics(
                policy_status=self.policy_status,
                multiprocess_dir=os.environ.get(MULTIPROC_ENV) if role.count > 1 else None,
            )
            if config.metrics.enabled
            else NULL_METRICS
        )
        self.decisions = DecisionFeed(config.audit.recent)
        self.audit = build_audit(config.audit, self.decisions, self.metrics, role)
        self.evaluator.unavailable = self.audit.unavailable
        self.metrics.watch_audit(self.audit.status)
        # -- enforcement: identity, credentials, approvals, sessions (files are read now) --------
        self.enforcement = Enforcement.build(config, audit=self.audit, metrics=self.metrics)
        if config.sessions.record == "auto" and isinstance(self.policy.engine, RegorusEngine):
            self.enforcement.sessions_on = _session_reader(self.policy.engine)
        self.approvals_backend: ApprovalsBackend | None = StoreApprovalsBackend(
            self.enforcement.approvals.store
        )
        self.kill_switch_backend: KillSwitchBackend | None = self.enforcement.limits.rpc_backend()
        # Readiness conditions, each True when ready. Not ready while every decision is refused
        # anyway: the audit trail cannot be written (on_failure deny), or the kill switches cannot
        # be read from the shared state (fail_open false; the copy older than stale_after_seconds).
        kill_switch = self.enforcement.limits.kill_switch
        self.readiness_checks: list[Callable[[], bool]] = [
            lambda: not self.audit.status().refusing,
            lambda: not kill_switch.refusing_all(),
        ]
        self._maintenance: asyncio.Task[None] | None = None
        # Set by start(); kept for in-process drivers (tests.soak.replay).
        self.authz_servicer: AuthorizationServicer | None = None
        self.ext_proc_servicer: ExternalProcessorServicer | None = None

    async def start(self) -> str:
        """Bind and start serving; returns the bound address (the real port if 0 was asked)."""
        server_config = self.config.server
        options = [
            ("grpc.max_receive_message_length", server_config.max_message_bytes),
            ("grpc.max_send_message_length", server_config.max_message_bytes),
            # Workers share the port on purpose (workers.py); otherwise two processes must never
            # share it by accident (DESIGN §4: Envoy would pin its connections to one of them).
            ("grpc.so_reuseport", 1 if self.role.count > 1 else 0),
        ]
        server = grpc.aio.server(options=options, maximum_concurrent_rpcs=server_config.max_concurrent_rpcs)
        audit, metrics = self.audit, self.metrics
        inspection = self.config.inspection
        settings = StreamSettings(
            max_body_bytes=inspection.max_body_bytes,
            deny_status=inspection.deny_status,
            protocols=inspection.protocols,
            sensitive_data=dict(inspection.sensitive_data),
        )
        self.authz_servicer = AuthorizationServicer(
            self.evaluator,
            audit,
            inspection.deny_status,
            metrics,
            self.enforcement,
            parse_body=not self.config.policy.skip_request_body_parse,
        )
        add_authorization_service(self.authz_servicer, server)
        enforcement = self.enforcement
        self.ext_proc_servicer = ExternalProcessorServicer(
            lambda: StreamProcessor(self.evaluator, audit, settings, metrics, enforcement),
            first_message_seconds=server_config.stream_first_message_seconds,
            idle_seconds=server_config.stream_idle_seconds,
        )
        add_external_processor_service(self.ext_proc_servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        add_admin_services(
            server,
            auth=OperatorAuth(self.config.admin.token_file),
            audit=audit,
            policy_status=self.policy_status,
            approvals=self.approvals_backend,
            kill_switch=self.kill_switch_backend,
        )
        address = self._bind(server, server_config.address)
        await self.enforcement.start()
        self._warm_engine()
        scanning.configure(
            phone_region=self.config.inspection.phone_region, cache_dir=self.config.inspection.cache_dir
        )
        if self.config.inspection.protocols:
            scanning.prepare()  # compile the detectors now, not on the first request's time
        await server.start()
        _share_socket_with_group(server_config.address)
        for service in ("", AUTHZ_SERVICE, EXTPROC_SERVICE, *ADMIN_SERVICES):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self.policy.reloader is not None:
            loop = asyncio.get_running_loop()
            self.policy.reloader.on_reload = lambda: loop.call_soon_threadsafe(self._warm_engine)
            self.policy.reloader.start()
        self._server = server
        self._serving = True
        self._maintenance = asyncio.create_task(self._maintain(), name="audit-maintenance")
        if self.role.primary:  # with several workers, worker 0 serves the admin port (workers.py)
            admin_app = build_admin_app(
                self.ready,
                self.config.admin.token_file,
                [*self._oversight_routes(), *self.enforcement.admin_extensions(), *self.admin_extensions],
            )
            self.admin = AdminServer(admin_app, self.config.admin.address)
            await self.admin.start()
        log.info(
            "serving",
            address=address,
            **({"worker": self.role.argument()} if self.role.count > 1 else {}),
            admin_port=self.admin.port if self.admin is not None else None,
            engine=self.config.policy.engine,
            policy_revision=self.policy.engine.revision,
            decision=self.config.policy.decision,
            dry_run=self.config.policy.dry_run,
        )
        return address

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new streams at once, let in-flight ones finish within the grace period."""
        if self._server is None:
            return
        grace = self.config.server.grace_period_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        self._serving = False
        self.enforcement.drain.begin(grace)
        log.info("shutting_down", grace_seconds=grace)
        await self._server.stop(grace)
        if self.policy.reloader is not None:
            self.policy.reloader.stop()
        await self.policy.engine.close()
        if self.admin is not None:
            await self.admin.stop()
        await self.enforcement.stop()
        if self._maintenance is not None:
            self._maintenance.cancel()
        self._server = None
        log.info("stopped")
        self.audit.close()

    def ready(self) -> bool:
        """Readiness: serving and not shutting down, a policy loaded as found on disk (a directory
        gone or a set that does not compile keeps the last good set answering, but is not ready),
        and every registered check true."""
        policy = self.policy_status()
        if not (self._serving and policy.loaded and policy.last_error is None):
            return False
        for check in self.readiness_checks:
            try:
                if not check():
                    return False
            except Exception:  # a broken check means "not ready", never a crashed probe
                log.exception("readiness_check_failed")
                return False
        return True

    async def _maintain(self) -> None:
        """Every second: the audit trail retries a failing sink, reopens a moved file, checkpoints."""
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            try:
                self.audit.maintain()
            except Exception as exc:  # never let the loop die: say so and carry on
                internal_error("audit_maintenance_failed", exc)

    def _oversight_routes(self) -> list[AdminExtension]:
        routes = [policy_routes(self.policy_status), decisions_routes(self.decisions), console_routes()]
        if isinstance(self.metrics, PrometheusMetrics):
            routes.append(metrics_routes(self.metrics))
        return routes

    def _warm_engine(self) -> None:
        # Build the loop thread's engine now rather than on the next request's time.
        if isinstance(self.policy.engine, RegorusEngine):
            self.policy.engine.warm()

    @staticmethod
    def _bind(server: Any, address: str) -> str:
        if address.startswith("unix:"):
            _remove_stale_socket(_socket_path(address))
            server.add_insecure_port(address)
            return address
        port = server.add_insecure_port(address)
        host = address.rpartition(":")[0]
        return f"{host}:{port}"


def _session_reader(engine: RegorusEngine) -> Callable[[], bool]:
    """sessions.record auto: whether the loaded bundle reads input.session, looked at once per
    bundle (a reload that starts or stops reading it takes effect with it)."""
    seen: dict[str, bool] = {}

    def reads() -> bool:
        bundle = engine.bundle
        answer = seen.get(bundle.revision)
        if answer is None:
            seen.clear()
            answer = seen[bundle.revision] = reads_sessions(bundle)
        return answer

    return reads


def _share_socket_with_group(address: str) -> None:
    """A unix socket's group may connect, not only its owner: in a pod, Envoy runs as another
    user, and the socket's group is the pod's fsGroup (the kubelet makes an emptyDir setgid to
    it), which every container of the pod has; the socket's directory, mounted only into
    Envoy's container and Chaperone's, keeps the others out."""
    if address.startswith("unix:"):
        _socket_path(address).chmod(0o660)


def _socket_path(address: str) -> Path:
    return Path(address.removeprefix("unix:").removeprefix("//"))


def _remove_stale_socket(path: Path) -> None:
    try:
        if stat.S_ISSOCK(path.stat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


async def run(config: Config, role: WorkerRole = SOLE_WORKER) -> int:
    service = Service(config, role)
    try:
        await service.start()
    except RuntimeError as exc:
        log.error("bind_failed", address=config.server.address, error=str(exc))
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop)
    await stop.wait()
    await service.stop()
    return 0


def _on_signal(signum: int, stop: asyncio.Event) -> None:
    log.info("signal", signal=signal.Signals(signum).name)
    stop.set()


def serve(config: Config, role: WorkerRole = SOLE_WORKER) -> int:
    if config.server.event_loop == "uvloop":
        return uvloop.run(run(config, role))
    return asyncio.run(run(config, role))

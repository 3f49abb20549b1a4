"""Worker processes: several processes serve the gRPC port together, one per CPU by default.

A Python process runs Python on one core at a time, so one process is one core of checks. With
``server.workers`` above one, ``chaperone serve`` becomes a small supervisor of that many worker
processes, each a whole service (policy engine, identity, enforcement) bound to the same port
with SO_REUSEPORT: the kernel spreads incoming connections across them. Envoy would otherwise
keep one HTTP/2 connection per Envoy thread to the service, all on one process (DESIGN §4); the
Envoy config Chaperone writes caps the streams per connection (envoy_bootstrap/clusters.py), so
Envoy opens a connection per concurrent call and they spread.

What the workers share, and how:
- limits, budgets, the kill switch, approvals and sessions: Redis. More than one worker needs
  ``state.redis_url`` (config.py refuses it otherwise): in memory, each process would keep, and
  enforce, its own. ``workers: auto`` is therefore one worker without Redis, one per CPU with it.
- the admin HTTP port (health, readiness, metrics, operator API and console): worker 0 serves it.
  Its answers hold for all (the operator API's state is in Redis, policies are the same files).
- metrics: prometheus-client's multiprocess mode (each worker writes its values to files in a
  directory the supervisor makes; worker 0's /metrics adds them up).
- the audit trail: each worker writes a hash chain of its own, worker 0 to ``audit.file.path``,
  worker N to the same name with ``.worker-N`` before its suffix (``audit.worker-1.jsonl``);
  each file is a complete segment that ``chaperone audit verify`` checks on its own.

The supervisor forwards SIGTERM, SIGINT and SIGHUP to every worker and exits once they have
drained. A worker that dies is started again; one that exits with an error within seconds of
its start (a port taken, a policy that does not load) stops the whole service with its exit
code, as a single process would.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from ext_proc.config import Config

log = structlog.get_logger("chaperone.workers")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A worker that exits (with an error) sooner than this after its start failed to start.
STARTUP_FAILURE_SECONDS = 10.0
MAX_RESTART_DELAY_SECONDS = 30.0
POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 60.0
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """Which worker this process is, of how many."""

    index: int = 0
    count: int = 1

    @property
    def primary(self) -> bool:
        """Worker 0 serves the admin port."""
        return self.index == 0

    def audit_path(self, path: str) -> str:
        """Worker 0 writes the configured file; worker N the same name with ``.worker-N``."""
        if self.index == 0:
            return path
        file = Path(path)
        return str(file.with_name(f"{file.stem}.worker-{self.index}{file.suffix}"))

    def argument(self) -> str:
        return f"{self.index}/{self.count}"

    @staticmethod
    def parse(text: str) -> WorkerRole:
        index, _, count = text.partition("/")
        role = WorkerRole(int(index), int(count))
        if not 0 <= role.index < role.count:
            raise ValueError(text)
        return role


SOLE_WORKER = WorkerRole()


def available_cpus(
    cgroup_v2: Path = CGROUP_V2_CPU_MAX, quota_v1: Path = CGROUP_V1_QUOTA, period_v1: Path = CGROUP_V1_PERIOD
) -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup CPU quota (a pod's
    ``resources.limits.cpu``), rounded up."""
    cpus = len(os.sched_getaffinity(0))
    quota = _cgroup_quota(cgroup_v2, quota_v1, period_v1)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


def _cgroup_quota(cgroup_v2: Path, quota_v1: Path, period_v1: Path) -> float | None:
    try:
        limit, _, period = cgroup_v2.read_text().partition(" ")
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(quota_v1.read_text())
        return None if quota <= 0 else quota / int(period_v1.read_text())
    except (OSError, ValueError):
        return None


def worker_count(config: Config, cpus: Callable[[], int] = available_cpus) -> int:
    workers = config.server.workers
    if workers != "auto":
        return workers
    if config.state.redis_url is None or config.server.address.startswith("unix:"):
        return 1  # state in memory, or a unix socket: one process (see the module's docstring)
    return cpus()


class Supervisor:
    """Runs ``count`` workers (``command(role)`` starts one) until a stop signal."""

    def __init__(self, count: int, command: Callable[[WorkerRole], Sequence[str]]) -> None:
        self._count = count
        self._command = command
        self._stop = threading.Event()
        self._workers: dict[int, subprocess.Popen[bytes]] = {}  # index -> process
        self._started: dict[int, float] = {}
        self._restarts: dict[int, int] = {}
        self._failure: int | None = None

    def run(self) -> int:
        metrics_dir, own_dir = _metrics_directory()
        env = {**os.environ, MULTIPROC_ENV: metrics_dir}
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            for index in range(self._count):
                self._start(index, env)
            log.info("workers_started", workers=self._count, pids=[p.pid for p in self._workers.values()])
            while not self._stop.is_set():
                self._reap(env, metrics_dir)
                self._stop.wait(POLL_SECONDS)
            return self._stop_all(metrics_dir)
        finally:
            if own_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)

    def _start(self, index: int, env: dict[str, str]) -> None:
        role = WorkerRole(index, self._count)
        self._workers[index] = subprocess.Popen(list(self._command(role)), env=env)
        self._started[index] = time.monotonic()

    def _reap(self, env: dict[str, str], metrics_dir: str) -> None:
        for index, process in list(self._workers.items()):
            code = process.poll()
            if code is None:
                continue
            _forget_metrics(process.pid, metrics_dir)
            lived = time.monotonic() - self._started[index]
            # It ended itself with an error right away (a port taken, a policy that does not load):
            # starting it again would fail the same way. Killed by a signal, it is started again.
            if code > 0 and lived < STARTUP_FAILURE_SECONDS and self._restarts.get(index, 0) == 0:
                log.error("worker_failed_to_start", worker=index, exit_code=code)
                self._failure = code
                self._stop.set()
                return
            restarts = self._restarts[index] = self._restarts.get(index, 0) + 1
            delay = min(MAX_RESTART_DELAY_SECONDS, 0.5 * 2 ** min(restarts - 1, 6))
            log.error("worker_exited", worker=index, exit_code=code, restart_in_seconds=delay)
            if self._stop.wait(delay):
                return
            self._start(index, env)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("signal", signal=signal.Signals(signum).name, workers=len(self._workers))
        self._stop.set()

    def _stop_all(self, metrics_dir: str) -> int:
        live = [p for p in self._workers.values() if p.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        codes = []
        for process in self._workers.values():
            try:
                codes.append(process.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
            _forget_metrics(process.pid, metrics_dir)
        if self._failure is not None:
            return self._failure
        return next((code for code in codes if code not in (0, -signal.SIGTERM)), 0)


def _metrics_directory() -> tuple[str, bool]:
    """The multiprocess metrics directory: the environment's, or a new one (removed at exit)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        return given, False
    return tempfile.mkdtemp(prefix="chaperone-metrics-"), True


def _forget_metrics(pid: int, metrics_dir: str) -> None:
    # Imported here: only the supervisor of several workers needs it.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]


def worker_command(config_path: str | None) -> Callable[[WorkerRole], list[str]]:
    base = [sys.executable, "-m", "ext_proc", "serve"]
    if config_path:
        base += ["--config", config_path]
    return lambda role: [*base, "--worker", role.argument()]

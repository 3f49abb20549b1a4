"""How many workers, and what each one writes where (the processes themselves: tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ext_proc.config import ConfigError, load_config
from ext_proc.workers import WorkerRole, available_cpus, worker_count

REDIS = "redis://127.0.0.1:6379/0"


def config(tmp_path: Path, text: str) -> object:
    path = tmp_path / "chaperone.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def test_auto_is_one_worker_without_redis_and_one_per_cpu_with_it(tmp_path: Path) -> None:
    assert worker_count(config(tmp_path, ""), cpus=lambda: 4) == 1  # type: ignore[arg-type]
    with_redis = config(tmp_path, f"state: {{redis_url: '{REDIS}'}}")
    assert worker_count(with_redis, cpus=lambda: 4) == 4  # type: ignore[arg-type]
    on_a_socket = config(
        tmp_path, f"state: {{redis_url: '{REDIS}'}}\nserver: {{address: 'unix:/tmp/c.sock'}}"
    )
    assert worker_count(on_a_socket, cpus=lambda: 4) == 1  # type: ignore[arg-type]
    fixed = config(tmp_path, f"state: {{redis_url: '{REDIS}'}}\nserver: {{workers: 3}}")
    assert worker_count(fixed, cpus=lambda: 1) == 3  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server: {workers: 2}", "need state.redis_url"),
        (
            f"server: {{workers: 2, address: 'unix:/tmp/c.sock'}}\nstate: {{redis_url: '{REDIS}'}}",
            "unix socket",
        ),
        ("server: {workers: 0}", "server.workers"),
    ],
)
def test_workers_that_could_not_keep_state_exact_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, text)


def test_the_cpu_count_follows_a_cgroup_quota_rounded_up(tmp_path: Path) -> None:
    cpu_max, quota, period = tmp_path / "cpu.max", tmp_path / "quota", tmp_path / "period"
    missing = tmp_path / "missing"
    cpu_max.write_text("150000 100000\n")
    assert available_cpus(cpu_max, missing, missing) == min(2, available_cpus(missing, missing, missing))
    cpu_max.write_text("50000 100000\n")
    assert available_cpus(cpu_max, missing, missing) == 1
    cpu_max.write_text("max 100000\n")
    assert available_cpus(cpu_max, missing, missing) == available_cpus(missing, missing, missing)
    quota.write_text("100000\n")
    period.write_text("100000\n")
    assert available_cpus(missing, quota, period) == 1  # cgroup v1
    quota.write_text("-1\n")
    assert available_cpus(missing, quota, period) == available_cpus(missing, missing, missing)


def test_each_worker_writes_an_audit_file_of_its_own() -> None:
    assert WorkerRole(0, 2).audit_path("/var/log/audit.jsonl") == "/var/log/audit.jsonl"
    assert WorkerRole(1, 2).audit_path("/var/log/audit.jsonl") == "/var/log/audit.worker-1.jsonl"
    assert WorkerRole(3, 4).audit_path("/var/log/audit") == "/var/log/audit.worker-3"
    assert WorkerRole.parse("1/2") == WorkerRole(1, 2) and WorkerRole(1, 2).argument() == "1/2"
    with pytest.raises(ValueError):
        WorkerRole.parse("2/2")

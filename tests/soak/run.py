"""`make soak`: a million mixed requests through Envoy and Chaperone; the RSS and fd curve.

Envoy (``--concurrency 1``), the service with the shipped policies and an audit file, and the
demo upstream run as in ``make run``; wrk sends ``mixed.lua`` (every kind of request the service
decides, in turn) in rounds until the total is reached. After each round the service's resident
memory, open file descriptors and ext_proc streams are printed, and at the end how much they grew
after warm-up (the first tenth of the requests): a service whose memory is flat after warm-up
grows by a few MB at most, whatever the length of the run.

    .venv/bin/python -m tests.soak.run [--requests N] [--round-seconds S] [--connections C]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.harness import ROOT, EnvoyProcess, ServiceProcess, free_port, render_envoy_config, service_config

SCRIPT = Path(__file__).with_name("mixed.lua")
WARM_UP_SHARE = 0.1
RESETS = "cluster.chaperone.upstream_rq_tx_reset"
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sample:
    elapsed: float
    requests: int
    rss: int
    fds: int
    streams: int
    resets: int  # ext_proc and Check streams Envoy ended with a reset (grpc.aio leaks on each)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--round-seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("soak: wrk is not installed (make soak installs it)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="chaperone-soak-") as tmp:
        workdir = Path(tmp)
        upstream_port = free_port()
        upstream = subprocess.Popen(
            [sys.executable, "-m", "ext_proc.demo.upstream", "--port", str(upstream_port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        service, envoy = start(workdir, upstream_port)
        try:
            samples = soak(wrk, args, envoy, service)
        finally:
            envoy.stop()
            service.stop()
            upstream.terminate()
            upstream.wait(timeout=10)
    return report(samples)


def start(workdir: Path, upstream_port: int) -> tuple[ServiceProcess, EnvoyProcess]:
    shutil.copytree(ROOT / "policies", workdir / "policies")
    service_port = free_port()
    config = service_config(
        f"127.0.0.1:{service_port}",
        workdir / "policies",
        # The audit trail on standard output would fill the disk over a million requests: to a
        # rotated file instead (its handling is part of what is soaked).
        audit={
            "stdout": False,
            "file": {"path": str(workdir / "audit.log"), "max_bytes": 32 * MB, "backups": 2},
        },
        logging={"level": "warning"},
    )
    service = ServiceProcess(workdir, config).start()
    listener, admin = free_port(), free_port()
    envoy_config = render_envoy_config(
        listener_port=listener, admin_port=admin, upstream_port=upstream_port, service_port=service_port
    )
    envoy = EnvoyProcess(envoy_config, workdir, listener, admin).start()
    return service, envoy


def soak(wrk: str, args: argparse.Namespace, envoy: EnvoyProcess, service: ServiceProcess) -> list[Sample]:
    assert service.process is not None
    process = psutil.Process(service.process.pid)
    started = time.monotonic()
    total = 0
    samples = [sample(process, service, envoy, started, total)]
    print(f"{'elapsed s':>9} {'requests':>10} {'RSS MB':>8} {'fds':>5} {'streams':>7} {'resets':>7}")
    print_sample(samples[0])
    while total < args.requests:
        command = [
            wrk, "-t1", f"-c{args.connections}", f"-d{args.round_seconds:g}s", "-s", str(SCRIPT), envoy.url,
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        done = re.search(r"(\d+) requests in", output)
        if done is None or int(done[1]) == 0:
            print(f"soak: wrk sent nothing:\n{output}", file=sys.stderr)
            break
        total += int(done[1])
        samples.append(sample(process, service, envoy, started, total))
        print_sample(samples[-1])
    return samples


def sample(
    process: psutil.Process, service: ServiceProcess, envoy: EnvoyProcess, started: float, total: int
) -> Sample:
    streams = 0
    metrics = httpx.get(f"{service.admin_url}/metrics", timeout=10).text
    for line in metrics.splitlines():
        if line.startswith("chaperone_ext_proc_streams_open "):
            streams = int(float(line.split()[1]))
    resets = envoy.stats(RESETS).get(RESETS, 0)
    rss, fds = process.memory_info().rss, process.num_fds()
    return Sample(time.monotonic() - started, total, rss, fds, streams, resets)


def print_sample(s: Sample) -> None:
    line = f"{s.elapsed:9.0f} {s.requests:10d} {s.rss / MB:8.1f} {s.fds:5d} {s.streams:7d} {s.resets:7d}"
    print(line, flush=True)


def report(samples: list[Sample]) -> int:
    if len(samples) < 3:
        print("soak: too few rounds to judge", file=sys.stderr)
        return 1
    total = samples[-1].requests
    warm = next(s for s in samples if s.requests >= total * WARM_UP_SHARE)
    last = samples[-1]
    grown = (last.rss - warm.rss) / MB
    per_100k = grown / max(1, last.requests - warm.requests) * 100_000
    after = last.requests - warm.requests
    print(
        f"\nafter warm-up ({warm.requests} requests, {warm.rss / MB:.1f} MB): {after} requests, "
        f"RSS {grown:+.1f} MB ({per_100k:+.2f} MB per 100k), fds {last.fds - warm.fds:+d}, "
        f"streams open at the end {last.streams}, gRPC streams reset by Envoy {last.resets}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

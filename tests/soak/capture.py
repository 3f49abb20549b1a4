"""Record what Envoy sends the service for the soak's traffic, to replay it without Envoy.

    .venv/bin/python -m tests.soak.capture OUT.pickle [--rounds N]

Runs the service in this process (the soak's configuration), Envoy and the demo upstream as in
``make soak``, sends ``mixed.lua``'s requests N times over, and writes, in the order they came,
each Check's CheckRequest and each ext_proc stream's messages (serialized protobuf, with the
stream's gRPC metadata). The counter the soak puts in its bodies (``SEQ``) is written as a
9-digit number starting with 9, so that a replay can give every call a number of its own
without changing any message's length (``tests.soak.replay``).
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

from ext_proc.authz.servicer import AuthorizationServicer
from ext_proc.config import load_config
from ext_proc.processing.servicer import ExternalProcessorServicer
from ext_proc.server import Service
from tests.harness import ROOT, EnvoyProcess, free_port, render_envoy_config, service_config
from tests.soak.mix import mixed_requests

SEQ_BASE = 900_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    recorded = asyncio.run(capture(args.rounds))
    args.out.write_bytes(pickle.dumps(recorded))
    print(f"captured {len(recorded)} calls to {args.out}")
    return 0


def soak_config(workdir: Path, service_port: int) -> dict[str, Any]:
    shutil.copytree(ROOT / "policies", workdir / "policies", dirs_exist_ok=True)
    return service_config(
        f"127.0.0.1:{service_port}",
        workdir / "policies",
        audit={"stdout": False, "file": {"path": str(workdir / "audit.log")}},
        logging={"level": "warning"},
    )


async def capture(rounds: int) -> list[tuple[str, Any]]:
    recorded: list[tuple[str, Any]] = []
    _record_calls(recorded)
    with tempfile.TemporaryDirectory(prefix="chaperone-capture-") as tmp:
        workdir = Path(tmp)
        service_port = free_port()
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(soak_config(workdir, service_port)))
        service = Service(load_config(config_path))
        await service.start()
        upstream_port = free_port()
        upstream = subprocess.Popen(
            [sys.executable, "-m", "ext_proc.demo.upstream", "--port", str(upstream_port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        listener, admin = free_port(), free_port()
        envoy_config = render_envoy_config(
            listener_port=listener, admin_port=admin, upstream_port=upstream_port, service_port=service_port
        )
        envoy = await asyncio.to_thread(EnvoyProcess(envoy_config, workdir, listener, admin).start)
        try:
            await asyncio.sleep(1.0)  # the demo upstream
            async with httpx.AsyncClient(base_url=envoy.url, timeout=30) as client:
                kinds = len(mixed_requests(0))
                for number in range(rounds * kinds):
                    method, path, headers, body = mixed_requests(SEQ_BASE + number)[number % kinds]
                    await client.request(method, path, headers=headers, content=body)
            await asyncio.sleep(0.5)
            print_stream_ends(envoy)
        finally:
            envoy.stop()
            upstream.terminate()
            upstream.wait(timeout=10)
            await service.stop(0)
    return recorded


def print_stream_ends(envoy: EnvoyProcess) -> None:
    """How the service's gRPC streams ended: Envoy's resets are what grpc.aio leaks on."""
    stats = envoy.stats("cluster.chaperone.upstream_rq")
    for name in ("upstream_rq_total", "upstream_rq_tx_reset", "upstream_rq_rx_reset"):
        print(f"{name}: {stats.get(f'cluster.chaperone.{name}', 0)}")


def _record_calls(recorded: list[tuple[str, Any]]) -> None:
    check = AuthorizationServicer.Check
    process = ExternalProcessorServicer.Process

    async def recording_check(self: Any, request: Any, context: Any) -> Any:
        recorded.append(("check", request.SerializeToString()))
        return await check(self, request, context)

    async def recording_process(self: Any, request_iterator: Any, context: Any) -> None:
        messages: list[bytes] = []
        metadata = tuple((key, value) for key, value in context.invocation_metadata() or ())
        recorded.append(("process", (metadata, messages)))

        async def tee() -> Any:
            async for message in request_iterator:
                messages.append(message.SerializeToString())
                yield message

        await process(self, tee(), context)

    AuthorizationServicer.Check = recording_check  # type: ignore[method-assign]
    ExternalProcessorServicer.Process = recording_process  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.exit(main())

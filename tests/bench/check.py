"""The Python cost of one ext_authz Check, in process (not a test): no gRPC, no Envoy.

    .venv/bin/python -m tests.bench.check [--checks 5000] [--repeat 5]

AuthorizationServicer.Check is called in a loop with a CheckRequest as Envoy sends it for a GET
(headers, peers, time, context extensions), the service built from its configuration as
`chaperone serve` builds it (metrics on, the audit trail written to nowhere), for three
policies: ``default allow := true``, HS256 JWTs verified by identity.jwt with RBAC rules over
1,000 agents (tests/bench/jwt_rbac), and the shipped default policy. Reported: CPU time per
check (``time.process_time``, best of ``repeat``), against a baseline measured in the same run:
decoding the request and encoding an allow, the protobuf work of any servicer. The gRPC
machinery around a Check (a do-nothing grpc.aio servicer costs ~250-350 µs of CPU per call
behind Envoy) is measured by `make bench`, not here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
import yaml
from envoy.service.auth.v3 import external_auth_pb2 as pb
from google.rpc import code_pb2, status_pb2

from ext_proc.authz.servicer import AuthorizationServicer
from ext_proc.config import load_config
from ext_proc.logs import configure_logging
from ext_proc.server import Service
from tests.harness import ROOT
from tests.jwt_keys import AUDIENCE, HS_SECRET, ISSUER, claims, token

BENCH = Path(__file__).parent
AGENTS = 1000


def check_request(authorization: str | None = None) -> Any:
    """A CheckRequest as Envoy's ext_authz filter sends it for `GET /health` (captured fields)."""
    request = pb.CheckRequest()
    attributes = request.attributes
    attributes.source.address.socket_address.address = "127.0.0.1"
    attributes.source.address.socket_address.port_value = 54448
    attributes.destination.address.socket_address.address = "127.0.0.1"
    attributes.destination.address.socket_address.port_value = 10000
    attributes.request.time.seconds, attributes.request.time.nanos = 1796398400, 753078000
    http = attributes.request.http
    http.id, http.method, http.path = "12632005272378719669", "GET", "/health"
    http.host, http.scheme, http.protocol = "127.0.0.1:10000", "http", "HTTP/1.1"
    headers = {
        ":authority": "127.0.0.1:10000", ":path": "/health", ":method": "GET", ":scheme": "http",
        "user-agent": "wrk", "accept": "*/*", "accept-encoding": "gzip, deflate, br",
        "x-forwarded-proto": "http", "x-request-id": "d9d1cfcb-d274-42db-be2c-62f23ae26446",
    }  # fmt: skip
    if authorization is not None:
        headers["authorization"] = authorization
    http.headers.update(headers)
    attributes.context_extensions["upstream"] = "upstream"
    attributes.metadata_context.SetInParent()
    attributes.route_metadata_context.SetInParent()
    return request


def configure(workdir: Path, name: str) -> tuple[dict[str, Any], list[Any]]:
    """The config sections and the requests (one per agent, or one) of a scenario."""
    if name == "trivial":
        return {"policy": {"directory": str(BENCH / "policies" / "trivial")}}, [check_request()]
    if name == "default":
        return {"policy": {"directory": str(ROOT / "policies")}}, [check_request()]
    policies = workdir / "jwt_rbac"
    shutil.copytree(BENCH / "jwt_rbac", policies)
    names = [f"agent-{n:04d}" for n in range(AGENTS)]
    roles = ["reader", "writer", "admin"]
    agents = {agent: {"roles": [roles[n % 3]]} for n, agent in enumerate(names)}
    (policies / "agents.json").write_text(json.dumps({"agents": agents}))
    (workdir / "hs256").write_bytes(HS_SECRET)
    jwt = {"hs256_secret_file": str(workdir / "hs256"), "algorithms": ["HS256"], "issuer": ISSUER,
           "audiences": [AUDIENCE]}  # fmt: skip
    requests = [
        check_request("Bearer " + token(HS_SECRET, "HS256", None, claims(sub=agent, lifetime=3600)))
        for agent in names
    ]
    return {"policy": {"directory": str(policies)}, "identity": {"jwt": jwt}}, requests


async def per_check(workdir: Path, name: str, checks: int, repeat: int) -> float:
    sections, requests = configure(workdir, name)
    path = workdir / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump({**sections, "audit": {"stdout": False}, "inspection": {"protocols": False}})
    )
    service = Service(load_config(path, environ={}))
    await service.enforcement.start()
    servicer = AuthorizationServicer(
        service.evaluator, service.audit, 403, service.metrics, service.enforcement
    )
    try:
        for request in requests:  # every agent's token verified once (agents reuse theirs)
            assert (await servicer.Check(request, None)).status.code == code_pb2.OK
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            for index in range(checks):
                await servicer.Check(requests[index % len(requests)], None)
            best = min(best, (time.process_time() - started) / checks)
        return best * 1e6
    finally:
        await service.enforcement.stop()


def protobuf_baseline(checks: int, repeat: int) -> float:
    wire = check_request().SerializeToString()
    allow = pb.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=pb.OkHttpResponse())

    def once() -> None:
        pb.CheckRequest.FromString(wire)
        allow.SerializeToString()

    return best_us(once, checks, repeat)


def best_us(run: Callable[[], None], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(count):
            run()
        best = min(best, (time.process_time() - started) / count)
    return best * 1e6


async def main(args: argparse.Namespace) -> None:
    configure_logging("warning")
    base = protobuf_baseline(args.checks, args.repeat)
    print(f"Check in process, CPU per check, best of {args.repeat} x {args.checks}")
    print(f"  {'baseline: decode the request, encode an allow':48} {base:7.1f} us")
    with tempfile.TemporaryDirectory() as scratch:
        for name, label in (
            ("trivial", "default allow := true"),
            ("jwt", f"JWT (HS256) + RBAC, {AGENTS} agents"),
            ("default", "the shipped default policy"),
        ):
            micros = await per_check(Path(scratch), name, args.checks, args.repeat)
            print(f"  {label:48} {micros:7.1f} us  {micros / base:6.1f}x baseline")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    uvloop.run(main(parser.parse_args()))

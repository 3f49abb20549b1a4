"""Oversight benchmark (not a test): the audit trail's cost per event, and one admin gRPC call.

    .venv/bin/python -m tests.bench.oversight [--events 5000] [--repeat 5]

Audit: a decision like the service records for an LLM call (action summary, one finding,
reasons: two events, the decision and its finding), through the whole pipeline (key redaction,
value scan, hash chain, JSON) to a sink that discards; and the value scan of one decision event
alone. Both with values that repeat (the common case: models, hosts, paths and reasons recur, and
short strings found clean are not scanned again) and with a unique path per event. The baseline,
measured in the same run, is building the event dict and rendering it with orjson.

Admin gRPC: GetPolicyStatus with an operator token over a real grpc.aio channel, against the
gRPC health Check on the same server (the cheapest unary call there is). Best of ``repeat`` on
one core; the machine is shared, so compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import orjson
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ext_proc.admin.rpc.auth import OperatorAuth
from ext_proc.admin.rpc.servicers import add_admin_services
from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.admin.rpc.v1 import admin_pb2_grpc
from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.audit.scrub import ValueScan
from ext_proc.policy.decision import Decision
from ext_proc.policy.evaluator import Outcome
from ext_proc.policy.status import PolicyStatus
from ext_proc.scanning import prepare

ACTION = {"protocol": "llm", "provider": "openai.chat", "model": "gpt-4o-mini", "stream": True}
REASONS = ("model gpt-4o-mini may not be called with tools by agent-7",)
OUTCOME = Outcome(
    Decision(False, reasons=REASONS), Decision(False, reasons=REASONS), None, "0eaffa6fa925", 0.21
)


class _Discard:
    def write(self, line: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _fields(index: int, unique: bool) -> dict[str, Any]:
    path = f"/v1/chat/completions/{index}" if unique else "/v1/chat/completions"
    return {
        "decision_id": f"6f1c2a9e-8b7d-4e6f-a1b2-{index:012d}",
        "phase": "request_body",
        "request": RequestSummary.of("POST", path, "api.openai.com"),
        "outcome": OUTCOME,
        "status": 403,
        "upstream": "openai",
        "agent": "agent-7",
        "action": ACTION,
        "findings": {"EMAIL": 1},
        "phase_ms": 0.9,
    }


def best_us(repeat: int, count: int, run: Callable[[int], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run(count)
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def bench_audit(events: int, repeat: int) -> None:
    prepare()
    audit = AuditLog([_Discard()])

    def pipeline(unique: bool) -> Callable[[int], None]:
        def run(count: int) -> None:
            for index in range(count):
                audit.decision(**_fields(index, unique))

        return run

    def baseline(count: int) -> None:
        for index in range(count):
            fields = _fields(index, False)
            event = {**fields, "request": fields["request"].path, "outcome": None, "reasons": list(REASONS)}
            orjson.dumps(event, default=str)

    def scan_only(unique: bool) -> Callable[[int], None]:
        scan = ValueScan()

        def run(count: int) -> None:
            for index in range(count):
                path = f"/v1/chat/completions/{index}" if unique else "/v1/chat/completions"
                event = {"event": "decision", "method": "POST", "path": path, "host": "api.openai.com",
                         "agent": "agent-7", "upstream": "openai", "action": dict(ACTION),
                         "reasons": list(REASONS), "findings": {"EMAIL": 1}}  # fmt: skip
                scan(None, "info", event)

        return run

    base = best_us(repeat, events, baseline)
    rows = [
        ("baseline: build the event, render JSON", base),
        ("pipeline: decision + finding, repeating", best_us(repeat, events, pipeline(False))),
        ("pipeline: decision + finding, unique path", best_us(repeat, events, pipeline(True))),
        ("value scan alone, repeating values", best_us(repeat, events, scan_only(False))),
        ("value scan alone, a unique path per event", best_us(repeat, events, scan_only(True))),
    ]
    print(f"audit trail, {events} calls, best of {repeat}")
    for name, micros in rows:
        print(f"  {name:<45} {micros:8.1f} us/call   {micros / base:6.1f}x baseline")


STATUS = PolicyStatus(
    "0eaffa6fa925", "regorus", "envoy/authz/allow", False, "policies", 0, 0, None, None, True
)


async def bench_grpc(calls: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tokens = Path(scratch) / "tokens"
        tokens.write_text("alice tok-alice\n")
        server = grpc.aio.server()
        add_admin_services(
            server,
            auth=OperatorAuth(str(tokens)),
            audit=AuditLog([_Discard()]),
            policy_status=lambda: STATUS,
            approvals=None,
            kill_switch=None,
        )
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            policy = admin_pb2_grpc.PolicyStub(channel)
            probe = health_pb2_grpc.HealthStub(channel)
            metadata = (("authorization", "Bearer tok-alice"),)

            async def timed(call: Callable[[], Any]) -> float:
                best = float("inf")
                for _ in range(repeat):
                    started = time.perf_counter()
                    for _ in range(calls):
                        await call()
                    best = min(best, time.perf_counter() - started)
                return best / calls * 1e6

            base = await timed(lambda: probe.Check(health_pb2.HealthCheckRequest()))
            admin = await timed(
                lambda: policy.GetPolicyStatus(pb.GetPolicyStatusRequest(), metadata=metadata)
            )
        await server.stop(None)
    print(f"admin gRPC, {calls} sequential calls on one channel, best of {repeat}")
    print(f"  {'baseline: grpc.health Check':<45} {base:8.1f} us/call")
    print(
        f"  {'Policy/GetPolicyStatus with a token':<45} {admin:8.1f} us/call  {admin / base:6.2f}x baseline"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_audit(args.events, args.repeat)
    asyncio.run(bench_grpc(args.calls, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

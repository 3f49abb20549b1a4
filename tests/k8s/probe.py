"""A container's probe, run inside the pod's network namespace until it passes (or time runs out).

python -m tests.k8s.probe '{"grpc": {"port": 9001}}' 30
python -m tests.k8s.probe '{"httpGet": {"path": "/ready", "port": 9902}}' 30
python -m tests.k8s.probe '{"tcpSocket": {"port": 6379}}' 30
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import grpc
import httpx
import orjson
from grpc_health.v1 import health_pb2, health_pb2_grpc


def passes(probe: dict[str, Any]) -> bool:
    if "grpc" in probe:
        target = f"127.0.0.1:{probe['grpc']['port']}"
        request = health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", ""))
        try:
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=1)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    if "tcpSocket" in probe:
        try:
            socket.create_connection(("127.0.0.1", probe["tcpSocket"]["port"]), timeout=1).close()
        except OSError:
            return False
        return True
    action = probe["httpGet"]
    url = f"http://127.0.0.1:{action['port']}{action.get('path', '/')}"
    try:
        status = httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return False
    return 200 <= status < 400  # the kubelet's rule for HTTP probes


def main() -> int:
    probe, timeout = orjson.loads(sys.argv[1]), float(sys.argv[2])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if passes(probe):
            return 0
        time.sleep(0.1)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Run inside a pod's network namespace: what of Envoy's admin and Chaperone's gRPC service this
process reaches. Prints one JSON document.

Every TCP port listening in the namespace (/proc/net/tcp, tcp6) is tried as Envoy's admin
would answer (GET /server_info, POST /healthcheck/fail, POST /quitquitquit: a 200 from any of
them is the admin) and as Chaperone's gRPC service (a health check, an ext_authz Check: any
answer is the service). Every unix socket listening in the namespace (/proc/net/unix, which
lists the namespace's sockets, abstract ones included) is opened, and tried the same way when
it opens.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
UNIX_LISTENING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags
ADMIN_CALLS = (("GET", "/server_info"), ("POST", "/healthcheck/fail"), ("POST", "/quitquitquit"))
# --harmless: only what reads (for a control run in a container that may reach the admin).
HARMLESS_CALLS = ADMIN_CALLS[:1]
TIMEOUT = 2.0


def tcp_ports() -> list[int]:
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def unix_sockets() -> list[str]:
    """Listening unix sockets: a path, or @name for an abstract one (reachable from the whole
    network namespace, whatever is mounted)."""
    names = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and int(fields[3], 16) & UNIX_LISTENING:
            names.append(fields[7])
    return sorted(set(names))


def admin_answers(
    transport: httpx.HTTPTransport, base: str, calls: tuple[tuple[str, str], ...]
) -> list[int | str]:
    answers: list[int | str] = []
    with httpx.Client(transport=transport, base_url=base, timeout=TIMEOUT) as http:
        for method, path in calls:
            try:
                response = http.request(method, path)
                answers.append("admin" if _from_admin(path, response) else response.status_code)
            except httpx.HTTPError as error:
                answers.append(type(error).__name__)
    return answers


def _from_admin(path: str, response: httpx.Response) -> bool:
    """The admin's own answers: its server_info document, or "OK" to a command."""
    if response.status_code != 200:
        return False
    return (
        "command_line_options" in response.text if path == "/server_info" else response.text.strip() == "OK"
    )


def grpc_answers(target: str) -> dict[str, str]:
    answers = {}
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=TIMEOUT
            )
            answers["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as error:
            answers["health"] = error.code().name
        try:
            external_auth_pb2_grpc.AuthorizationStub(channel).Check(
                external_auth_pb2.CheckRequest(), timeout=TIMEOUT
            )
            answers["ext_authz"] = "answered"
        except grpc.RpcError as error:
            answers["ext_authz"] = error.code().name
    return answers


def opens(name: str) -> bool:
    address = "\0" + name[1:] if name.startswith("@") else name
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(address)
        except OSError:
            return False
    return True


def main(calls: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    tcp = {
        str(port): {
            "admin": admin_answers(httpx.HTTPTransport(), f"http://127.0.0.1:{port}", calls),
            "grpc": grpc_answers(f"127.0.0.1:{port}"),
        }
        for port in tcp_ports()
    }
    unix: dict[str, Any] = {}
    for name in unix_sockets():
        if not opens(name):
            unix[name] = "unreachable"
        elif name.startswith("@"):
            unix[name] = "abstract"
        else:
            unix[name] = {
                "admin": admin_answers(httpx.HTTPTransport(uds=name), "http://localhost", calls),
                "grpc": grpc_answers(f"unix:{name}"),
            }
    return {"tcp": tcp, "unix": unix}


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main(HARMLESS_CALLS if "--harmless" in sys.argv else ADMIN_CALLS)).decode())

"""The kill switch through the operator APIs (HTTP, gRPC) and `chaperone kill`: one replica
serves, another obeys; every action is audited under the operator the token names."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.rpc.auth import OperatorAuth
from ext_proc.admin.rpc.servicers import add_admin_services
from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.admin.rpc.v1 import admin_pb2_grpc
from ext_proc.admin.server import AdminServer
from ext_proc.audit import AuditLog
from ext_proc.audit.sinks import StreamSink
from ext_proc.limits.killswitch import KillSwitch
from ext_proc.limits.settings import KillSwitchConfig
from ext_proc.policy.status import PolicyStatus
from tests.harness import free_port
from tests.unit.audit.helpers import events
from tests.unit.limits.conftest import State, eventually

ALICE, BOB = "tok-alice-123", "tok-bob-456"
NOTIFIED = KillSwitchConfig(refresh_interval_seconds=30, stale_after_seconds=60)
STATUS = PolicyStatus(
    revision="r1", engine="regorus", decision="envoy/authz/allow", dry_run=False, directory="policies",
    reloads=0, reload_errors=0, last_error=None, last_change=None, loaded=True,
)  # fmt: skip


@dataclass
class Replicas:
    url: str
    token_file: Path
    serving: KillSwitch  # the replica whose operator API is called
    other: KillSwitch  # another replica on the same state
    log: io.BytesIO

    def client(self, token: str = ALICE) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"authorization": f"Bearer {token}"})

    def operator_actions(self) -> list[dict[str, Any]]:
        return [e for e in events(self.log.getvalue()) if e["event"] == "operator_action"]


@pytest.fixture
async def replicas(state: State, tmp_path: Path) -> AsyncIterator[Replicas]:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"alice {ALICE}\nbob {BOB}\n")
    serving = state.limits(kill_switch=NOTIFIED, new_backend=True)
    other = state.limits(kill_switch=NOTIFIED, new_backend=True).kill_switch
    await serving.kill_switch.start()
    await other.start()
    log = io.BytesIO()
    extension = serving.admin_extension(AuditLog([StreamSink(log)]))
    server = AdminServer(
        build_admin_app(lambda: True, str(token_file), [extension]), f"127.0.0.1:{free_port()}"
    )
    await server.start()
    yield Replicas(f"http://127.0.0.1:{server.port}", token_file, serving.kill_switch, other, log)
    await server.stop()
    await serving.kill_switch.stop()
    await other.stop()


async def test_engaged_through_the_api_it_stops_the_other_replica(replicas: Replicas) -> None:
    async with replicas.client() as client:
        response = await client.post(
            "/api/kill-switch", json={"scope": "agent", "target": "support-bot", "reason": "refund loop"}
        )
        assert response.status_code == 201, response.text
        kill = response.json()["kill"]
        assert (kill["scope"], kill["target"], kill["actor"]) == ("agent", "support-bot", "alice")
        await eventually(lambda: replicas.other.blocked("support-bot") is not None)

        listed = (await client.get("/api/kill-switch")).json()["kills"]
        assert [(k["scope"], k["target"], k["reason"]) for k in listed] == [
            ("agent", "support-bot", "refund loop")
        ]

    async with replicas.client(BOB) as client:
        response = await client.request(
            "DELETE",
            "/api/kill-switch",
            params={"scope": "agent", "target": "support-bot"},
            json={"reason": "fixed"},
        )
        assert response.status_code == 200 and response.json()["released"]["target"] == "support-bot"
        await eventually(lambda: replicas.other.blocked("support-bot") is None)
        assert (await client.get("/api/kill-switch")).json() == {"kills": []}

    actions = [
        (a["operator"], a["api"], a["operation"], a["scope"], a["target"])
        for a in replicas.operator_actions()
    ]
    assert actions == [
        ("alice", "http", "kill_switch.engage", "agent", "support-bot"),
        ("bob", "http", "kill_switch.release", "agent", "support-bot"),
    ]


async def test_the_console_requests(replicas: Replicas) -> None:
    """What the console (ext_proc/admin/web/console.js) sends and reads."""
    async with replicas.client() as client:
        response = await client.post("/api/kill-switch", json={"scope": "all", "reason": "r"})
        assert response.status_code == 201 and response.json()["kill"]["target"] is None
        await eventually(lambda: replicas.other.blocked(None) is not None)
        (kill,) = (await client.get("/api/kill-switch")).json()["kills"]
        assert (kill["scope"], kill["target"], kill["actor"]) == ("all", None, "alice")
        assert kill["engaged_at"].endswith("Z")
        assert (await client.delete("/api/kill-switch", params={"scope": "all"})).status_code == 200
        response = await client.post(
            "/api/kill-switch", json={"scope": "tool", "target": "files/delete", "reason": "r"}
        )
        assert response.status_code == 201
        await eventually(lambda: replicas.other.blocked("bot", "files/delete") is not None)
        params = {"scope": "tool", "target": "files/delete"}
        assert (await client.delete("/api/kill-switch", params=params)).status_code == 200
        await eventually(lambda: replicas.other.blocked("bot", "files/delete") is None)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b"",
        orjson.dumps({"scope": "agent", "target": "bot"}),
        orjson.dumps({"scope": "galaxy", "target": "x", "reason": "r"}),
        orjson.dumps({"scope": "agent", "target": 7, "reason": "r"}),
        orjson.dumps({"scope": "agent", "target": "bot", "reason": "r", "actor": "someone-else"}),
    ],
)
async def test_bad_requests_are_refused(replicas: Replicas, body: bytes) -> None:
    async with replicas.client() as client:
        response = await client.post("/api/kill-switch", content=body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "operator_request_invalid")
    assert replicas.serving.blocked("bot") is None
    assert replicas.operator_actions() == []


async def test_the_api_needs_a_token_and_says_what_is_missing(replicas: Replicas) -> None:
    async with replicas.client(token="wrong") as client:
        assert (await client.get("/api/kill-switch")).status_code == 401
        assert (
            await client.post("/api/kill-switch", json={"scope": "all", "reason": "r"})
        ).status_code == 401
    assert replicas.serving.blocked("bot") is None
    async with replicas.client() as client:
        response = await client.delete("/api/kill-switch", params={"scope": "agent", "target": "nobody"})
        assert (response.status_code, response.json()["error"]["code"]) == (404, "kill_not_found")


async def test_the_grpc_api_drives_the_same_kill_switch(
    replicas: Replicas, state: State, grpc_channel_for: Callable[..., Any]
) -> None:
    log = io.BytesIO()
    serving = state.limits(kill_switch=NOTIFIED)

    def register(_servicer: Any, server: Any) -> None:
        add_admin_services(
            server,
            auth=OperatorAuth(str(replicas.token_file)),
            audit=AuditLog([StreamSink(log)]),
            policy_status=lambda: STATUS,
            approvals=None,
            kill_switch=serving.rpc_backend(),
        )

    stub = admin_pb2_grpc.KillSwitchStub(await grpc_channel_for(register, None))
    alice = (("authorization", f"Bearer {ALICE}"),)
    kill = await stub.Engage(
        pb.EngageRequest(scope=pb.SCOPE_UPSTREAM, target="anthropic", reason="outage"), metadata=alice
    )
    assert (kill.scope, kill.target, kill.actor) == (pb.SCOPE_UPSTREAM, "anthropic", "alice")
    await eventually(lambda: replicas.other.blocked("bot", "search", "anthropic") is not None)
    await stub.Engage(pb.EngageRequest(scope=pb.SCOPE_ALL, reason="stop"), metadata=alice)
    listed = await stub.ListKills(pb.ListKillsRequest(), metadata=alice)
    assert {(k.scope, k.target) for k in listed.kills} == {
        (pb.SCOPE_UPSTREAM, "anthropic"),
        (pb.SCOPE_ALL, ""),
    }
    assert (await stub.Release(pb.ReleaseRequest(scope=pb.SCOPE_ALL), metadata=alice)).released
    released = await stub.Release(
        pb.ReleaseRequest(scope=pb.SCOPE_UPSTREAM, target="anthropic"), metadata=alice
    )
    assert released.released
    assert not (
        await stub.Release(pb.ReleaseRequest(scope=pb.SCOPE_UPSTREAM, target="anthropic"), metadata=alice)
    ).released
    await eventually(lambda: replicas.other.blocked("bot", "search", "anthropic") is None)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Engage(
            pb.EngageRequest(scope=pb.SCOPE_AGENT, target="x" * 300, reason="r"), metadata=alice
        )
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def chaperone(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ext_proc", "kill", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("state", ["redis"], indirect=True)
async def test_the_command_line(replicas: Replicas) -> None:
    common = ["--admin", replicas.url, "--token-file", str(replicas.token_file), "--operator", "bob"]
    code, out, err = await chaperone(
        "engage", *common, "--scope", "upstream", "--target", "anthropic", "--reason", "provider incident"
    )
    assert code == 0, err
    assert out == "engaged: upstream anthropic (by bob: provider incident)\n"
    code, out, err = await chaperone("engage", *common, "--scope", "all", "--reason", "drill")
    assert (code, out) == (0, "engaged: all (everything) (by bob: drill)\n"), err
    await eventually(lambda: replicas.other.blocked("bot", "search", "anthropic") is not None)

    code, out, err = await chaperone("list", *common)
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["SCOPE", "TARGET", "SINCE", "BY", "REASON"]
    by_scope = {row.split()[0]: row for row in rows}
    assert by_scope.keys() == {"upstream", "all"}
    assert by_scope["upstream"].split()[1] == "anthropic"
    assert by_scope["upstream"].endswith("bob  provider incident")
    assert by_scope["all"].split()[1] == "-"
    code, out, _ = await chaperone("list", *common, "--json")
    assert sorted(k["target"] or "" for k in orjson.loads(out)) == ["", "anthropic"]
    code, out, err = await chaperone("release", *common, "--scope", "all")
    assert code == 0, err

    code, out, err = await chaperone("release", *common, "--scope", "upstream", "--target", "anthropic")
    assert code == 0, err
    await eventually(lambda: replicas.other.blocked("bot", "search", "anthropic") is None)

    code, _, err = await chaperone("release", *common, "--scope", "upstream", "--target", "anthropic")
    assert code == 1 and "kill_not_found" in err and "(HTTP 404)" in err
    code, _, err = await chaperone("list", "--admin", replicas.url, "--token-file", str(replicas.token_file))
    assert code == 1 and "choose one with --operator" in err
    assert ALICE not in err and BOB not in err
    assert [a["operator"] for a in replicas.operator_actions()] == ["bob"] * 5


async def test_the_command_line_says_when_the_admin_api_is_unreachable(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(ALICE)
    code, _, err = await chaperone(
        "list", "--admin", f"http://127.0.0.1:{free_port()}", "--token-file", str(token)
    )
    assert code == 1 and "cannot reach the admin API" in err
    code, _, err = await chaperone("list", "--token-file", str(tmp_path / "missing"))
    assert code == 1 and "no token in" in err

"""The kill switch through the operator API and `chaperone kill`: one replica serves, another obeys."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.server import AdminServer
from ext_proc.limits.killswitch import KillSwitch
from ext_proc.limits.settings import KillSwitchConfig
from tests.harness import free_port
from tests.unit.limits.conftest import State, eventually

TOKEN = "operator-token-123"
NOTIFIED = KillSwitchConfig(refresh_interval_seconds=30, stale_after_seconds=60)


@dataclass
class Replicas:
    url: str
    token_file: Path
    serving: KillSwitch  # the replica whose admin API is called
    other: KillSwitch  # another replica on the same state

    def client(self, token: str = TOKEN) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"authorization": f"Bearer {token}"})


@pytest.fixture
async def replicas(state: State, tmp_path: Path) -> AsyncIterator[Replicas]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    serving = state.limits(kill_switch=NOTIFIED, new_backend=True)
    other = state.limits(kill_switch=NOTIFIED, new_backend=True).kill_switch
    await serving.kill_switch.start()
    await other.start()
    app = build_admin_app(lambda: True, str(token_file), [serving.admin_extension()])
    server = AdminServer(app, f"127.0.0.1:{free_port()}")
    await server.start()
    yield Replicas(f"http://127.0.0.1:{server.port}", token_file, serving.kill_switch, other)
    await server.stop()
    await serving.kill_switch.stop()
    await other.stop()


async def test_engaged_through_the_api_it_stops_the_other_replica(replicas: Replicas) -> None:
    async with replicas.client() as client:
        response = await client.post(
            "/api/kill-switch",
            json={"scope": "agent", "target": "support-bot", "reason": "refund loop", "actor": "alice"},
        )
        assert response.status_code == 201, response.text
        kill = response.json()["kill"]
        assert (kill["scope"], kill["target"], kill["actor"]) == ("agent", "support-bot", "alice")
        await eventually(lambda: replicas.other.blocked("support-bot") is not None)

        listed = (await client.get("/api/kill-switch")).json()["kills"]
        assert [(k["scope"], k["target"], k["reason"]) for k in listed] == [
            ("agent", "support-bot", "refund loop")
        ]

        response = await client.request(
            "DELETE", "/api/kill-switch/agent/support-bot", json={"reason": "fixed"}
        )
        assert response.status_code == 200 and response.json()["released"]["target"] == "support-bot"
        await eventually(lambda: replicas.other.blocked("support-bot") is None)
        assert (await client.get("/api/kill-switch")).json() == {"kills": []}


async def test_stop_everything_and_targets_with_slashes(replicas: Replicas) -> None:
    async with replicas.client() as client:
        assert (
            await client.post("/api/kill-switch", json={"scope": "all", "reason": "r"})
        ).status_code == 201
        await eventually(lambda: replicas.other.blocked(None) is not None)
        assert (await client.delete("/api/kill-switch/all")).status_code == 200
        response = await client.post(
            "/api/kill-switch", json={"scope": "tool", "target": "files/delete", "reason": "r"}
        )
        assert response.json()["kill"]["actor"] == "operator"
        await eventually(lambda: replicas.other.blocked("bot", "files/delete") is not None)
        assert (await client.delete("/api/kill-switch/tool/files%2Fdelete")).status_code == 200
        await eventually(lambda: replicas.other.blocked("bot", "files/delete") is None)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_request"),
        (b"[1]", 400, "invalid_request"),
        (b"", 400, "invalid_request"),
        (orjson.dumps({"scope": "agent", "target": "bot"}), 400, "invalid_request"),
        (orjson.dumps({"scope": "galaxy", "target": "x", "reason": "r"}), 400, "invalid_request"),
        (orjson.dumps({"scope": "agent", "target": 7, "reason": "r"}), 400, "invalid_request"),
    ],
)
async def test_bad_requests_are_refused(replicas: Replicas, body: bytes, status: int, code: str) -> None:
    async with replicas.client() as client:
        response = await client.post("/api/kill-switch", content=body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert replicas.serving.blocked("bot") is None


async def test_the_api_needs_the_token_and_names_what_is_missing(replicas: Replicas) -> None:
    async with replicas.client(token="wrong") as client:
        assert (await client.get("/api/kill-switch")).status_code == 401
        assert (
            await client.post("/api/kill-switch", json={"scope": "all", "reason": "r"})
        ).status_code == 401
    assert replicas.serving.blocked("bot") is None
    async with replicas.client() as client:
        response = await client.delete("/api/kill-switch/agent/nobody")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


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
    common = ["--admin", replicas.url, "--token-file", str(replicas.token_file)]
    code, out, err = await chaperone(
        "engage", *common, "--scope", "upstream", "--target", "anthropic", "--reason", "provider incident",
        "--actor", "bob",
    )  # fmt: skip
    assert code == 0, err
    assert orjson.loads(out)["target"] == "anthropic"
    await eventually(lambda: replicas.other.blocked("bot", "search", "anthropic") is not None)

    code, out, err = await chaperone("list", *common)
    assert code == 0, err
    assert out.split("\t")[:2] == ["upstream", "anthropic"] and "provider incident" in out
    code, out, _ = await chaperone("list", *common, "--json")
    assert [k["target"] for k in orjson.loads(out)] == ["anthropic"]

    code, out, err = await chaperone("release", *common, "--scope", "upstream", "--target", "anthropic")
    assert code == 0, err
    await eventually(lambda: replicas.other.blocked("bot", "search", "anthropic") is None)

    code, _, err = await chaperone("release", *common, "--scope", "upstream", "--target", "anthropic")
    assert code == 1 and "404 not_found" in err
    code, _, err = await chaperone("list", "--admin", replicas.url, "--token-file", "/nonexistent/token")
    assert code == 1 and "cannot read the token file" in err
    assert TOKEN not in err


async def test_the_command_line_says_when_the_admin_api_is_unreachable(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    code, _, err = await chaperone("list", "--admin", "http://127.0.0.1:9", "--token-file", str(token))
    assert code == 1 and "cannot reach the admin API" in err

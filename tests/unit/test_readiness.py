"""Readiness: serving, a policy loaded, and every check the integrator registers (state backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ext_proc.config import PolicyConfig, load_config
from ext_proc.policy.status import PolicyStatusSource
from ext_proc.server import Service
from tests.harness import free_port

ROOT = Path(__file__).parents[2]


def config(tmp_path: Path) -> Any:
    return load_config(
        None,
        {
            "CHAPERONE_SERVER__ADDRESS": f"127.0.0.1:{free_port()}",
            "CHAPERONE_ADMIN__ADDRESS": f"127.0.0.1:{free_port()}",
            "CHAPERONE_POLICY__DIRECTORY": str(ROOT / "policies"),
            "CHAPERONE_AUDIT__STDOUT": "false",
            "CHAPERONE_AUDIT__FILE__PATH": str(tmp_path / "audit.log"),
        },
    )


async def test_readiness_follows_serving_and_registered_checks(tmp_path: Path) -> None:
    service = Service(config(tmp_path))
    assert not service.ready(), "not before it serves"
    await service.start()
    assert service.admin is not None
    readyz = f"http://127.0.0.1:{service.admin.port}/readyz"
    try:
        async with httpx.AsyncClient() as client:
            assert service.ready() and (await client.get(readyz)).status_code == 200
            state_ok = [True]
            service.readiness_checks.append(lambda: state_ok[0])
            assert service.ready()
            state_ok[0] = False
            assert not service.ready() and (await client.get(readyz)).status_code == 503
            state_ok[0] = True

            def broken() -> bool:
                raise RuntimeError("the check itself failed")

            service.readiness_checks.append(broken)
            assert (await client.get(readyz)).status_code == 503
    finally:
        await service.stop(grace=0)
    assert not service.ready()
    assert (tmp_path / "audit.log").read_bytes().startswith(b'{"audit":1,"event":"chain_start"')


class _Unloaded:
    revision = ""


def test_a_policy_that_never_loaded_is_not_ready() -> None:
    status = PolicyStatusSource(PolicyConfig(), _Unloaded(), None)  # type: ignore[arg-type]
    assert not status().loaded

"""sessions.record: auto records sessions while the loaded policy reads input.session."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec

from ext_proc.config import Config
from ext_proc.enforcement.sessions import reads_sessions
from ext_proc.policy.bundle import PolicyBundle, load_bundle
from ext_proc.server import Service

ROOT = Path(__file__).parents[2]
READS_SESSIONS = """package envoy.authz

import rego.v1

default allow := true

allow := false if input.session.read_sensitive_data
"""


def service(policies: Path, record: str = "auto") -> Service:
    raw = {"policy": {"directory": str(policies)}, "sessions": {"record": record}}
    return Service(msgspec.convert(raw, Config))


def test_auto_follows_the_loaded_policy(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    chaperone = service(policies)
    assert not chaperone.enforcement.sessions_on(), "the default policy does not read input.session"
    (policies / "sessions.rego").write_text(READS_SESSIONS.replace("envoy.authz", "envoy.sessions"))
    chaperone.policy.engine.swap(load_bundle(policies))  # what a reload does
    assert chaperone.enforcement.sessions_on()


def test_always_and_never_ignore_the_policy(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    assert service(tmp_path / "policies", "always").enforcement.sessions_on()
    (tmp_path / "policies" / "sessions.rego").write_text(
        READS_SESSIONS.replace("envoy.authz", "envoy.sessions")
    )
    assert not service(tmp_path / "policies", "never").enforcement.sessions_on()


def test_what_counts_as_reading_input_session() -> None:
    def reads(source: str, path: str = "p.rego") -> bool:
        module = f"package p\n\nimport rego.v1\n\n{source}\n"
        bundle = PolicyBundle("d", "r", ((path, module),), {}, b"{}")
        return reads_sessions(bundle)

    assert reads("x if input.session.new_tool")
    assert reads('x if input["session"].count > 3')
    assert reads('x if object.get(input, "session", {}).count > 3')
    assert reads("x if walk(input, [p, v])")
    assert reads("x if f(input)\n\nf(i) if i.session.count > 1")
    assert not reads("x if input.loop.session_calls > 3  # a session that calls too much")
    assert not reads("test_x if input.session with input as {}", path="p_test.rego")

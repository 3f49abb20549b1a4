"""The `chaperone` command line: `policy test` reports like `opa test`; `policy eval` is offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from tests.harness import POLICY_FIXTURES, ROOT


def chaperone(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ext_proc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        input=stdin.decode() if stdin else None,
    )


def test_shipped_policies_pass_their_tests() -> None:
    result = chaperone("policy", "test", "policies")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS: ")


def test_failures_and_errors_are_reported_like_opa_test() -> None:
    result = chaperone("policy", "test", str(POLICY_FIXTURES / "with_failing_tests"))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "FAILURES"
    assert any(line.startswith("data.envoy.authz_test.test_guest_allowed_fails: FAIL (") for line in lines)
    assert any(line.startswith("data.envoy.authz_test.test_errors: ERROR (") for line in lines)
    assert "SUMMARY" in lines
    assert "policy_test.rego:" in lines
    assert any(line.startswith("data.envoy.authz_test.test_admin_allowed: PASS (") for line in lines)
    assert "data.envoy.authz_test.todo_test_later: SKIPPED" in lines
    assert lines[-4:] == ["PASS: 1/4", "FAIL: 1/4", "SKIPPED: 1/4", "ERROR: 1/4"]


def test_run_filter_selects_tests() -> None:
    result = chaperone("policy", "test", str(POLICY_FIXTURES / "with_failing_tests"), "--run", "admin", "-v")
    assert result.returncode == 0
    assert "data.envoy.authz_test.test_admin_allowed: PASS" in result.stdout
    assert result.stdout.strip().endswith("PASS: 1/1")


def test_policy_test_on_a_broken_directory_is_a_load_error() -> None:
    result = chaperone("policy", "test", str(POLICY_FIXTURES / "broken"))
    assert result.returncode == 1
    assert "undefined_name" in result.stderr


def test_policy_eval_prints_the_decision(tmp_path: Path) -> None:
    document = {
        "phase": "check",
        "attributes": {"request": {"http": {"method": "GET", "path": "/health"}}},
        "parsed_path": ["health"],
    }
    result = chaperone("policy", "eval", "--input", "-", stdin=orjson.dumps(document))
    assert result.returncode == 0, result.stderr
    output = orjson.loads(result.stdout)
    assert output["allowed"] is True
    assert output["result"]["headers"] == {"x-chaperone-policy": "default"}
    assert output["decision_path"] == "envoy/authz/allow"


def test_policy_eval_shows_engine_errors_offline(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package envoy.authz\nimport rego.v1\nallow := 1 / input.zero\n")
    (tmp_path / "in.json").write_text('{"zero": 0}')
    result = chaperone("policy", "eval", "--dir", str(tmp_path), "--input", str(tmp_path / "in.json"))
    assert result.returncode == 1
    error = orjson.loads(result.stdout)["error"]
    assert error["code"] == "policy_eval_error"
    assert "divide by zero" in error["detail"].lower() or "division" in error["detail"].lower()


def test_the_readmes_policy_eval_runs_as_written(tmp_path: Path) -> None:
    """README, "Writing policies": the lines that write input.json and evaluate it, run in a
    fresh directory with the shipped policies."""
    readme = (ROOT / "README.md").read_text()
    write_input = next(line for line in readme.splitlines() if line.endswith("> input.json"))
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    script = f"{write_input}\n{sys.executable} -m ext_proc policy eval --input input.json\n"
    result = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["allowed"] is True


def test_policy_eval_of_a_missing_file_is_one_line() -> None:
    result = chaperone("policy", "eval", "--input", "no-such-input.json")
    assert result.returncode == 1
    assert result.stderr == "chaperone: cannot read no-such-input.json: No such file or directory\n"

"""`chaperone keys new` and `chaperone keys hash`: the lines they print work in a key file."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ext_proc.identity.identifier import Identifier
from tests.harness import ROOT


def chaperone(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ext_proc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        input=stdin,
    )


async def test_a_new_key_works_with_the_line_printed_for_the_key_file(
    tmp_path: Path, make_identifier: Callable[..., Identifier]
) -> None:
    result = chaperone("keys", "new", "support-bot")
    assert result.returncode == 0, result.stderr
    key, line = result.stdout.splitlines()
    assert line.startswith("support-bot: sha256:")
    assert "shown only now" in result.stderr
    (tmp_path / "keys.yaml").write_text(line + "\n")
    identifier = make_identifier({"api_keys": {"file": str(tmp_path / "keys.yaml")}})
    assert (await identifier.identify({"authorization": f"Bearer {key}"})).agent_id == "support-bot"
    hashed = chaperone("keys", "hash", stdin=key + "\n")
    assert hashed.returncode == 0 and hashed.stdout.strip() == line.removeprefix("support-bot: ")


async def test_peppered_keys(tmp_path: Path, make_identifier: Callable[..., Identifier]) -> None:
    pepper = tmp_path / "pepper"
    pepper.write_text("p" * 40)
    result = chaperone("keys", "new", "billing", "--pepper-file", str(pepper))
    key, line = result.stdout.splitlines()
    assert line.startswith("billing: hmac-sha256:")
    (tmp_path / "keys.yaml").write_text(line + "\n")
    section = {"api_keys": {"file": str(tmp_path / "keys.yaml"), "pepper_file": str(pepper)}}
    assert (await make_identifier(section).identify({"x-api-key": key})).agent_id == "billing"
    assert (
        chaperone("keys", "hash", "--pepper-file", str(pepper), stdin=key).stdout.strip()
        == line.split(" ")[1]
    )


def test_errors() -> None:
    assert chaperone("keys", "hash", stdin="").returncode == 1
    assert chaperone("keys", "new", "has space").returncode == 1
    short = chaperone("keys", "new", "bot", "--pepper-file", "/nonexistent/pepper")
    assert short.returncode == 1 and "cannot read" in short.stderr and short.stdout == ""

"""Every Envoy config we ship passes `envoy --mode validate`, and keeps its fail-closed settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ext_proc.demo.envoy_config import http_filters
from tests.harness import ROOT, envoy_binary

CONFIGS = [*sorted((ROOT / "envoy").glob("*.yaml")), ROOT / "tests" / "bench" / "origin.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_validates(path: Path) -> None:
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_shipped_config_is_fail_closed() -> None:
    config = yaml.safe_load((ROOT / "envoy" / "chaperone.yaml").read_text())
    filters = {f["name"]: f["typed_config"] for f in http_filters(config)}
    assert filters["envoy.filters.http.ext_authz"]["failure_mode_allow"] is False
    assert filters["envoy.filters.http.ext_proc"]["failure_mode_allow"] is False
    assert filters["envoy.filters.http.ext_proc"]["allow_mode_override"] is True
    assert list(filters)[-1] == "envoy.filters.http.router"

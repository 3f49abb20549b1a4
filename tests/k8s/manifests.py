"""Rendered Kubernetes manifests, and a pod's containers laid out on this machine as the kubelet would.

`render()` runs `kubectl kustomize` on an overlay. `PodLayout` materializes a pod's ConfigMap and
Secret volumes into a directory the way the kubelet does (each volume a directory whose visible
file names are symlinks into ``..data``, itself a symlink to a timestamped generation, swapped
atomically on update), and maps the container paths of a container's mounts to those
directories, so the container's own command, arguments and environment can run here.
"""

from __future__ import annotations

import atexit
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "k8s" / "overlays"
BIN = Path(sys.executable).parent


def kubectl() -> str:
    return str(BIN / "kubectl") if (BIN / "kubectl").exists() else shutil.which("kubectl") or "kubectl"


def overlays() -> list[Path]:
    return sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists())


def render(overlay: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# The kubelet's expansion of env values, command and args: $(NAME) of a variable defined before,
# $$ for a literal $; a reference to an undefined variable stays as it is.
REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, environment: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return environment.get(match.group(1), match.group(0))

    return REFERENCE.sub(replace, text)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]


def pod_spec(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    (item,) = find(objects, "Deployment", deployment)
    spec: dict[str, Any] = item["spec"]["template"]["spec"]
    return spec


def pod_template(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    (item,) = find(objects, "Deployment", deployment)
    template: dict[str, Any] = item["spec"]["template"]
    return template


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in all_containers(spec) if c["name"] == name]
    return found


def secret_data(
    name: str, objects: list[dict[str, Any]], secrets: Mapping[str, Mapping[str, str]]
) -> dict[str, bytes]:
    """A Secret's keys: from the manifests, or given (one the user creates beside them)."""
    found = find(objects, "Secret", name)
    if found:
        encoded = {k: base64.b64decode(v) for k, v in found[0].get("data", {}).items()}
        return {**encoded, **{k: v.encode() for k, v in found[0].get("stringData", {}).items()}}
    if name in secrets:
        return {k: v.encode() for k, v in secrets[name].items()}
    raise KeyError(f"secret {name!r} is neither in the manifests nor given")


def volume_files(
    volume: dict[str, Any], objects: list[dict[str, Any]], secrets: Mapping[str, Mapping[str, str]]
) -> dict[str, bytes]:
    """The files a ConfigMap or Secret volume shows (its items, or every key), by relative path."""
    if "configMap" in volume:
        source, name = volume["configMap"], volume["configMap"]["name"]
        (config_map,) = find(objects, "ConfigMap", name)
        data = {k: v.encode() for k, v in config_map.get("data", {}).items()}
    elif "secret" in volume:
        source, name = volume["secret"], volume["secret"]["secretName"]
        data = secret_data(name, objects, secrets)
    else:
        return {}
    items = source.get("items")
    if not items:
        return data
    return {item["path"]: data[item["key"]] for item in items}


def _filled_from_objects(volume: dict[str, Any]) -> bool:
    """A ConfigMap or Secret volume; the others (emptyDir, a CSI driver's) start empty here."""
    return "configMap" in volume or "secret" in volume


def publish_volume(directory: Path, files: Mapping[str, bytes], generation: int) -> None:
    """A new generation of a Secret or ConfigMap volume's files, as the kubelet writes it: a
    timestamped directory, then ``..data`` swapped to it atomically (the visible names are
    links through ``..data``), then the old generation removed."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + str(generation)
    for relative, content in files.items():
        target = directory / stamp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    temporary = directory / "..data_tmp"
    temporary.symlink_to(stamp)
    old = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    os.replace(temporary, directory / "..data")
    for top in {Path(relative).parts[0] for relative in files}:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(Path("..data") / top)
    if old is not None:
        shutil.rmtree(directory / old)


@dataclass
class PodLayout:
    """A pod's volumes under ``root`` (emptyDir and CSI volumes under a short scratch directory:
    they hold unix sockets, whose paths are at most 107 bytes), and the container paths that
    lead there."""

    root: Path
    spec: dict[str, Any]
    objects: list[dict[str, Any]]
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Files of the container image that the test replaces (container path -> host path).
    image_files: Mapping[str, Path] = field(default_factory=dict)
    generation: int = 0
    mapped: set[Path] = field(default_factory=set)
    scratch: Path | None = None

    def materialize(self) -> PodLayout:
        self.scratch = Path(tempfile.mkdtemp(prefix="pod-"))
        atexit.register(shutil.rmtree, self.scratch, True)
        for volume in self.spec.get("volumes", []):
            directory = self.volume_dir(volume["name"])
            directory.mkdir(parents=True)
            if _filled_from_objects(volume):
                self.publish(volume["name"], volume_files(volume, self.objects, self.secrets))
        return self

    def volume_roots(self) -> list[Path]:
        """The directories that hold the pod's volumes."""
        return [self.root / "volumes", *([self.scratch] if self.scratch is not None else [])]

    def volume_dir(self, name: str) -> Path:
        empty = any(v["name"] == name and not _filled_from_objects(v) for v in self.spec.get("volumes", []))
        if empty and self.scratch is not None:
            return self.scratch / name
        return self.root / "volumes" / name

    def publish(self, volume: str, files: Mapping[str, bytes]) -> None:
        """Write a new generation of a volume's files and swap ``..data`` to it atomically."""
        self.generation += 1
        publish_volume(self.volume_dir(volume), files, self.generation)

    def current_files(self, volume: str) -> dict[str, bytes]:
        data = self.volume_dir(volume) / "..data"
        return {
            p.relative_to(data).as_posix(): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()
        }

    def mounts(self, container: dict[str, Any]) -> dict[str, Path]:
        paths = {m["mountPath"]: self.volume_dir(m["name"]) for m in container.get("volumeMounts", [])}
        return {**paths, **self.image_files}

    def map_text(self, container: dict[str, Any], text: str) -> str:
        """Container paths under a mount point become paths under the volume's directory (one pass)."""
        mounts = self.mounts(container)
        if not mounts:
            return text
        alternatives = "|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w./-])({alternatives})(?=/|$|[^\w.-])")
        return pattern.sub(lambda match: str(mounts[match.group(1)]), text)

    def command(self, container: dict[str, Any]) -> list[str]:
        """The container's command and arguments, its executables taken from this virtualenv (or
        this machine), with the kubelet's $(VAR) expansion."""
        environment = self.environment(container)
        argv = [expand(arg, environment) for arg in [*container["command"], *container.get("args", [])]]
        executable = BIN / argv[0]
        argv[0] = str(executable) if executable.exists() else shutil.which(argv[0]) or argv[0]
        return [argv[0], *(self.map_text(container, arg) for arg in argv[1:])]

    def environment(self, container: dict[str, Any]) -> dict[str, str]:
        """The container's variables as the kubelet sets them: values, Secret and ConfigMap keys,
        and $(VAR) references to the variables before them."""
        environment: dict[str, str] = {}
        for variable in container.get("env", []):
            if "valueFrom" in variable:
                value = self.reference(variable["valueFrom"])
            else:
                value = expand(variable.get("value", ""), environment)
            environment[variable["name"]] = self.map_text(container, value)
        return environment

    def reference(self, source: dict[str, Any]) -> str:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            return secret_data(ref["name"], self.objects, self.secrets)[ref["key"]].decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            (config_map,) = find(self.objects, "ConfigMap", ref["name"])
            return str(config_map["data"][ref["key"]])
        raise ValueError(f"unsupported valueFrom: {source}")

    def map_config_files(self, container: dict[str, Any]) -> None:
        """Files named in the arguments (config files) get the mapped paths too, in place, once."""
        for arg in self.command(container)[1:]:
            path = Path(arg)
            if path.is_absolute() and path.is_file() and str(path).startswith(str(self.root)):
                real = path.resolve()
                if real not in self.mapped:
                    real.write_text(self.map_text(container, real.read_text()))
                    self.mapped.add(real)

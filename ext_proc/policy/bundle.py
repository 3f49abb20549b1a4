"""A policy bundle: the Rego modules and data documents of one directory, read once and frozen.

The directory layout follows OPA's loader, so the same directory works with ``opa run`` and
``opa test``: every ``*.rego`` file is a module; every ``*.json``/``*.yaml``/``*.yml`` file is a
data document merged at the path of the directory that holds it (``teams/data.json`` becomes
``data.teams``). Entries whose names start with a dot are skipped, which also skips the
``..data`` and ``..<timestamp>`` entries a Kubernetes ConfigMap mount adds: its visible file
names are symlinks into ``..data``, and following them reads the current generation.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ext_proc import strict_json, watch
from ext_proc.errors import ChaperoneError

REGO_SUFFIX = ".rego"
DATA_SUFFIXES = (".json", ".yaml", ".yml")

# The fingerprint is what the reload watcher compares: cheap to compute (stat only) and changed by
# an edit in place, a new or removed file, and a ConfigMap symlink swap (new inode behind the name).
Fingerprint = watch.Fingerprint


class PolicyLoadError(Exception):
    """The directory cannot be loaded; the message names the file."""


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    directory: str
    revision: str
    modules: tuple[tuple[str, str], ...]
    data: dict[str, Any]
    data_json: bytes

    @property
    def module_paths(self) -> list[str]:
        return [path for path, _ in self.modules]


def policy_files(directory: Path) -> list[Path]:
    """The policy and data files under ``directory``, sorted, hidden entries skipped."""
    if not directory.is_dir():
        raise PolicyLoadError(f"policy directory {directory} does not exist or is not a directory")
    found: list[Path] = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            if name.endswith(REGO_SUFFIX) or name.endswith(DATA_SUFFIXES):
                found.append(Path(root) / name)
    return sorted(found)


def fingerprint(directory: Path) -> Fingerprint:
    # A file removed between listing and stat is left out: the next poll sees the settled state.
    return watch.fingerprint_files(policy_files(directory), directory)


def load_bundle(directory: str | Path) -> PolicyBundle:
    root = Path(directory)
    modules: list[tuple[str, str]] = []
    data: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in policy_files(root):
        relative = path.relative_to(root).as_posix()
        raw = _read(path)
        digest.update(relative.encode() + b"\0" + raw + b"\0")
        if path.name.endswith(REGO_SUFFIX):
            modules.append((relative, _decode(raw, relative)))
        else:
            document = _parse_data(raw, relative)
            prefix = [part for part in Path(relative).parent.parts if part not in ("", ".")]
            _merge_at(data, prefix, document, relative)
    if not modules:
        raise PolicyLoadError(f"policy directory {root} holds no .rego files")
    return PolicyBundle(
        directory=str(root),
        revision=digest.hexdigest()[:12],
        modules=tuple(modules),
        data=data,
        data_json=strict_json.dumps(data),  # integers beyond 64 bits as their digits
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PolicyLoadError(f"cannot read {path}: {exc.strerror}") from None


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(f"{name}: not valid UTF-8 at byte {exc.start}") from None


def _parse_data(raw: bytes, name: str) -> Any:
    if name.endswith(".json"):
        # As OPA reads a data file (Go's encoding/json with exact numbers): integers of any size
        # stay exact, the last of duplicate keys wins.
        try:
            return strict_json.loads(raw, duplicates="last", what=name)
        except ChaperoneError as exc:
            raise PolicyLoadError(f"{name}: invalid JSON: {exc.message}") from None
    try:
        return yaml.safe_load(_decode(raw, name))
    except yaml.YAMLError as exc:
        raise PolicyLoadError(f"{name}: invalid YAML: {exc}") from None


def _merge_at(data: dict[str, Any], prefix: list[str], document: Any, name: str) -> None:
    target = data
    for key in prefix:
        child = target.setdefault(key, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(f"{name}: data path {'.'.join(prefix)} conflicts with a non-object value")
        target = child
    if not isinstance(document, dict):
        if prefix and not target:
            # A non-object document replaces the (still empty) node at its directory path.
            parent = data
            for key in prefix[:-1]:
                parent = parent[key]
            parent[prefix[-1]] = document
            return
        raise PolicyLoadError(f"{name}: a data document at the bundle root must be an object")
    _deep_merge(target, document, prefix, name)


def _deep_merge(target: dict[str, Any], source: dict[str, Any], path: list[str], name: str) -> None:
    for key, value in source.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, dict):
            _deep_merge(target[key], value, [*path, key], name)
        elif key in target:
            raise PolicyLoadError(f"{name}: data key {'.'.join([*path, key])} is defined twice")
        else:
            target[key] = value

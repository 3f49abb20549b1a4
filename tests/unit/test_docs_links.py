"""The project's READMEs link only to files and headings that exist (a renamed section left the
README pointing at nothing once)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(path for path in ROOT.glob("**/README.md") if not {".venv", ".fuzz"} & set(path.parts))
_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose(path: Path) -> str:
    return _FENCED.sub("", path.read_text())


def anchors(path: Path) -> set[str]:
    return {anchor(heading) for heading in _HEADING.findall(prose(path))}


def broken_links(path: Path) -> list[str]:
    broken = []
    for link in _LINK.findall(prose(path)):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target_name, _, fragment = link.partition("#")
        target = (path.parent / target_name).resolve() if target_name else path
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{link}: no such heading")
    return broken


def test_the_readmes_are_found() -> None:
    assert ROOT / "README.md" in DOCS and ROOT / "policies" / "README.md" in DOCS


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_names_a_file_and_heading_that_exist(path: Path) -> None:
    assert broken_links(path) == []


def test_a_stale_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Sensitive data\n")
    doc = tmp_path / "README.md"
    doc.write_text("[ok](other.md#sensitive-data) [old](other.md#pii) [gone](missing.md) [self](#nowhere)\n")
    assert broken_links(doc) == [
        "other.md#pii: no such heading",
        "missing.md: no such file",
        "#nowhere: no such heading",
    ]

"""Loading a policy directory the way OPA does, including a Kubernetes ConfigMap mount."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ext_proc.policy.bundle import PolicyLoadError, fingerprint, load_bundle

REGO = "package envoy.authz\n\nimport rego.v1\n\ndefault allow := true\n"


def test_modules_and_data_are_merged_at_their_directory_path(tmp_path: Path) -> None:
    (tmp_path / "authz.rego").write_text(REGO)
    (tmp_path / "data.yaml").write_text("chaperone:\n  models: [a]\n")
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "data.json").write_text('{"payments": {"owner": "ada"}}')
    (tmp_path / "teams" / "more.yml").write_text("support: {owner: bob}\n")
    bundle = load_bundle(tmp_path)
    assert bundle.module_paths == ["authz.rego"]
    assert bundle.data == {
        "chaperone": {"models": ["a"]},
        "teams": {"payments": {"owner": "ada"}, "support": {"owner": "bob"}},
    }


def test_hidden_files_and_other_suffixes_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "authz.rego").write_text(REGO)
    (tmp_path / ".swap.rego").write_text("not rego")
    (tmp_path / "README.md").write_text("# notes")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.json").write_text("{")
    assert load_bundle(tmp_path).module_paths == ["authz.rego"]


def test_revision_follows_content(tmp_path: Path) -> None:
    (tmp_path / "authz.rego").write_text(REGO)
    first = load_bundle(tmp_path).revision
    assert load_bundle(tmp_path).revision == first
    (tmp_path / "authz.rego").write_text(REGO + "\n# changed\n")
    assert load_bundle(tmp_path).revision != first


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"data.json": "{"}, "data.json: invalid JSON"),
        ({"data.yaml": "a: [\n"}, "data.yaml: invalid YAML"),
        ({"a.json": '{"x": 1}', "b.json": '{"x": 2}'}, "data key x is defined twice"),
        ({"data.json": "[1, 2]"}, "must be an object"),
    ],
)
def test_bad_data_names_the_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    (tmp_path / "authz.rego").write_text(REGO)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(PolicyLoadError, match=message):
        load_bundle(tmp_path)


def test_a_directory_without_rego_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match=r"no \.rego files"):
        load_bundle(tmp_path)
    with pytest.raises(PolicyLoadError, match="does not exist"):
        load_bundle(tmp_path / "missing")


def test_configmap_layout_reads_the_current_generation(tmp_path: Path) -> None:
    first = tmp_path / "..2026_01_01.1"
    first.mkdir()
    (first / "authz.rego").write_text(REGO)
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "authz.rego").symlink_to("..data/authz.rego")
    before = fingerprint(tmp_path)
    bundle = load_bundle(tmp_path)
    assert bundle.module_paths == ["authz.rego"], "the ..data and ..timestamp entries are not loaded twice"

    second = tmp_path / "..2026_01_02.2"
    second.mkdir()
    (second / "authz.rego").write_text(REGO.replace("true", "false"))
    (tmp_path / "..tmp").symlink_to(second.name)
    os.replace(tmp_path / "..tmp", tmp_path / "..data")
    assert fingerprint(tmp_path) != before
    assert load_bundle(tmp_path).revision != bundle.revision


def test_json_data_is_read_as_opa_reads_it(tmp_path: Path) -> None:
    # OPA keeps integers of any size exact in data documents and takes the last duplicate key.
    (tmp_path / "p.rego").write_text("package p\n")
    (tmp_path / "data.json").write_text('{"chip": 123456789012345678901234567891, "k": 1, "k": 2}')
    bundle = load_bundle(tmp_path)
    assert bundle.data == {"chip": 123456789012345678901234567891, "k": 2}
    assert bundle.data_json == b'{"chip":123456789012345678901234567891,"k":2}'

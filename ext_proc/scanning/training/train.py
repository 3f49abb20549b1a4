"""Train, calibrate and evaluate the prompt-injection classifier (``make train-injection``).

    python -m ext_proc.scanning.training.train [--out ext_proc/scanning/data/injection_model.npz]

The regularization strength, the family weights and the scoring window are chosen on the
calibration split, the threshold and slope are set there too, and the test split is only
reported on. Needs the ``train`` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from ext_proc.scanning import classifier
from ext_proc.scanning.training import corpus, sources
from ext_proc.scanning.training.sample import Sample

OUT = Path(classifier.__file__).parent / "data" / classifier.MODEL_FILE
# Windows per document at most (long jailbreaks and manuals would otherwise outweigh the rest).
MAX_WINDOWS = 6
# The share of benign calibration texts allowed at or above the operating point.
FALSE_POSITIVE_BUDGET = 0.005
# How much the families are evened out (see ``family_weights``); chosen on the calibration split.
FAMILY_POWERS = (0.0, 0.5, 1.0)
C_GRID = (100.0, 300.0, 1000.0, 3000.0)
# Bytes per scoring window (``classifier.Model.window``); training windows stay ``classifier.WINDOW``.
SCORING_WINDOWS = (96, 160, 320)


def windows(sample: Sample) -> list[tuple[int, int, int]]:
    """(start, end, label) windows of a sample's prepared bytes to train on."""
    data_length = len(classifier.prepared(sample.text))
    starts = classifier.window_starts(data_length)
    if len(starts) > 1:
        starts = starts[:: max(1, classifier.WINDOW // 2 // classifier.STRIDE)]
    spans = [(int(s), min(data_length, int(s) + classifier.WINDOW)) for s in starts]
    sentences: list[tuple[int, int]] = []
    if data_length > classifier.MIN_SEGMENT:
        seg_starts, seg_ends = classifier.segments(classifier.prepared(sample.text))
        if len(seg_starts) > 1:
            sentences = [
                (int(a), min(int(b), int(a) + classifier.WINDOW))
                for a, b in zip(seg_starts, seg_ends, strict=True)
            ]
    if sample.span is None:
        chosen = _spread(spans)
        if sample.label == 0:  # a benign text's sentences are benign; a jailbreak's may not be
            chosen += _spread(sentences)
        return [(s, e, sample.label) for s, e in chosen]
    # A planted injection: it and the window around it are positive, the rest is benign.
    scale = data_length / max(1, len(sample.text))
    inj_start, inj_end = int(sample.span[0] * scale), int(sample.span[1] * scale)
    middle = (inj_start + inj_end) // 2
    start = max(0, min(middle - classifier.WINDOW // 2, data_length - classifier.WINDOW))
    out = [
        (start, min(data_length, start + classifier.WINDOW), 1),
        (inj_start, min(inj_end, inj_start + classifier.WINDOW), 1),
    ]
    apart = [(s, e) for s, e in spans + sentences if e <= inj_start or s >= inj_end]
    out += [(s, e, 0) for s, e in _spread(apart)]
    return out


def _spread(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if len(spans) <= MAX_WINDOWS:
        return spans
    return [spans[int(i)] for i in np.linspace(0, len(spans) - 1, MAX_WINDOWS)]


def matrix(
    samples: Sequence[Sample],
) -> tuple[sparse.csr_matrix, npt.NDArray[np.int8], list[str]]:
    """The windows' features, labels and families."""
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float64]] = []
    labels: list[int] = []
    families: list[str] = []
    for sample in samples:
        buckets = classifier.ngram_buckets(classifier.prepared(sample.text))
        for start, end, label in windows(sample):
            chosen = np.concatenate([b[start:end] for b in buckets]).astype(np.int64)
            if not len(chosen):
                continue
            unique, counts = np.unique(chosen, return_counts=True)
            rows.append(np.full(len(unique), len(labels), dtype=np.int64))
            cols.append(unique)
            vals.append(counts / counts.sum())
            labels.append(label)
            families.append(sample.family)
    shape = (len(labels), 1 << classifier.BITS)
    x = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    return x, np.array(labels, dtype=np.int8), families


def family_weights(families: list[str], power: float) -> npt.NDArray[np.float64]:
    """A weight per window that evens out the families by ``power`` (0: none; 1: each family
    weighs as much as any other): thousands of long in-the-wild jailbreaks would otherwise drown
    the short wrappers and the attacks in other languages."""
    counts = Counter(families)
    mean = len(families) / len(counts)
    return np.array([(mean / counts[f]) ** power for f in families], dtype=np.float64)


def fit(
    windows: tuple[sparse.csr_matrix, npt.NDArray[np.int8], list[str]], c: float, power: float = 0.0
) -> tuple[npt.NDArray[np.float32], float]:
    """Fit on ``matrix(samples)``."""
    x, y, families = windows
    model = LogisticRegression(
        C=c, class_weight="balanced", max_iter=3000, solver="liblinear", random_state=0
    )
    model.fit(x, y, sample_weight=family_weights(families, power))
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def document_logits(model: classifier.Model, samples: Sequence[Sample]) -> npt.NDArray[np.float64]:
    return np.array([float(np.max(model.window_logits(classifier.prepared(s.text))[0])) for s in samples])


def operating_point(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int8]) -> tuple[float, float]:
    """(threshold, slope): the threshold where at most the budget of benign texts score at or
    above, and the slope of a logistic fit of the labels on the logits."""
    benign = np.sort(logits[labels == 0])
    allowed = int(np.floor(FALSE_POSITIVE_BUDGET * len(benign)))
    threshold = float(benign[len(benign) - allowed - 1]) + 1e-6 if len(benign) else 0.0
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logits.reshape(-1, 1), labels)
    return threshold, max(0.5, float(platt.coef_[0][0]))


def recall_at(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int8], threshold: float) -> float:
    positives = logits[labels == 1]
    return float(np.mean(positives >= threshold)) if len(positives) else 0.0


def report(model: classifier.Model, samples: Sequence[Sample], title: str) -> None:
    probabilities = [model.score(s.text)[0] for s in samples]
    by_family: dict[tuple[int, str, str], list[bool]] = defaultdict(list)
    for sample, p in zip(samples, probabilities, strict=True):
        by_family[(sample.label, sample.direction, sample.family)].append(p >= 0.5)
    print(f"\n{title}: classifier alone, probability >= 0.5")
    for (label, direction, family), hits in sorted(by_family.items()):
        what = "recall" if label else "false positives"
        rate = 100 * sum(hits) / len(hits)
        print(f"  {direction:>8} {family:<30} {what:>15} {sum(hits):4d}/{len(hits):<4d} {rate:6.1f}%")
    for direction in ("direct", "indirect"):
        hits = [h for (label, d, _), v in by_family.items() if label == 1 and d == direction for h in v]
        if hits:
            print(f"  {direction} recall: {100 * sum(hits) / len(hits):.1f}% of {len(hits)}")
    benign = [h for (label, _, _), v in by_family.items() if label == 0 for h in v]
    print(f"  false positives: {100 * sum(benign) / len(benign):.2f}% of {len(benign)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    built = corpus.build()
    version = corpus.digest(built)[:16]
    split: dict[str, list[Sample]] = defaultdict(list)
    for sample, name in built:
        split[name].append(sample)
    print(f"corpus {version}: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(split.items())))
    calibration_labels = np.array([s.label for s in split["calibration"]], dtype=np.int8)
    best: tuple[float, str, classifier.Model] | None = None
    train_windows = matrix(split["train"])
    for power in FAMILY_POWERS:
        for c in C_GRID:
            weights, bias = fit(train_windows, c, power)
            for window in SCORING_WINDOWS:
                candidate = classifier.Model(weights, bias, 0.0, 1.0, version, window)
                logits = document_logits(candidate, split["calibration"])
                threshold, slope = operating_point(logits, calibration_labels)
                recall = recall_at(logits, calibration_labels, threshold)
                setting = f"C={c:g}, family weight power {power:g}, scoring window {window}"
                print(f"  {setting}: calibration recall {100 * recall:.1f}% at {threshold:.3f}", flush=True)
                if best is None or recall > best[0]:
                    chosen = classifier.Model(weights, bias, threshold, slope, version, window)
                    best = (recall, setting, chosen)
    assert best is not None
    model = best[2]
    print(f"chosen {best[1]}, threshold {model.threshold:.4f}, slope {model.slope:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(str(args.out), model)
    report(model, split["test"], "test split (never trained or tuned on)")
    print("\nsources: " + "; ".join(f"{k}: {v}" for k, v in sources.SOURCES.items()))


if __name__ == "__main__":
    main()

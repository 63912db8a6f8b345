"""Held-out set 4 keeps the corpus rule and labels every failure (tests/data/real-world/README.md).

Data checks only (tests/gpuconform/diagnose/heldout_data.py): nothing here imports or runs the
explainer, and there is deliberately no accuracy test - the set is measured once, by the lead.
"""

from __future__ import annotations

from tests.gpuconform.diagnose.heldout_data import data_tests

# Built per set so that every set runs the same checks; pytest collects them from the globals.
globals().update(data_tests("held-out-4"))

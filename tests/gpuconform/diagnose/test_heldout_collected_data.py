"""Held-out sets 7, 8, 9 and 10 keep the corpus rule and label every failure
(tests/data/real-world/README.md).

Data checks only (tests/gpuconform/diagnose/heldout_data.py), including that no thread of a set
is cited by an earlier set: nothing here imports or runs the explainer, and there is
deliberately no accuracy test - each set is measured once, by the lead. These folders also hold
the collector's and labeller's README.md, which the shared every-file check would count as a
case without an entry; `collected_set_tests` checks the case files instead.
"""

from __future__ import annotations

from tests.gpuconform.diagnose.heldout_data import collected_set_tests, data_tests

SETS = ("held-out-7", "held-out-8", "held-out-9", "held-out-10")
SHARED_EVERY_FILE = "test_every_file_in_the_folder_has_an_entry"

# Built per set so that every set runs the same checks; pytest collects them from the globals,
# each under its set's name.
for _name in SETS:
    _suffix = _name.replace("-", "_")
    _tests = {k: v for k, v in data_tests(_name).items() if k != SHARED_EVERY_FILE}
    _tests |= collected_set_tests(_name)
    globals().update({f"{k}_{_suffix}": v for k, v in _tests.items()})

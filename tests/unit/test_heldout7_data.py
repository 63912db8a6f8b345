"""Held-out set 7 keeps the corpus rule and labels every failure (tests/data/real-world/README.md).

Data checks only (tests/unit/heldout_data.py), including that no thread of this set is cited by an
earlier set: nothing here imports or runs the explainer, and there is deliberately no accuracy
test - the set is measured once, by the lead.

This folder also holds the collector's and labeller's README.md, which the shared every-file check
would count as a case without an entry; `collected_set_tests` checks the case files instead.
"""

from __future__ import annotations

from tests.unit.heldout_data import collected_set_tests, data_tests

NAME = "held-out-7"
SHARED_EVERY_FILE = "test_every_file_in_the_folder_has_an_entry"

# Built per set so that every set runs the same checks; pytest collects them from the globals.
globals().update({k: v for k, v in data_tests(NAME).items() if k != SHARED_EVERY_FILE})
globals().update(collected_set_tests(NAME))

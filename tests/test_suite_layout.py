"""The suite collects as one: test modules mirror the wings, with basenames unique across folders.

The test folders are not packages (pytest's default import mode), so two test
files of one name in different folders stop the whole suite at collection;
running one folder at a time hides it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    assert [n for n, k in names.items() if k > 1] == []

"""The examples in the package's docstrings run and give what they show (``doctest``).

Every module of the package is searched (the Qt layer included, under Xvfb;
``__main__`` runs the command and is left out), so an example added later is
checked without editing this file.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import napari_axons


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(napari_axons.__path__, "napari_axons.")
             if not m.name.endswith("__main__")]
    with_examples = []
    for name in sorted(names):
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra (napari, Qt) that is not installed
            continue
        if any(t.examples for t in doctest.DocTestFinder().find(module)):
            with_examples.append(name)
    return with_examples


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    for test in tests:
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0 and failed == 0, f"{name}: {failed} of {attempted} examples failed"

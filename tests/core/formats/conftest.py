"""Fixtures for the format bridges: exports whose masks are known objects across tile borders."""

from __future__ import annotations

import pytest

from formats_helpers import discs, make_export


@pytest.fixture
def truth():
    return discs((700, 1000), seed=4)


@pytest.fixture
def export_dir(tmp_path, truth):
    return make_export(tmp_path, truth)

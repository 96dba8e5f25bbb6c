"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def path(tmp_path):
    """Where a test's server database goes (not created)."""
    return tmp_path / "server.db"

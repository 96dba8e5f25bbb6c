"""Shared fixtures: offscreen Qt, an isolated MESSENGER_HOME, and a real server on 127.0.0.1:0."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers.servers import ServerHandle, start_server


@pytest.fixture(autouse=True)
def messenger_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own MESSENGER_HOME: settings, pins, logs and data never leak."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MESSENGER_HOME", str(home))
    return home


@pytest.fixture
def make_server(qapp, tmp_path):
    """Factory: ``make_server(**options)`` starts an in-process server on 127.0.0.1, port 0."""
    started: list[ServerHandle] = []

    def factory(**options) -> ServerHandle:
        data_dir = options.pop("data_dir", tmp_path / f"server{len(started)}")
        handle = start_server(data_dir, **options)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.close()


@pytest.fixture
def server(make_server) -> ServerHandle:
    """A running server with demo accounts alice/alice123, bob/bob123, charlie/charlie123."""
    return make_server(demo=True)

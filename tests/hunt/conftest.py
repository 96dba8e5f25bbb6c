"""Fixtures of the hunt tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import shiboken6

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def make_engine(qtbot):
    """``make_engine(**kwargs)``: a ClientEngine (reconnecting fast), closed after the test."""
    engines: list[ClientEngine] = []

    def factory(**kwargs) -> ClientEngine:
        kwargs.setdefault("backoff", Backoff(0.05, 0.3))
        engine = ClientEngine(**kwargs)
        engines.append(engine)
        return engine

    yield factory
    engines = [e for e in engines if shiboken6.isValid(e)]
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (root only; skipped elsewhere), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)

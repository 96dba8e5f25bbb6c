"""Small file systems for tests of full and read-only disks (root only)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(folder: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``, e.g. ``"16m"``) on ``folder`` (made if
    missing) while the block runs, lazily unmounted after; skips the test where it cannot be
    mounted (only root may)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"{'ro,' if read_only else ''}size={size}"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True) if os.geteuid() == 0 else None
    if done is None or done.returncode != 0:
        why = done.stderr.decode().strip() if done is not None else "needs root"
        pytest.skip(f"cannot mount a small tmpfs: {why}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)

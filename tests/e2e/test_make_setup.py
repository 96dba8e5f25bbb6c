"""The Makefile's setup path (tools/ensure-venv.sh): the virtual environment is made with a
Python that pyproject.toml accepts, and made anew when it was not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None or sys.platform == "win32",
                                reason="needs GNU make and bash")


def test_make_with_a_too_old_python_says_so_and_makes_no_venv(tmp_path):
    """Ubuntu 22.04's python3 is 3.10: `make test` made .venv with it and stopped with pip's
    "requires a different Python: 3.10.13 not in '>=3.11'"; `make test PYTHON=python3.11`
    then met the same error for ever, as .venv was there. (A requires-python above this
    Python stands in for a too-old Python.)"""
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS")}
    result = subprocess.run(["make", "--no-print-directory", "lint", f"VENV={venv}",
                             "MIN_PYTHON=99.0", f"PYTHON={sys.executable}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0
    version = ".".join(map(str, sys.version_info[:3]))
    assert f"is Python {version}; Messenger needs Python 99.0 or newer" in result.stderr, \
        result.stderr
    assert not venv.exists()


def test_a_venv_of_a_too_old_or_another_named_python_is_stale(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)

    def stale(*args: str) -> bool:
        out = subprocess.run(["bash", "tools/ensure-venv.sh", *args], cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return out.strip() == "stale"

    this = ".".join(map(str, sys.version_info[:2]))
    assert not stale("--stale", "python3", str(venv), this)
    assert stale("--stale", "python3", str(venv), "99.0")  # made with a too-old Python
    assert not stale("--explicit", "--stale", sys.executable, str(venv), this)
    assert stale("--explicit", "--stale", str(tmp_path / "no-such-python"), str(venv), this)

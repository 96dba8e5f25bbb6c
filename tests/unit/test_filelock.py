"""The lock that keeps one app per account store (and one server per database): taken by one
process at a time, as often as that process likes, and released with its last holder."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import messenger
from messenger import filelock
from messenger.client.localstore import LocalStore
from messenger.filelock import LockTaken, take_lock

OPEN_IN_ANOTHER_PROCESS = (
    "import sys\nfrom messenger.client.localstore import LocalStore, StoreInUse\n"
    "try:\n    LocalStore(sys.argv[1]).close(); print('opened')\n"
    "except StoreInUse:\n    print('in use')")


def another_app_opens(path: Path) -> bool:
    env = {**os.environ, "PYTHONPATH": str(Path(messenger.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", OPEN_IN_ANOTHER_PROCESS, str(path)],
                         capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert out in ("opened", "in use"), out
    return out == "opened"


def test_closing_a_second_open_in_this_process_keeps_the_first_ones_lock(tmp_path):
    """With lockf, closing any open of the lock file in the process dropped the lock: a
    second app could then open a store the first still used (a review; benchmarks/history.py
    opens a store twice in one process)."""
    path = tmp_path / "alice.db"
    first = LocalStore(path)
    LocalStore(path).close()
    try:
        assert not another_app_opens(path)
    finally:
        first.close()
    assert another_app_opens(path)  # (the last holder gone: free)


def test_a_per_process_lock_is_shared_in_the_process_and_refused_outside(tmp_path):
    path = tmp_path / "x.lock"
    one = take_lock(path, per_process=True)
    two = take_lock(path, per_process=True)
    with pytest.raises(LockTaken):
        take_lock(path)  # (another open file: as another process would be)
    one.close()
    one.close()  # (twice: nothing more)
    with pytest.raises(LockTaken):
        take_lock(path)
    two.close()
    take_lock(path).close()


def test_a_file_system_without_locks_leaves_the_store_usable(tmp_path, monkeypatch, caplog):
    """A home folder on NFS without its lock service: every login ended ("cannot open the
    local store") where the app worked before the lock (a review)."""
    def no_locks(path):
        raise OSError(errno.ENOLCK, "No locks available", str(path))

    monkeypatch.setattr(filelock, "_lock", no_locks)
    store = LocalStore(tmp_path / "alice.db")
    try:
        store.set_meta("k", "v")
        assert store.get_meta("k") == "v"
        assert "no lock on" in caplog.text
    finally:
        store.close()
    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(filelock, "_lock", read_only)  # (any other failure still says so)
    with pytest.raises(OSError, match="Read-only"):
        LocalStore(tmp_path / "bob.db")

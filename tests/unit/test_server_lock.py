"""One server per database (messenger.server.lock), without sockets."""

import pytest

from messenger.server.lock import DatabaseInUse, lock_database


def test_the_lock_is_exclusive_until_its_holder_closes_it(tmp_path):
    db = tmp_path / "messenger.db"
    held = lock_database(db)
    with pytest.raises(DatabaseInUse, match=str(db)):
        lock_database(db)  # another open file description: as another process would be
    held.close()
    again = lock_database(db)  # released: a stale lock file never blocks a restart
    assert (tmp_path / "messenger.db.lock").exists()
    again.close()


def test_other_failures_are_not_reported_as_in_use(tmp_path):
    missing = tmp_path / "no-such-folder" / "messenger.db"
    with pytest.raises(FileNotFoundError):
        lock_database(missing)

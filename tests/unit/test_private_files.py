"""The files that hold messages, drafts, password hashes and logs are readable by their user
only (a security review found them 0644 in 0755 folders): folders 0700, files 0600, also
files that existed before, and a database's ``-wal``/``-shm`` files."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from messenger import paths
from messenger.client.localstore import LocalStore
from messenger.logsetup import setup_logging
from messenger.server.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # (what most desktops and servers run with)
    yield
    os.umask(old)


def test_the_apps_folders_and_databases_are_private(tmp_path, monkeypatch, open_umask):
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "config").mkdir(parents=True, mode=0o755)  # (made by an old version)
    assert {mode(d) for d in (paths.data_dir(), paths.config_dir(), paths.log_dir(),
                              paths.pasted_dir())} == {0o700}
    cache = paths.data_dir() / "accounts" / "host_1" / "alice.db"
    store = LocalStore(cache)
    store.set_meta("draft", "not for the neighbours")
    assert mode(cache) == 0o600 and mode(cache.parent) == 0o700
    assert mode(f"{cache}-wal") == 0o600 and mode(f"{cache}-shm") == 0o600
    store.close()


def test_the_servers_database_and_logs_are_private(tmp_path, open_umask):
    old = tmp_path / "server" / "messenger.db"
    old.parent.mkdir()
    Store(old).close()
    os.chmod(old, 0o644)  # (written by an old version)
    store = Store(old)
    store.create_account("alice", "$argon2id$not-a-real-hash")
    assert mode(old) == 0o600 and mode(f"{old}-wal") == 0o600
    store.close()
    log_file = tmp_path / "logs" / "server.log"
    setup_logging(log_file, stderr=False)
    try:
        logging.getLogger("messenger.test").warning("alice logged in from 10.0.0.7")
        assert mode(log_file) == 0o600 and mode(log_file.parent) == 0o700
    finally:
        setup_logging(None, stderr=False)


@pytest.mark.parametrize("opener", [Store, LocalStore])
def test_wal_and_shm_files_left_by_an_earlier_run_are_narrowed_too(tmp_path, open_umask,
                                                                   opener):
    """SQLite reuses the ``-wal``/``-shm`` files an earlier run left (an older version, or
    one killed) as they are: they stayed 0644 with recent messages in them (a review)."""
    import subprocess
    import sys

    from messenger.client import localstore
    from messenger.server import store as server_store

    db = tmp_path / "messages.db"
    version = (server_store if opener is Store else localstore).SCHEMA_VERSION
    subprocess.run([sys.executable, "-c", (
        "import os, sqlite3, sys; os.umask(0o022)\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('CREATE TABLE t(x)')\n"
        f"c.execute('PRAGMA user_version={version}')\n"  # (an earlier run of ours)
        "c.execute(\"INSERT INTO t VALUES ('a private message')\")\n"
        "os._exit(0)"), str(db)], check=True)  # (killed: its -wal and -shm stay)
    assert mode(f"{db}-wal") == 0o644
    store = opener(db)
    try:
        assert {s: mode(f"{db}{s}") for s in ("", "-wal", "-shm")} == \
            {"": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        store.close()


def test_a_device_or_fifo_given_as_a_log_file_keeps_its_mode(tmp_path):
    """``--log-file /dev/null`` as root narrowed the machine's /dev/null to 0600, and every
    other user's writes to it failed (an operator hunt); a FIFO must not block the start.
    Shown on a copy of /dev/null's device node, never the real one."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    os.chmod(fifo, 0o644)
    paths.private_file(fifo)
    assert stat.S_IMODE(fifo.stat().st_mode) == 0o644
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (OSError, AttributeError):
        pytest.skip("cannot make a device node here (not root, or nodev)")
    os.chmod(node, 0o666)
    paths.private_file(node)
    assert stat.S_IMODE(node.stat().st_mode) == 0o666


@pytest.mark.parametrize("name", ["server.log", "activity.log"])
def test_rotated_copies_of_a_log_left_by_an_earlier_version_are_narrowed_too(
        tmp_path, open_umask, name):
    """(A privacy hunt.) An upgrade narrowed ``server.log`` and ``activity.log`` to 0600, but
    the rotated copies an earlier version had left beside them (``server.log.1`` … ``.5``:
    who logged in from where, refused logins, file offers) stayed 0644 in a ``--data-dir``
    that existed already (left 0755 on purpose), readable by every user of the machine
    until they rotated away, months later for the activity log."""
    from messenger.server.app import _activity_log

    folder = tmp_path / "server"
    folder.mkdir(mode=0o755)
    old = [folder / f"{name}{suffix}" for suffix in ("", ".1", ".2", ".5")]
    for path in old:
        path.write_text("2024-05-01 10:00:00 login alice from 10.0.0.7:50312\n")
        os.chmod(path, 0o644)  # (written by an old version)
    log_file = folder / name
    if name == "server.log":
        setup_logging(log_file, stderr=False)
    else:
        _activity_log(log_file)
    try:
        assert {p.name: mode(p) for p in old} == {p.name: 0o600 for p in old}
        assert not (folder / f"{name}.3").exists()  # (none made where there were none)
    finally:
        if name == "server.log":
            setup_logging(None, stderr=False)
        else:
            for handler in list(logging.getLogger("messenger.server.activity").handlers):
                logging.getLogger("messenger.server.activity").removeHandler(handler)
                handler.close()


def test_the_apps_settings_pins_and_server_homes_are_private(tmp_path, monkeypatch, open_umask):
    """messenger.ini holds every account's drafts (and its tabs, mutes, download folder),
    known_servers.json and servers.json which servers this computer trusts and where its
    accounts' messages are: on a lab computer they were 0644 (the umask's), in folders that
    are 0700 only when the app made them (an old version's 0755 ``config`` folder, a
    portable ``MESSENGER_HOME`` copied with ``cp -r``). Now they are 0600 when written, and
    one written by an older version is narrowed the next time it is."""
    from messenger.client.pins import PIN_FILE_NAME, PinStore
    from messenger.client.serverhomes import HOMES_FILE, ServerHomes
    from messenger.gui.settings import SETTINGS_FILE, app_settings, save_drafts

    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "home"))
    save_drafts("alice", "lab", 5000, {"@bob": "not for the next student"})
    ini = paths.config_dir() / SETTINGS_FILE
    assert "not for the next student" in ini.read_text(encoding="utf-8")
    assert mode(ini) == 0o600
    os.chmod(ini, 0o644)  # (written by an older version)
    s = app_settings()
    s.setValue("window/sidebar", False)
    s.sync()
    assert mode(ini) == 0o600

    pins = PinStore()
    pins.pin("lab", 5000, "AB:" * 31 + "AB")
    assert mode(paths.config_dir() / PIN_FILE_NAME) == 0o600
    homes_file = paths.data_dir() / "accounts" / HOMES_FILE
    homes = ServerHomes()
    homes.home("lab", 5000, "AB:" * 31 + "AB")
    homes.save(homes_file)
    assert mode(homes_file) == 0o600

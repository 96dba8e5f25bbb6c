"""Programs the frozen app starts (a link's browser, Open, Show in folder) get the user's
environment, not the bundle's library and plugin paths."""

from __future__ import annotations

import os
import sys

from messenger.childenv import use_users_environment, user_environment

BUNDLE = "/opt/messenger/_internal"
FROZEN_ENV = {
    # As PyInstaller's bootloader and its PySide6 run-time hook leave them:
    "LD_LIBRARY_PATH": f"{BUNDLE}{os.pathsep}/usr/local/cuda/lib64",
    "LD_LIBRARY_PATH_ORIG": "/usr/local/cuda/lib64",
    "QT_PLUGIN_PATH": f"{BUNDLE}/PySide6/Qt/plugins",
    "QML2_IMPORT_PATH": f"{BUNDLE}/PySide6/Qt/qml",
    "_PYI_APPLICATION_HOME_DIR": BUNDLE,
    "_PYI_ARCHIVE_FILE": "/opt/messenger/messenger",
    "_PYI_PARENT_PROCESS_LEVEL": "1",
    # The user's own:
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/ann",
    "MESSENGER_HOME": "/opt/messenger/home",
}


def test_a_program_started_from_the_frozen_app_gets_the_users_environment():
    """A link clicked in the frozen app started the browser (through xdg-open) with
    LD_LIBRARY_PATH, QT_PLUGIN_PATH and QML2_IMPORT_PATH pointing into the bundle: on a
    machine whose libraries differ from the build machine's it loaded the bundle's and
    failed to start ("symbol lookup error"), and the click did nothing."""
    env = user_environment(FROZEN_ENV, BUNDLE)
    assert env == {"LD_LIBRARY_PATH": "/usr/local/cuda/lib64", "PATH": "/usr/bin:/bin",
                   "HOME": "/home/ann", "MESSENGER_HOME": "/opt/messenger/home"}
    assert not [value for value in env.values() if value.startswith(BUNDLE)]


def test_library_path_unset_when_the_user_had_none():
    """No LD_LIBRARY_PATH_ORIG: the user had none, and the child gets none."""
    env = user_environment({"LD_LIBRARY_PATH": BUNDLE, "HOME": "/home/ann"}, BUNDLE)
    assert env == {"HOME": "/home/ann"}


def test_the_bundle_prepended_to_a_path_list_is_taken_out_of_it():
    """(PATH on Windows, DYLD_LIBRARY_PATH on macOS: the hooks prepend the bundle.)"""
    env = user_environment({"PATH": f"{BUNDLE}{os.pathsep}/usr/bin",
                            "DYLD_LIBRARY_PATH": f"{BUNDLE}/lib"}, BUNDLE)
    assert env == {"PATH": "/usr/bin"}


def test_the_frozen_app_hands_its_children_the_users_environment(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", BUNDLE, raising=False)
    environ = dict(FROZEN_ENV)
    changed = use_users_environment(environ)
    assert environ == user_environment(FROZEN_ENV, BUNDLE)
    assert "QT_PLUGIN_PATH" in changed and "HOME" not in changed


def test_run_from_source_nothing_changes(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    environ = dict(FROZEN_ENV)
    assert use_users_environment(environ) == []
    assert environ == FROZEN_ENV

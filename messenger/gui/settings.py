"""The app's settings file: ``paths.config_dir() / "messenger.ini"`` (QSettings, IniFormat)."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from .. import paths

SETTINGS_FILE = "messenger.ini"


def app_settings() -> QSettings:
    """The settings of the current user (honours ``MESSENGER_HOME``). Never holds a password."""
    return QSettings(str(paths.config_dir() / SETTINGS_FILE), QSettings.Format.IniFormat)

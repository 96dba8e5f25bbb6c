"""The app's settings file: ``paths.config_dir() / "messenger.ini"`` (QSettings, IniFormat)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from .. import paths
from ..client.notify import NotificationPrefs
from ..client.transfers import TransferPrefs

SETTINGS_FILE = "messenger.ini"


def app_settings() -> QSettings:
    """The settings of the current user (honours ``MESSENGER_HOME``). Never holds a password."""
    return QSettings(str(paths.config_dir() / SETTINGS_FILE), QSettings.Format.IniFormat)


def load_transfer_prefs(settings: QSettings | None = None) -> TransferPrefs:
    """The transfer settings (size limit, auto-accept contacts, download folder) from
    ``[transfers]``; defaults for what is missing or unreadable."""
    s = settings or app_settings()
    prefs = TransferPrefs()
    try:
        limit = int(s.value("transfers/size_limit", prefs.size_limit))
    except (TypeError, ValueError):
        limit = prefs.size_limit
    names = s.value("transfers/auto_accept", [])
    if isinstance(names, str):
        names = [names] if names else []
    folder = s.value("transfers/download_dir", "")
    return TransferPrefs(size_limit=limit if limit > 0 else prefs.size_limit,
                         auto_accept=frozenset(str(n) for n in names or [] if n),
                         download_dir=Path(folder) if folder else prefs.download_dir)


def save_transfer_prefs(prefs: TransferPrefs, settings: QSettings | None = None) -> None:
    s = settings or app_settings()
    s.setValue("transfers/size_limit", int(prefs.size_limit))
    s.setValue("transfers/auto_accept", sorted(prefs.auto_accept))
    s.setValue("transfers/download_dir", str(prefs.download_dir))
    s.sync()


def _flag(value: object, default: bool) -> bool:
    """A boolean from QSettings' IniFormat (which gives back "true"/"false" strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return default


def load_notification_prefs(settings: QSettings | None = None) -> NotificationPrefs:
    """The notification settings from ``[notifications]``; defaults for what is missing."""
    s = settings or app_settings()
    prefs = NotificationPrefs()
    muted = s.value("notifications/muted", [])
    if isinstance(muted, str):
        muted = [muted] if muted else []
    return NotificationPrefs(
        enabled=_flag(s.value("notifications/enabled", prefs.enabled), prefs.enabled),
        show_text=_flag(s.value("notifications/show_text", prefs.show_text), prefs.show_text),
        muted=frozenset(str(k) for k in muted or [] if k))


def save_notification_prefs(prefs: NotificationPrefs, settings: QSettings | None = None) -> None:
    s = settings or app_settings()
    s.setValue("notifications/enabled", prefs.enabled)
    s.setValue("notifications/show_text", prefs.show_text)
    s.setValue("notifications/muted", sorted(prefs.muted))
    s.sync()

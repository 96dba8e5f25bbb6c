"""The app's settings file: ``paths.config_dir() / "messenger.ini"`` (QSettings, IniFormat):
transfer and notification preferences, the main window's geometry, and per account and server
the conversation tabs that were open."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

from .. import paths
from ..client.notify import NotificationPrefs
from ..client.transfers import TransferPrefs
from ..protocol.names import name_key

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


def load_read_receipts(settings: QSettings | None = None) -> bool:
    """``[privacy] read_receipts``: whether the app sends read receipts (default yes)."""
    s = settings or app_settings()
    return _flag(s.value("privacy/read_receipts", True), True)


def save_read_receipts(on: bool, settings: QSettings | None = None) -> None:
    s = settings or app_settings()
    s.setValue("privacy/read_receipts", on)
    s.sync()


def _session_group(user: str, host: str, port: int) -> str:
    return f"session/{name_key(user)}@{host}:{port}"


def save_open_tabs(user: str, host: str, port: int, tabs: list[tuple[str, str]],
                   current: str | None, settings: QSettings | None = None) -> None:
    """Remember the conversation tabs of ``user`` on ``host:port``: ``(key, title)`` in tab
    order, and the ``current`` key, for the next login there."""
    s = settings or app_settings()
    group = _session_group(user, host, port)
    s.setValue(f"{group}/tabs", [f"{key}\t{title}" for key, title in tabs])
    s.setValue(f"{group}/current", current or "")
    s.sync()


def save_drafts(user: str, host: str, port: int, drafts: dict[str, str],
                settings: QSettings | None = None) -> None:
    """Remember the unsent texts of ``user`` on ``host:port``: conversation key → compose
    text (blank ones are dropped)."""
    s = settings or app_settings()
    name = f"{_session_group(user, host, port)}/drafts"
    kept = {key: text for key, text in drafts.items() if text.strip()}
    if kept:
        s.setValue(name, json.dumps(kept, ensure_ascii=False))
    else:
        s.remove(name)
    s.sync()


def load_drafts(user: str, host: str, port: int,
                settings: QSettings | None = None) -> dict[str, str]:
    """What :func:`save_drafts` kept (an empty dict when nothing or something unreadable)."""
    s = settings or app_settings()
    raw = s.value(f"{_session_group(user, host, port)}/drafts", "")
    try:
        data = json.loads(str(raw)) if raw else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str) and v.strip()}


def load_open_tabs(user: str, host: str, port: int, settings: QSettings | None = None
                   ) -> tuple[list[tuple[str, str]], str | None]:
    """What :func:`save_open_tabs` kept: ``([(key, title), …], current key or None)``."""
    s = settings or app_settings()
    group = _session_group(user, host, port)
    raw = s.value(f"{group}/tabs", [])
    if isinstance(raw, str):
        raw = [raw] if raw else []
    tabs = []
    for entry in raw or []:
        key, sep, title = str(entry).partition("\t")
        if sep and key and title:
            tabs.append((key, title))
    current = s.value(f"{group}/current", "")
    return tabs, (str(current) or None)

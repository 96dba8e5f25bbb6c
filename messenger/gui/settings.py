"""The app's settings file: ``paths.config_dir() / "messenger.ini"`` (QSettings, IniFormat):
transfer and notification preferences, the main window's geometry, and per account and server
the conversation tabs that were open.

Choices about people and privacy are the account's, not the computer's (on a shared lab
computer the next person to log in inherited them: a hunt): the muted conversations, whether
read receipts are sent, and whose files are accepted without asking are kept under the
account's ``session/<user>@<host>:<port>`` group. A value an older version kept for the whole
computer is taken over by the first account that reads it, and then removed.

``<host>:<port>`` is the server's home (``ClientEngine.home``: the address its certificate
was first met at on this computer), not the address typed: the same server typed by name, by
IP or at a new DHCP address keeps the account's choices (they were lost; a hunt).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

from .. import paths
from ..client.notify import NotificationPrefs
from ..client.transfers import TransferPrefs
from ..protocol.names import name_key
from .preferences import clamp_size_limit

SETTINGS_FILE = "messenger.ini"

Account = tuple[str, str, int]
"""``(user, host, port)``: whose choices (see the module docstring); None for none known."""


def app_settings() -> QSettings:
    """The settings of the current user (honours ``MESSENGER_HOME``). Never holds a password.

    The file is readable by this user only (0600, :func:`messenger.paths.private_file`;
    Qt's atomic rewrite keeps its mode): it holds every account's drafts, and was 0644 on
    a shared computer (a hunt)."""
    path = paths.config_dir() / SETTINGS_FILE
    paths.private_file(path)
    return QSettings(str(path), QSettings.Format.IniFormat)


def written(s: QSettings) -> bool:
    """Write ``s`` to its file now; False when that failed (a settings file owned by another
    user after a run with sudo, a read-only or full home): "Preferences saved." said so all
    the same, and the next start had them all back as they were."""
    s.sync()
    return s.status() == QSettings.Status.NoError


def _key(name: str, account: Account | None) -> str:
    """Where the per-account value ``name`` (e.g. ``"notifications/muted"``) is kept."""
    if account is None:
        return name
    return f"{_session_group(*account)}/{name.replace('/', '_')}"


def _account_value(s: QSettings, name: str, account: Account | None, default: object) -> object:
    """The per-account value ``name``: the account's own, else one an older version kept for
    the whole computer (moved to this account: the next account does not inherit it)."""
    key = _key(name, account)
    if s.contains(key) or account is None:
        return s.value(key, default)
    if not s.contains(name):
        return default
    value = s.value(name, default)
    s.setValue(key, value)
    s.remove(name)
    return value


def _names(value: object) -> list[str]:
    """A list of strings from QSettings (which gives back one string for a list of one)."""
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or [] if v] if isinstance(value, list) else []


def load_transfer_prefs(settings: QSettings | None = None,
                        account: Account | None = None) -> TransferPrefs:
    """The transfer settings (size limit, auto-accept contacts, download folder) from
    ``[transfers]``, the auto-accept contacts and the download folder ``account``'s (on a
    shared computer bob's files went to the USB stick alice had chosen; a hunt); defaults
    for what is missing or unreadable, and a size limit out of Preferences' range (1 MB to
    1024 GB) brought into it (the app refused every file over a hand-typed 512 bytes while
    Preferences showed 1 MB)."""
    s = settings or app_settings()
    prefs = TransferPrefs()
    try:
        limit = int(s.value("transfers/size_limit", prefs.size_limit))
    except (TypeError, ValueError):
        limit = prefs.size_limit
    names = _names(_account_value(s, "transfers/auto_accept", account, []))
    folder = _account_value(s, "transfers/download_dir", account, "")
    return TransferPrefs(size_limit=clamp_size_limit(limit) if limit > 0 else prefs.size_limit,
                         auto_accept=frozenset(names),
                         download_dir=Path(folder) if folder else prefs.download_dir)


def save_transfer_prefs(prefs: TransferPrefs, settings: QSettings | None = None,
                        account: Account | None = None) -> bool:
    """Keep the transfer settings (see :func:`load_transfer_prefs`); False when the settings
    file could not be written (:func:`written`)."""
    s = settings or app_settings()
    s.setValue("transfers/size_limit", int(prefs.size_limit))
    s.setValue(_key("transfers/auto_accept", account), sorted(prefs.auto_accept))
    s.setValue(_key("transfers/download_dir", account), str(prefs.download_dir))
    return written(s)


def _flag(value: object, default: bool) -> bool:
    """A boolean from QSettings' IniFormat (which gives back "true"/"false" strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return default


def load_notification_prefs(settings: QSettings | None = None,
                            account: Account | None = None) -> NotificationPrefs:
    """The notification settings, ``account``'s (one person's "no pop-ups" is not the next
    person's at a shared computer; a hunt); defaults for what is missing."""
    s = settings or app_settings()
    prefs = NotificationPrefs()
    muted = _names(_account_value(s, "notifications/muted", account, []))
    enabled = _account_value(s, "notifications/enabled", account, prefs.enabled)
    show_text = _account_value(s, "notifications/show_text", account, prefs.show_text)
    return NotificationPrefs(enabled=_flag(enabled, prefs.enabled),
                             show_text=_flag(show_text, prefs.show_text),
                             muted=frozenset(muted))


def save_notification_prefs(prefs: NotificationPrefs, settings: QSettings | None = None,
                            account: Account | None = None) -> bool:
    """Keep ``account``'s notification settings; False when the settings file could not be
    written (:func:`written`)."""
    s = settings or app_settings()
    s.setValue(_key("notifications/enabled", account), prefs.enabled)
    s.setValue(_key("notifications/show_text", account), prefs.show_text)
    s.setValue(_key("notifications/muted", account), sorted(prefs.muted))
    return written(s)


def load_read_receipts(settings: QSettings | None = None,
                       account: Account | None = None) -> bool:
    """Whether ``account`` sends read receipts (default yes)."""
    s = settings or app_settings()
    return _flag(_account_value(s, "privacy/read_receipts", account, True), True)


def save_read_receipts(on: bool, settings: QSettings | None = None,
                       account: Account | None = None) -> bool:
    """Keep whether ``account`` sends read receipts; False when the settings file could not
    be written (:func:`written`)."""
    s = settings or app_settings()
    s.setValue(_key("privacy/read_receipts", account), on)
    return written(s)


def load_typing_indicators(settings: QSettings | None = None,
                           account: Account | None = None) -> bool:
    """Whether ``account`` sends and shows typing indicators (default yes)."""
    s = settings or app_settings()
    return _flag(_account_value(s, "privacy/typing_indicators", account, True), True)


def save_typing_indicators(on: bool, settings: QSettings | None = None,
                           account: Account | None = None) -> bool:
    """Keep whether ``account`` sends and shows typing indicators; False when the settings
    file could not be written (:func:`written`)."""
    s = settings or app_settings()
    s.setValue(_key("privacy/typing_indicators", account), on)
    return written(s)


def _session_group(user: str, host: str, port: int) -> str:
    # (The host as typed, in lower case: "Chat.example.org" is "chat.example.org", and a
    # choice made there must not be lost to the case it was typed in: a review.)
    return f"session/{name_key(user)}@{host.lower()}:{port}"


def adopt_account_settings(user: str, old: tuple[str, int], new: tuple[str, int],
                           settings: QSettings | None = None) -> None:
    """Move what ``user`` kept under server address ``old`` (choices, tabs, drafts) to
    ``new``, the same server's home (see :mod:`messenger.client.serverhomes`): values kept
    under ``new`` already stay as they are."""
    s = settings or app_settings()
    src, dst = _session_group(user, *old), _session_group(user, *new)
    if src == dst:
        return
    s.beginGroup(src)
    keys = s.allKeys()
    s.endGroup()
    for key in keys:
        if not s.contains(f"{dst}/{key}"):
            s.setValue(f"{dst}/{key}", s.value(f"{src}/{key}"))
    s.remove(src)
    s.sync()


WINDOW_KEYS = ("window/geometry", "window/state", "window/splitter", "window/sidebar")
"""The main window's size, place and layout (the computer's, as the last window left it)."""


def forget_account_settings(user: str, host: str, port: int,
                            settings: QSettings | None = None) -> bool:
    """Remove what the settings keep of ``user`` on ``host:port`` (the server's home): the
    whole ``session/…`` group (drafts, reply and multicast drafts, open tabs, muted
    conversations, notification and read-receipt choices, auto-accepted people, download
    folder), the window's size and layout (:data:`WINDOW_KEYS`: the last window's, which
    was this account's) and the name the login dialog is pre-filled with when it is
    ``user``'s (File → Log out and remove my data). False when the file could not be written
    (:func:`written`)."""
    s = settings or app_settings()
    s.remove(_session_group(user, host, port))
    for key in WINDOW_KEYS:
        s.remove(key)
    if name_key(str(s.value("login/user", ""))) == name_key(user):
        s.remove("login/user")
    return written(s)


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
    data = _json_dict(settings or app_settings(), f"{_session_group(user, host, port)}/drafts")
    return {str(k): v for k, v in data.items() if isinstance(v, str) and v.strip()}


def _json_dict(s: QSettings, name: str) -> dict:
    """The JSON object kept under ``name`` ({} when none, or unreadable)."""
    raw = s.value(name, "")
    try:
        data = json.loads(str(raw)) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def save_reply_drafts(user: str, host: str, port: int,
                      replies: dict[str, tuple[str, str, int | None]],
                      settings: QSettings | None = None) -> None:
    """Remember which message each draft of :func:`save_drafts` answers: conversation key →
    ``(sender, quoted text, seq)``."""
    s = settings or app_settings()
    name = f"{_session_group(user, host, port)}/reply_drafts"
    if replies:
        s.setValue(name, json.dumps({k: list(v) for k, v in replies.items()},
                                    ensure_ascii=False))
    else:
        s.remove(name)
    s.sync()


def load_reply_drafts(user: str, host: str, port: int, settings: QSettings | None = None
                      ) -> dict[str, tuple[str, str, int | None]]:
    """What :func:`save_reply_drafts` kept (an empty dict when nothing or unreadable)."""
    data = _json_dict(settings or app_settings(),
                      f"{_session_group(user, host, port)}/reply_drafts")
    out: dict[str, tuple[str, str, int | None]] = {}
    for key, value in data.items():
        if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and \
                isinstance(value[1], str) and (value[2] is None or isinstance(value[2], int)):
            out[str(key)] = (value[0], value[1], value[2])
    return out


def save_multicast_draft(user: str, host: str, port: int, text: str, recipients: list[str],
                         settings: QSettings | None = None) -> None:
    """Remember the "Message several people" closed unsent by ``user`` on ``host:port``:
    its text and the people picked (nothing kept when the text is blank and nobody picked)."""
    s = settings or app_settings()
    name = f"{_session_group(user, host, port)}/multicast_draft"
    if text.strip() or recipients:
        s.setValue(name, json.dumps({"text": text, "to": list(recipients)},
                                    ensure_ascii=False))
    else:
        s.remove(name)
    s.sync()


def load_multicast_draft(user: str, host: str, port: int, settings: QSettings | None = None
                         ) -> tuple[str, list[str]]:
    """What :func:`save_multicast_draft` kept: ``(text, recipients)`` (``("", [])`` when
    nothing or unreadable)."""
    data = _json_dict(settings or app_settings(),
                      f"{_session_group(user, host, port)}/multicast_draft")
    text, to = data.get("text", ""), data.get("to", [])
    if not isinstance(text, str) or not isinstance(to, list):
        return "", []
    return text, [name for name in to if isinstance(name, str) and name]


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

"""When and what to notify about new messages (and invitations to groups) while the window
is in the background.

Plain decisions, unit-tested without widgets; the main window wires them to a ``QTimer``, the
desktop's notification service (freedesktop Desktop Notifications over D-Bus,
``messenger.gui.desktop_notifications``) or, without one, the tray icon's pop-up
(``QSystemTrayIcon.showMessage``), and the task bar (``QApplication.alert``).

Rules, as in desktop messengers:

- Only others' new messages count (the engine's ``message_received``: not own messages, not
  system notices, not messages cached in an earlier run), file offers, and invitations to a
  group (the engine's ``invitation_received``: "alice invited you to lab").
- Nothing while the window is active: the unread badges say it there.
- Messages are collected for :data:`COALESCE_SECONDS` after the first one and shown as one
  pop-up, so offline delivery at login or a busy group makes one notice, not fifty.
- Muted conversations (``NotificationPrefs.muted``) only count in the badges.
- ``show_text=False`` hides who wrote what (shared screens, classrooms): "New message".
- A message read meanwhile (on another computer of the account) or deleted by its sender
  is left out of the pop-up; an edited one shows its new text. So is a file offer answered
  or withdrawn meanwhile (its card no longer unread), and an invitation answered meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .quotes import cluster_start, split_quote

COALESCE_SECONDS = 1.0
"""How long messages are collected into one pop-up after the first one (seconds)."""

BODY_LIMIT = 120
"""Longest message text shown in a pop-up (characters; longer is cut with "…")."""


@dataclass(frozen=True)
class NotificationPrefs:
    """The user's notification settings (the ``[notifications]`` part of the settings file).

    Attributes:
        enabled: show pop-ups and flash the task bar entry at all.
        show_text: put the sender and the text in the pop-up (else only a count).
        muted: conversation keys that never notify.
    """

    enabled: bool = True
    show_text: bool = True
    muted: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Notice:
    """One pop-up: ``title`` and ``body`` (plain text), and ``key``, the conversation a click
    opens (None when several conversations are in it: the click shows the window);
    ``invitation``, the group when the pop-up is only about an invitation to it (it goes
    once that is answered, see :meth:`DesktopNotices.answered`), else "". Of the
    ``count`` things it is about, ``files`` are file offers and ``invitations``
    invitations to a group (the rest are messages: :func:`counted`)."""

    title: str
    body: str
    key: str | None
    count: int
    invitation: str = ""
    files: int = 0
    invitations: int = 0


@dataclass
class _Pending:
    key: str
    title: str
    sender: str
    text: str
    seq: int | None = None
    card: str = ""  # a file offer's card (transfer key)
    invitation: str = ""  # an invitation to this group (not a message)


def elide(text: str, limit: int = BODY_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…" (never inside a character
    drawn from several code points: :func:`~messenger.client.quotes.cluster_start`)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:cluster_start(flat, limit - 1)].rstrip() + "…"


def counted(notice: Notice) -> str:
    """What ``notice`` is about, counted by kind: "3 new messages", "1 new message and 1
    file", "2 new files and 1 invitation" (a file offer or an invitation is no message)."""
    messages = notice.count - notice.files - notice.invitations
    kinds = [(n, noun if n == 1 else f"{noun}s") for n, noun in (
        (messages, "message"), (notice.files, "file"), (notice.invitations, "invitation"))
        if n > 0]
    words = [f"{n} {noun}" for n, noun in kinds]
    if words:
        words[0] = f"{kinds[0][0]} new {kinds[0][1]}"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def text_less(notice: Notice) -> Notice:
    """``notice`` without who wrote what (``show_text`` off): "Messenger" / "New message"
    ("New file", "New invitation to a group", "3 new messages", "1 new message and 1
    file"), about the same conversation."""
    body = counted(notice) if notice.count > 1 else \
        "New invitation to a group" if notice.invitations or notice.invitation else \
        "New file" if notice.files else "New message"
    return replace(notice, title="Messenger", body=body)


class NotificationPolicy:
    """Collects others' new messages and makes the pop-up for them.

    The owner calls :meth:`message` for each new message; when it returns True, it starts a
    single-shot timer of :data:`COALESCE_SECONDS`, and when that fires, shows what
    :meth:`flush` returns (if anything).
    """

    def __init__(self, prefs: NotificationPrefs | None = None) -> None:
        self.prefs = prefs or NotificationPrefs()
        self._pending: list[_Pending] = []

    def message(self, key: str, title: str, sender: str, text: str, *,
                window_active: bool, seq: int | None = None, card: str = "") -> bool:
        """Note a new message ``seq`` (or the file offer of card ``card``) from ``sender`` in
        conversation ``key`` (shown as ``title``). True when it starts a new batch (the
        owner starts its timer then)."""
        if window_active or not self.prefs.enabled or key in self.prefs.muted:
            return False
        self._pending.append(_Pending(key, title, sender, text, seq, card))
        return len(self._pending) == 1

    def invitation(self, key: str, group: str, by: str, *, window_active: bool) -> bool:
        """Note an invitation from ``by`` to ``group`` (conversation ``key``, which mutes it
        as it mutes the group's messages). True when it starts a new batch. Its pop-up reads
        "# lab" / "alice invited you to lab", and a click on it shows the window (the
        invitation bar answers it), not the group's conversation."""
        if window_active or not self.prefs.enabled or key in self.prefs.muted:
            return False
        self._pending.append(_Pending(key, f"# {group}", "", f"{by} invited you to {group}",
                                      invitation=group))
        return len(self._pending) == 1

    def discard(self) -> None:
        """Forget the batch (the window became active: the badges show it all)."""
        self._pending.clear()

    def flush(self, current: Callable[[str, int], str | None] | None = None,
              card_unread: Callable[[str, str], bool] | None = None,
              invited: Callable[[str], bool] | None = None) -> Notice | None:
        """The pop-up for the batch collected so far (None when empty), and a new batch.
        ``current(key, seq)`` gives a message's text as it reads now, or None when it is no
        longer unread (read on another computer, deleted by its sender meanwhile): those
        are left out (a deleted message popped up with its text), edited ones say their
        new text. ``card_unread(key, card)`` says whether a file offer still waits to be
        looked at: one answered or withdrawn meanwhile is left out (a file cancelled at
        once by its sender popped up with nothing left to answer). ``invited(group)`` says
        whether an invitation to ``group`` still waits for an answer."""
        batch, self._pending = self._pending, []
        if current is not None:
            now = [(p, current(p.key, p.seq) if p.seq is not None else p.text) for p in batch]
            batch = [replace(p, text=text) for p, text in now if text is not None]
        if card_unread is not None:
            batch = [p for p in batch if not p.card or card_unread(p.key, p.card)]
        if invited is not None:
            batch = [p for p in batch if not p.invitation or invited(p.invitation)]
        if not batch:
            return None
        keys = list(dict.fromkeys(p.key for p in batch))
        n = len(batch)
        last = batch[-1]
        # (an invitation's group has no conversation to open yet: a click shows the window)
        opens = keys[0] if len(keys) == 1 and not last.invitation else None
        invitation = last.invitation \
            if len(keys) == 1 and all(p.invitation for p in batch) else ""
        kinds = Notice("", "", opens, n, invitation, files=sum(bool(p.card) for p in batch),
                       invitations=sum(bool(p.invitation) for p in batch))
        if not self.prefs.show_text:
            return text_less(kinds)
        if len(keys) > 1:
            titles = list(dict.fromkeys(p.title for p in batch))
            shown = ", ".join(titles[:3]) + (f" and {len(titles) - 3} more"
                                             if len(titles) > 3 else "")
            return replace(kinds, title=counted(kinds), body=f"In {shown}")
        _quote, text = split_quote(last.text)  # a reply: its answer, not what it quotes
        line = elide(text) if last.title == last.sender or not last.sender \
            else elide(f"{last.sender}: {text}")
        title = last.title if n == 1 else f"{last.title} ({counted(kinds)})"
        return replace(kinds, title=title, body=line)


class Backend(StrEnum):
    """Where a pop-up goes: the desktop's notification service (freedesktop Desktop
    Notifications over D-Bus), the tray icon's balloon, or nowhere (only the task bar)."""

    SERVICE = "service"
    TRAY = "tray"
    NONE = "none"


DEFAULT_ACTION = "default"
"""The freedesktop action a click on the pop-up itself invokes."""


class DesktopNotices:
    """Which desktop pop-up is about which :class:`Notice`.

    Plain bookkeeping for the notification service's ids (``Notify`` returns one; its
    ``ActionInvoked`` and ``NotificationClosed`` signals name one): a click on an *older*
    pop-up still in the desktop's list opens *its* conversation (the tray's balloon says
    only "clicked", so that one opens the last notice); a conversation's new pop-up
    replaces its previous one (``replaces_id``) rather than stacking; reading a
    conversation (here or on another computer) says which pop-up to close, and so does
    answering an invitation; quitting or logging out closes them all. Notices about
    several conversations, or an invitation (``key`` None), never replace nor are replaced.

    The service's id comes some time after the pop-up is asked for (:meth:`ask`); a
    conversation's next notice meanwhile waits for it (:meth:`answer` gives it back then,
    to replace that pop-up): asked at once, it had no id to replace and stacked as a
    second pop-up.
    """

    def __init__(self) -> None:
        self._notices: dict[int, Notice] = {}
        self._latest: dict[str, int] = {}
        self._asking: set[str] = set()  # conversations whose pop-up's id is not known yet
        self._held: dict[str, Notice] = {}  # their next notice, waiting for that id

    @staticmethod
    def backend(service: bool, tray: bool) -> Backend:
        """Where the next pop-up goes: the notification service when the session bus has
        it (also on a desktop without a system tray: GNOME without the AppIndicator
        extension showed no pop-up at all), else the tray icon's balloon, else nowhere."""
        if service:
            return Backend.SERVICE
        return Backend.TRAY if tray else Backend.NONE

    def replaces(self, notice: Notice) -> int:
        """The id of the pop-up ``notice`` replaces: its conversation's previous one still
        shown (0, none, for a new one)."""
        return self._latest.get(notice.key, 0) if notice.key is not None else 0

    def ask(self, notice: Notice) -> bool:
        """Whether to ask the service for ``notice``'s pop-up now. False when its
        conversation's previous pop-up was asked for and the service has not said its id
        yet: ``notice`` waits for it (a later one waiting takes its place: a pop-up shows
        a conversation's newest notice) and :meth:`answer` gives it back."""
        if notice.key is None:
            return True
        if notice.key in self._asking:
            self._held[notice.key] = notice
            return False
        self._asking.add(notice.key)
        return True

    def answer(self, notice: Notice, nid: int) -> Notice | None:
        """The service answered the request for ``notice``'s pop-up (asked for after
        :meth:`ask`) with id ``nid`` (0: it showed none; a pop-up closed at once, its
        conversation read meanwhile, is not :meth:`shown`). The notice of the same
        conversation that waited meanwhile, to ask for now (:meth:`replaces` names the
        pop-up it replaces), or None."""
        if notice.key is None:
            return None
        self._asking.discard(notice.key)
        held = self._held.pop(notice.key, None)
        if held is not None:
            self._asking.add(notice.key)
        return held

    def shown(self, nid: int, notice: Notice) -> None:
        """The service shows ``notice`` as pop-up ``nid``."""
        old = self.replaces(notice)
        if old and old != nid:
            self._notices.pop(old, None)
        self._notices[nid] = notice
        if notice.key is not None:
            self._latest[notice.key] = nid

    def clicked(self, nid: int, action: str) -> Notice | None:
        """The notice the user clicked (``action`` of pop-up ``nid``), or None when that
        is not a click on one of ours (the service tells every listener of every app's
        pop-ups). A clicked pop-up goes away: forgotten, it is not closed again when its
        conversation, which the click opens, is read."""
        if action != DEFAULT_ACTION or nid not in self._notices:
            return None
        notice = self._notices[nid]
        self.closed(nid)
        return notice

    def closed(self, nid: int) -> None:
        """Pop-up ``nid`` is gone (expired, dismissed, clicked, or closed by us)."""
        notice = self._notices.pop(nid, None)
        if notice is not None and notice.key is not None \
                and self._latest.get(notice.key) == nid:
            del self._latest[notice.key]

    def showing(self) -> list[tuple[int, Notice]]:
        """The pop-ups shown, and the notice each one shows."""
        return list(self._notices.items())

    def read(self, key: str) -> int:
        """Conversation ``key`` was read: the id of its pop-up to close (0: none). Its
        notice waiting for an id (:meth:`ask`) is dropped."""
        self._held.pop(key, None)
        nid = self._latest.pop(key, 0)
        self._notices.pop(nid, None)
        return nid

    def answered(self, invited: Callable[[str], bool]) -> list[int]:
        """The pop-ups to close of invitations answered meanwhile (Accept or Decline, here
        or on another computer): those whose group ``invited(group)`` no longer says
        waits for an answer. They are forgotten."""
        done = [nid for nid, n in self._notices.items()
                if n.invitation and not invited(n.invitation)]
        for nid in done:
            self.closed(nid)
        return done

    def close_all(self) -> list[int]:
        """Every pop-up still shown, to close (the app quits or logs out: a pop-up left
        behind did nothing when clicked). They are forgotten."""
        shown = list(self._notices)
        self._notices.clear()
        self._latest.clear()
        self._held.clear()
        return shown

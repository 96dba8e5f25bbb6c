"""Names and reasons from the server are shown as text, never as rich text: a hostile (or
compromised, once trusted) server controls them, and a QLabel in Qt's default AutoText
format or a tooltip takes anything that looks like HTML as HTML (a fake "Session expired"
page, an ``<img width=20000 height=20000>`` that costs seconds to lay out; a security
review)."""

from __future__ import annotations

import json
import struct

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QLabel

HEADER = struct.Struct(">I")
EVIL = "<h1>Session expired</h1><img width=20000 height=20000>"


def inject(server, user: str, *frames: dict) -> None:
    """Write raw frames to ``user``'s connection from the server's side (past its rules),
    as a hostile server would send them."""
    core = server.server.core
    for conn, c in server.server._conns.items():
        session = core.sessions.get(conn)
        if session is not None and session.user == user:
            payloads = [json.dumps(f).encode() for f in frames]
            c.socket.write(b"".join(HEADER.pack(len(p)) + p for p in payloads))
            return
    raise AssertionError(f"no connection of {user}")


def as_html(text: str, fmt: Qt.TextFormat = Qt.TextFormat.AutoText) -> bool:
    """Whether Qt shows ``text`` in format ``fmt`` (a tooltip's is AutoText) as HTML."""
    if "<h1>" not in text or fmt == Qt.TextFormat.PlainText:
        return False
    return fmt == Qt.TextFormat.RichText or GuiQt.mightBeRichText(text)


def test_names_and_reasons_from_the_server_never_show_as_rich_text(qtbot, server,
                                                                    open_window):
    alice = open_window("alice")
    lab = {"name": "lab", "leader": EVIL, "members": [EVIL, "alice"], "created": 1.0}
    den = {"name": "den", "leader": "bob", "members": ["bob"], "invited": ["alice"],
           "created": 1.0}
    inject(server, "alice", {"type": "group_update", "group": lab},
           {"type": "group_invitation", "group": den, "by": EVIL, "ts": 1.0},
           {"type": "error", "code": "internal", "message": EVIL})
    qtbot.waitUntil(lambda: alice.engine.groups.group("lab") is not None
                    and bool(alice.invitation_bar._rows), timeout=5000)
    tab = alice.open_group("lab")
    qtbot.waitUntil(lambda: "led by <h1>" in tab.info_label.text(), timeout=5000)
    labels = alice.findChildren(QLabel)
    shown = [w.text() for w in labels if "Session expired" in w.text() + w.toolTip()]
    assert len(shown) >= 2, shown  # (the invitation bar, the member panel)
    rich = [(w.objectName() or type(w.parent()).__name__, w.text(), w.toolTip())
            for w in labels if as_html(w.text(), w.textFormat()) or as_html(w.toolTip())]
    assert rich == []

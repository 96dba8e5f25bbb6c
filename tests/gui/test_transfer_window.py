"""Drag a file onto a conversation: the offer, the recipient's card, Accept, progress to 100 %,
Open; and a drop that cannot be sent says why until dismissed."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QTextDocument
from PySide6.QtWidgets import QApplication, QWidget

from messenger import paths
from messenger.client.conversations import EVERYONE, group_key, peer_key
from messenger.client.localstore import CachedMessage, LocalStore, TransferRecord, store_path
from messenger.client.models import MessageKind
from messenger.client.transfers import TransferState
from messenger.gui import theme
from messenger.gui import transfers as gui_transfers
from messenger.gui.transfers import TransferCard
from messenger.gui.widgets import ElidedLabel
from messenger.transfer import part_stem, safe_filename

from .conftest import active

MEDIA = Path("/work/shared/media/bigbuckbunny.mp4")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def drop(widget, *paths: Path) -> bool:
    """Drag ``paths`` onto ``widget`` and drop them there, as the window system would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return drop_mime(widget, mime)


def drop_mime(widget, mime: QMimeData) -> bool:
    """Drag ``mime`` onto the middle of ``widget`` and drop it there (False when the drag
    was not accepted)."""
    pos = widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_drop_a_video_and_the_peer_accepts_it(qtbot, open_window, tmp_path, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(gui_transfers, "open_url",
                        lambda url: opened.append(url.toLocalFile()) or True)
    bob_window = open_window("bob")
    alice_window = open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    tab = alice_window.open_conversation("bob")
    alice_t, bob_t = alice_window.transfers, bob_window.transfers

    with qtbot.waitSignal(bob_t.transfer_added, timeout=10_000) as added:
        assert drop(tab, MEDIA)
    assert not tab.error_bar.isVisible()
    key = added.args[0]
    send_key = alice_t.model.index(0, 0).data(alice_t.model.IdRole)
    alice_card = tab.card(send_key)
    assert isinstance(alice_card, TransferCard) and alice_card.isVisible()

    # Bob's window opened the conversation with the card: a video, Accept / Decline.
    qtbot.waitUntil(lambda: bob_window.conversation_widget("alice") is not None)
    bob_tab = bob_window.conversation_widget("alice")
    bob_window.open_conversation("alice")
    card = bob_tab.card(key)
    assert isinstance(card, TransferCard)
    qtbot.waitUntil(card.accept_button.isVisible)
    assert card.icon.accessibleName() == "Video"
    assert card.name_label.text() == MEDIA.name
    assert card.decline_button.isVisible() and not card.open_button.isVisible()
    qtbot.mouseClick(card.accept_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: bob_t.get(key).state is TransferState.DONE
                    and alice_t.get(send_key).state is TransferState.DONE, timeout=20_000)
    for c in (card, alice_card):
        assert c.progress.value() == c.progress.maximum()
        assert not c.progress.isVisible()  # done: the status line says so
        assert not c.cancel_button.isVisible()
    assert card.open_button.isVisible() and card.open_button.isEnabled()
    received = Path(bob_t.get(key).path)
    assert received.parent == tmp_path / "bob-downloads"
    assert sha256_of(received) == sha256_of(MEDIA)
    qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
    assert opened == [str(received)]

    # The Transfers panel lists it with the same progress.
    panel = bob_window.show_transfers()
    row_card = panel.card(key)
    assert row_card is not None and row_card.progress.value() == row_card.progress.maximum()
    assert bob_window.transfers_dock.isVisible()


def test_a_dropped_folder_says_why_until_dismissed(qtbot, open_window, tmp_path):
    open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    tab = window.open_conversation("bob")
    folder = tmp_path / "holiday photos"
    folder.mkdir()
    assert drop(tab, folder)
    assert tab.error_bar.isVisible()
    assert "folder" in tab.error_label.text() and "holiday photos" in tab.error_label.text()
    assert window.transfers.model.rowCount() == 0
    # It stays: other things happen, it is still there…
    qtbot.keyClicks(tab.compose, "hello")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert tab.error_bar.isVisible()
    # …until the user closes it.
    qtbot.mouseClick(tab.error_close, Qt.MouseButton.LeftButton)
    assert not tab.error_bar.isVisible()


def test_one_folder_among_dropped_files_does_not_stop_the_files(qtbot, open_window,
                                                                 tmp_path):
    """A folder among five dropped items stopped the four files, and the note spoke only of
    the folder (a hunt): the files go, and the note says what did not."""
    bob = open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    tab = window.open_conversation("bob")
    folder = tmp_path / "holiday"
    folder.mkdir()
    files = []
    for n in range(3):
        files.append(tmp_path / f"notes{n}.txt")
        files[-1].write_text(f"notes {n}\n")
    assert drop(tab, files[0], folder, *files[1:])
    assert tab.error_bar.isVisible()
    said = tab.error_label.text()
    assert said.startswith("3 of the 4 files are being sent; the rest not: “holiday” is a "
                           "folder"), said
    qtbot.waitUntil(lambda: bob.transfers.model.rowCount() == 3, timeout=10_000)
    assert sorted(t.name for t in bob.transfers.model.transfers()) == \
        ["notes0.txt", "notes1.txt", "notes2.txt"]


def test_a_file_whose_name_is_not_utf8_is_refused_for_what_it_is(qtbot, open_window,
                                                                  tmp_path):
    """A file from an old Latin-1 archive ("caf\\xe9.txt"), dragged from a file manager
    (which percent-encodes the name's bytes), was said not to exist any more."""
    from urllib.parse import quote_from_bytes

    open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    tab = window.open_conversation("bob")
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(raw, "wb") as f:
        f.write(b"hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromEncoded(b"file://" + quote_from_bytes(raw).encode())])
    drop_mime(tab, mime)
    assert tab.error_bar.isVisible()
    said = tab.error_label.text()
    assert "does not exist" not in said and "not UTF-8" in said and "Rename it" in said
    assert "caf\ufffd.txt" in said
    assert window.transfers.model.rowCount() == 0


def test_a_file_in_a_folder_whose_name_is_not_utf8_is_refused_not_left_preparing(
        qtbot, open_window, tmp_path):
    """A file with a plain name in a folder from an old Latin-1 archive ("caf\\xe9/notes.txt")
    passed the check of its name; its card appeared and then said "Preparing…" for ever
    (the local store cannot keep a path that is not UTF-8: the save raised, the file was
    never hashed) and the other files of the same drop were not sent. It is refused, saying
    which name is at fault, and the others go."""
    from urllib.parse import quote_from_bytes

    open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    tab = window.open_conversation("bob")
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(folder)
    with open(folder + b"/notes.txt", "wb") as f:
        f.write(b"hello")
    fine = tmp_path / "fine.txt"
    fine.write_bytes(b"fine")
    mime = QMimeData()
    mime.setUrls([QUrl.fromEncoded(b"file://" + quote_from_bytes(folder + b"/notes.txt")
                                   .encode()), QUrl.fromLocalFile(str(fine))])
    drop_mime(tab, mime)
    assert tab.error_bar.isVisible()
    said = tab.error_label.text()
    assert "“notes.txt” cannot be sent" in said and "caf\ufffd" in said, said
    assert "not UTF-8" in said and "1 of the 2 files" in said, said
    transfers = window.transfers.model.transfers()
    assert [t.name for t in transfers] == ["fine.txt"]
    qtbot.waitUntil(lambda: window.transfers.get(transfers[0].key).state
                    is TransferState.WAITING, timeout=10_000)


def test_a_drop_on_an_offline_peer_or_everyone_is_refused_in_place(qtbot, open_window,
                                                                  tmp_path):
    window = open_window("alice")
    src = tmp_path / "a.txt"
    src.write_text("x")
    tab = window.open_conversation("charlie")
    assert drop(tab.compose, src)  # dropped on the compose box: goes to the tab
    assert "offline" in tab.error_label.text() and tab.error_bar.isVisible()
    assert tab.compose.toPlainText() == ""
    everyone = window.open_conversation(EVERYONE)
    everyone.attach([str(src)])
    assert everyone.error_bar.isVisible() and "not to everyone" in everyone.error_label.text()


def test_an_interrupted_send_comes_back_and_is_offered_again_when_its_recipient_is_online(
        qtbot, open_window, server, tmp_path):
    # The app had been closed in the middle of sending: its local store says "active".
    src = tmp_path / "report.pdf"
    src.write_bytes(b"%PDF" + b"x" * 5000)
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("send-1-old", "send", "bob", "bob", src.name, 5004,
                                       sha256_of(src), "application/pdf", str(src), "active",
                                       2000))
    store.close()
    window = open_window("alice")  # bob is offline
    card = window.open_conversation("bob").card("send-1-old")
    assert isinstance(card, TransferCard)
    assert window.transfers.get("send-1-old").state is TransferState.FAILED
    assert card.status_label.text() == ("Interrupted (the app was closed) · resumes when bob "
                                        "is online")
    assert "color: palette(text)" in card.status_label.styleSheet()  # (a pause: not red)
    # Resume now (it would fail: bob is offline), or Cancel to stop it resuming by itself.
    assert card.resume_button.isVisible() and card.cancel_button.isVisible()
    assert card.progress.value() == 2000 * 1000 // 5004
    qtbot.mouseClick(card.resume_button, Qt.MouseButton.LeftButton)  # (bob is offline)
    qtbot.waitUntil(lambda: window.transfers.get("send-1-old").state is TransferState.FAILED)
    assert card.status_label.text() == ("Interrupted: bob is offline · resumes when bob is "
                                        "online")  # (not "Failed": it still goes)

    bob_window = open_window("bob")  # back: alice's app offers the file again by itself
    qtbot.waitUntil(lambda: bob_window.transfers.model.rowCount() == 1, timeout=10_000)
    key = bob_window.transfers.model.index(0, 0).data(bob_window.transfers.model.IdRole)
    assert bob_window.transfers.get(key).sha256 == sha256_of(src)
    qtbot.waitUntil(lambda: window.transfers.get("send-1-old").state is TransferState.WAITING)
    assert not card.resume_button.isVisible() and card.cancel_button.isVisible()


def test_resume_offers_a_failed_send_again(qtbot, open_window, server, tmp_path):
    src = tmp_path / "report.pdf"
    src.write_bytes(b"%PDF" + b"x" * 5000)
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("send-1-old", "send", "bob", "bob", src.name, 5004,
                                       sha256_of(src), "application/pdf", str(src), "failed",
                                       2000, "connection lost"))
    store.close()
    bob_window = open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    card = window.open_conversation("bob").card("send-1-old")
    assert card.status_label.text() == "Failed: connection lost"  # (nothing by itself)
    assert card.resume_button.isVisible() and not card.cancel_button.isVisible()
    with qtbot.waitSignal(bob_window.transfers.transfer_added, timeout=10_000) as added:
        qtbot.mouseClick(card.resume_button, Qt.MouseButton.LeftButton)
    assert bob_window.transfers.get(added.args[0]).sha256 == sha256_of(src)
    qtbot.waitUntil(lambda: window.transfers.get("send-1-old").state is TransferState.WAITING)
    assert not card.resume_button.isVisible() and card.cancel_button.isVisible()


def test_a_reloaded_transfer_card_shows_at_its_time_among_the_messages(qtbot, open_window,
                                                                      server):
    """After a restart a file card is where it happened in the conversation, not after the
    newest message."""
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.add_messages([CachedMessage(1, "bob", time.time() - 60, "bob", "unicast",
                                      "before the file", "c-1", to=["alice"])])
    store.save_transfer(TransferRecord("recv-old", "receive", "bob", "bob", "old.mp4", 100,
                                       "ab" * 32, "video/mp4", "", "declined"))
    created = store.transfer("recv-old").created
    assert created > 0
    store.add_messages([CachedMessage(2, "bob", created + 1, "bob", "unicast",
                                      "after the file", "c-2", to=["alice"])])
    store.close()
    window = open_window("alice")
    tab = window.open_conversation("bob")
    qtbot.waitUntil(lambda: isinstance(tab.card("recv-old"), TransferCard))
    rows = [item.transfer or item.text for item in window.engine.conversation("bob").items()]
    assert rows == ["before the file", "recv-old", "after the file"]


RICH_NAME = 'invoice.pdf<font style="font-size:1px">.exe'
BIDI_NAME = "invoice\u202efdp.exe"
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def test_peer_supplied_names_and_reasons_are_shown_as_plain_text(qtbot, open_window, tmp_path):
    """A file name or a decline reason from the peer is never rich text (``<font>`` could hide
    ``.exe``) and never carries bidi controls (U+202E shows ``invoice‮fdp.exe`` as
    ``invoiceexe.pdf``); the card shows the name the file will be saved under."""
    bob_window = open_window("bob")
    alice_window = open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    bob_t = bob_window.transfers
    cards = {}
    for name in (RICH_NAME, BIDI_NAME):
        # Alice's engine offers by hand: any name a modified client could send.
        with qtbot.waitSignal(bob_t.transfer_added, timeout=10_000) as added:
            assert alice_window.engine.offer_transfer("bob", name, 10, "ab" * 32, "",
                                                      "127.0.0.1", 9)
        qtbot.waitUntil(lambda: bob_window.conversation_widget("alice") is not None)
        card = bob_window.conversation_widget("alice").card(added.args[0])
        assert isinstance(card, TransferCard)
        cards[name] = card
    for name, card in cards.items():
        for label in (card.name_label, card.info_label, card.status_label):
            assert label.textFormat() is Qt.TextFormat.PlainText
        assert isinstance(card.name_label, ElidedLabel)
        assert card.name_label.mode is Qt.TextElideMode.ElideMiddle  # keeps the extension
        # "10 B · from alice · 04:28" gives up width with "…" (it was cut mid-time)
        assert isinstance(card.info_label, ElidedLabel)
        shown = card.name_label.text()
        assert not BIDI & set(shown) and not BIDI & set(card.accessibleName())
        assert shown == safe_filename(name)
    assert cards[RICH_NAME].name_label.text().endswith(".exe")
    assert cards[BIDI_NAME].name_label.text() == "invoicefdp.exe"

    # Bob declines a real offer with a reason that is both HTML and bidi-laden.
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    tab = alice_window.open_conversation("bob")
    with qtbot.waitSignal(bob_t.transfer_added, timeout=10_000) as added:
        assert drop(tab, src)
    model = alice_window.transfers.model
    send_key = model.index(model.rowCount() - 1, 0).data(model.IdRole)
    assert alice_window.transfers.get(send_key).name == "notes.txt"
    tid = bob_t.get(added.args[0]).transfer_id
    bob_window.engine.decline_transfer(tid, "<b>no</b> \u202etxt.exe")
    qtbot.waitUntil(lambda: alice_window.transfers.get(send_key).state
                    is TransferState.DECLINED, timeout=10_000)
    card = tab.card(send_key)
    assert card.status_label.textFormat() is Qt.TextFormat.PlainText
    assert card.status_label.text() == "bob declined it: <b>no</b> txt.exe"
    tooltip = QTextDocument()  # a tooltip has no text format: it must be escaped HTML
    tooltip.setHtml(card.status_label.toolTip())
    assert tooltip.toPlainText() == card.status_label.text()


def test_discard_on_a_failed_receive_deletes_what_was_received(qtbot, open_window, server,
                                                               tmp_path):
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("recv-failed", "receive", "bob", "bob", "film.mp4",
                                       10_000, "ab" * 32, "video/mp4", "", "failed", 4000,
                                       "connection lost", accepted=True))
    store.close()
    part = tmp_path / "alice-downloads" / ".partial" / f"{part_stem('ab' * 32, 'bob')}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 4000)  # (what the first attempt received)
    window = open_window("alice")
    tab = window.open_conversation("bob")
    qtbot.waitUntil(lambda: isinstance(tab.card("recv-failed"), TransferCard))
    card = tab.card("recv-failed")
    assert part == window.transfers.partial_path(window.transfers.get("recv-failed"))
    assert card.discard_button.isVisible() and not card.resume_button.isVisible()
    assert card.discard_button.accessibleName() == "Discard film.mp4"
    qtbot.mouseClick(card.discard_button, Qt.MouseButton.LeftButton)
    assert not part.exists()
    assert window.transfers.get("recv-failed").state is TransferState.DISCARDED
    assert card.status_label.text() == "Discarded (the partly received file was deleted)"
    assert not card.discard_button.isVisible() and not card.progress.isVisible()


def test_discard_finds_the_partial_file_in_the_folder_it_was_accepted_into(
        qtbot, open_window, server, tmp_path):
    """After a change of the download folder in Preferences, Discard said it deleted the
    partial file but looked for it in the new folder; the old one stayed for good (a
    hunt). A receive keeps the folder it was accepted into (``transfers.folder``)."""
    old = tmp_path / "old-downloads"
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("recv-moved", "receive", "bob", "bob", "film.mp4",
                                       10_000, "cd" * 32, "video/mp4", "", "failed", 4000,
                                       "connection lost", accepted=True, folder=str(old)))
    store.close()
    window = open_window("alice")  # (its download folder: tmp_path / "alice-downloads")
    tab = window.open_conversation("bob")
    qtbot.waitUntil(lambda: isinstance(tab.card("recv-moved"), TransferCard))
    part = window.transfers.partial_path(window.transfers.get("recv-moved"))
    assert part.parent == old / ".partial"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 4000)
    qtbot.mouseClick(tab.card("recv-moved").discard_button, Qt.MouseButton.LeftButton)
    assert not part.exists()


def test_file_cards_fit_their_rows_with_a_large_font(qtbot, qapp, open_window, tmp_path):
    """At 16 pt the buttons went out of the card (fixed 116 px rows, status and buttons on one
    line): now every visible button lies inside its card and each row is as tall as its card,
    in the conversation and in the default-width Transfers panel."""
    before = qapp.font()
    font = qapp.font()
    font.setPointSizeF(16)
    qapp.setFont(font)
    try:
        bob_window = open_window("bob")
        alice_window = open_window("alice")
        qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
        sample = tmp_path / "quarterly-report-final-version.pdf"
        sample.write_bytes(b"%PDF-1.4 not much\n" * 100)
        with qtbot.waitSignal(bob_window.transfers.transfer_added, timeout=10_000) as added:
            assert drop(alice_window.open_conversation("bob"), sample)
        key = added.args[0]
        qtbot.waitUntil(lambda: bob_window.conversation_widget("alice") is not None)
        tab = bob_window.open_conversation("alice")
        bob_window.resize(1100, 640)
        bob_window.show_transfers()
        panel = bob_window.transfers_panel
        for view, card in ((tab.view, tab.card(key)), (panel.view, panel.card(key))):
            assert isinstance(card, TransferCard)
            qtbot.waitUntil(card.accept_button.isVisible)
            qtbot.waitUntil(lambda v=view, c=card: v.visualRect(v.indexAt(
                c.geometry().center())).height() >= c.row_height(c.width()))
            # Nothing squeezed below what it needs: no cut buttons, no overlapping lines.
            assert card.minimumSizeHint().width() <= card.width()
            assert card.minimumSizeHint().height() <= card.height()
            for button in (card.accept_button, card.decline_button):
                assert button.width() >= button.sizeHint().width(), button.text()
                assert card.frame.rect().contains(button.geometry())
    finally:
        qapp.setFont(before)


def test_transfer_cards_in_the_panel_are_as_wide_as_the_panel(qtbot, open_window, tmp_path):
    """The Transfers panel's rows took a fixed 300 px: in the default, narrower dock the
    right of each card (its buttons) was cut off."""
    bob_window = open_window("bob")
    alice_window = open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    sample = tmp_path / "notes.txt"
    sample.write_bytes(b"notes\n" * 100)
    with qtbot.waitSignal(bob_window.transfers.transfer_added, timeout=10_000) as added:
        assert drop(alice_window.open_conversation("bob"), sample)
    bob_window.resize(900, 650)
    panel = bob_window.show_transfers()
    for width in (240, 420):
        bob_window.resizeDocks([bob_window.transfers_dock], [width], Qt.Orientation.Horizontal)
        qtbot.waitUntil(lambda w=width: panel.view.viewport().width() < w + 20)
        card = panel.card(added.args[0])
        qtbot.waitUntil(lambda c=card: c.width() == panel.view.viewport().width())
        qtbot.waitUntil(card.decline_button.isVisible)
        assert card.frame.rect().contains(card.decline_button.geometry())
        assert card.mapTo(panel.view.viewport(), card.decline_button.geometry().topRight()).x() \
            < panel.view.viewport().width()


def test_ctrl_shift_t_takes_the_keyboard_focus_to_the_transfers_and_back(qtbot, open_window):
    window = open_window("alice")
    tab = window.open_conversation("bob")
    tab.compose.setFocus()
    qtbot.waitUntil(tab.compose.hasFocus)
    qtbot.keyClick(tab.compose, Qt.Key.Key_T,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.transfers_dock.isVisible()
    qtbot.waitUntil(window.transfers_panel.view.hasFocus)
    qtbot.keyClick(window.transfers_panel.view, Qt.Key.Key_T,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not window.transfers_dock.isVisible()
    qtbot.waitUntil(tab.compose.hasFocus)


def test_a_file_offer_opens_its_tab_in_the_background_and_counts_as_unread(
        qtbot, open_window, tmp_path):
    """A file offer is news as a message is: it counts in the tab, the contact list and the
    window title until the tab is looked at (it counted nothing: an offer made while the
    user was on another tab went unnoticed). The "New messages" line stays above the first
    unread message, which came before the card."""
    from messenger.client.conversations import peer_key
    from messenger.client.models import MessageKind, RosterModel

    bob = open_window("bob")
    alice = open_window("alice")
    for n in range(3):
        bob.engine.send_unicast("alice", f"unread {n}")
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: sum(i.kind is MessageKind.OTHER for i in model.items()) == 3,
                    timeout=10_000)
    assert alice.engine.unread(peer_key("bob")) == 3
    path = tmp_path / "notes.txt"
    path.write_text("some notes\n")
    with qtbot.waitSignal(alice.transfers.transfer_added, timeout=10_000):
        assert bob.send_files(peer_key("alice"), [str(path)])
    assert alice.conversation_widget(peer_key("bob")) is not None
    assert alice.current_key() == EVERYONE  # opened, not shown
    row = alice.engine.roster.row_of("bob")
    assert alice.engine.unread(peer_key("bob")) == 4
    assert alice.engine.roster.index(row, 0).data(RosterModel.UnreadRole) == 4
    tab = alice.conversation_widget(peer_key("bob"))
    assert alice.tabs.tabText(alice.tabs.indexOf(tab)) == "(4) bob"
    assert alice.windowTitle().startswith("(4) alice@")
    first = alice.engine.first_unread(peer_key("bob"))
    assert alice.engine.first_unread_card(peer_key("bob")) == ""  # the messages came first
    alice.open_conversation("bob")
    assert tab.delegate.unread_seq == first and tab.delegate.unread_card == ""
    assert alice.engine.unread(peer_key("bob")) == 0
    assert alice.engine.roster.index(row, 0).data(RosterModel.UnreadRole) == 0


def test_a_file_offer_looked_at_on_another_computer_is_not_unread_here(qtbot, open_window,
                                                                       tmp_path):
    """Read on the desktop, the conversation kept "(1) bob" on the laptop for the offer
    above what was read (reads go by message; an offer has none): a hunt."""
    from messenger.client.conversations import peer_key

    bob = open_window("bob")
    desktop = open_window("alice")
    laptop = open_window("alice", data_dir=tmp_path / "laptop")
    key = peer_key("bob")
    path = tmp_path / "notes.txt"
    path.write_text("some notes\n")
    with qtbot.waitSignal(laptop.transfers.transfer_added, timeout=10_000):
        assert bob.send_files(peer_key("alice"), [str(path)])
    with qtbot.waitSignal(laptop.engine.message_received, timeout=5000):
        bob.engine.send_unicast("alice", "did you get it?")
    qtbot.waitUntil(lambda: desktop.engine.unread(key) == 2, timeout=5000)
    assert laptop.engine.unread(key) == 2
    desktop.engine.mark_read(key)  # looked at on the desktop, the offer not answered
    qtbot.waitUntil(lambda: laptop.engine.unread(key) == 0, timeout=5000)
    assert not laptop.windowTitle().startswith("(")


def test_a_file_sent_in_a_group_shows_in_the_group_on_the_members_side(qtbot, open_window,
                                                                      tmp_path):
    """Alice drops a file on the group's tab: bob's card is in the group's conversation,
    which counts it as unread (it went to his private conversation with alice)."""
    from messenger.client.conversations import group_key, peer_key

    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("Lab", ["bob"])
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("Lab")
    qtbot.waitUntil(lambda: "bob" in alice.engine.groups.group("Lab").members)
    bob.tabs.setCurrentIndex(bob.tabs.indexOf(bob.conversation_widget(EVERYONE)))
    path = tmp_path / "slides.pdf"
    path.write_bytes(b"%PDF" + b"x" * 1000)
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000) as added:
        assert alice.send_files(group_key("Lab"), [str(path)])
    t = bob.transfers.get(added.args[0])
    assert t.conversation == group_key("Lab")
    assert bob.conversation_widget(group_key("Lab")).card(t.key) is not None
    assert bob.engine.conversation(peer_key("alice")).row_of_transfer(t.key) is None
    assert bob.engine.unread(group_key("Lab")) == 1
    assert bob.current_key() == EVERYONE  # opened in the background


def test_a_file_offer_before_any_message_gets_the_new_messages_line(qtbot, open_window,
                                                                   tmp_path):
    """The offer came first, then a message: the "New messages" line is drawn above the
    card (it was drawn above the message, below the unread card)."""
    from messenger.client.conversations import peer_key
    from messenger.client.models import MessageKind

    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    path = tmp_path / "notes.txt"
    path.write_text("some notes\n")
    with qtbot.waitSignal(alice.transfers.transfer_added, timeout=10_000) as added:
        assert bob.send_files(peer_key("alice"), [str(path)])
    card_key = added.args[0]
    bob.engine.send_unicast("alice", "did you get it?")
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: any(i.kind is MessageKind.OTHER for i in model.items()),
                    timeout=10_000)
    assert alice.engine.unread(peer_key("bob")) == 2
    assert alice.engine.first_unread_card(peer_key("bob")) == card_key
    tab = alice.open_conversation("bob")
    assert tab.delegate.unread_card == card_key and tab.delegate.unread_seq is None
    assert alice.engine.unread(peer_key("bob")) == 0
    card = tab.card(card_key)
    row = tab.model.row_of_transfer(card_key)
    delegate = tab.delegate
    rect = tab.view.visualRect(tab.proxy.index(row, 0))
    # The card moved down to leave the line's room above it, and the line is drawn there.
    qtbot.waitUntil(lambda: card.frame.mapTo(tab.view.viewport(), QPoint(0, 0)).y()
                    >= rect.top() + delegate.UNREAD_HEIGHT)
    top = rect.top() + (delegate.DAY_HEIGHT if delegate.day_separator(
        tab.proxy.index(row, 0)) else 0)
    strip = tab.view.viewport().grab(QRect(rect.left(), int(top), rect.width(),
                                           int(delegate.UNREAD_HEIGHT))).toImage()
    assert len({strip.pixel(x, y) for x in range(0, strip.width(), 3)
                for y in range(strip.height())}) > 2
    # Answering clears the line, as for messages.
    tab.set_unread_marker(None)
    assert tab.delegate.unread_card == ""


def test_a_long_file_name_is_elided_in_the_middle_keeping_its_extension(qtbot):
    """Cut at the card's edge, a long name lost its extension with no sign it was cut; it is
    elided in the middle now, and the whole name (escaped: it comes from the peer) is the
    tooltip."""
    name = "Quarterly_financial_report_final_v2_REALLY_FINAL_<b>draft</b>.pdf"
    label = ElidedLabel(name, None, Qt.TextElideMode.ElideMiddle)
    qtbot.addWidget(label)
    label.resize(label.fontMetrics().horizontalAdvance(name) // 3, 30)
    label.show()
    shown = label.shown_text()
    assert "…" in shown and shown.endswith(".pdf") and shown.startswith("Quart")
    tip = QTextDocument()
    tip.setHtml(label.toolTip())
    assert tip.toPlainText() == name  # shown as it is, not as HTML
    label.resize(label.fontMetrics().horizontalAdvance(name) + 20, 30)
    assert label.shown_text() == name and label.toolTip() == ""


def test_a_file_card_that_opens_the_day_sits_below_the_days_line(qtbot, open_window,
                                                                  server):
    """The first thing of a day is a file card: the day's line is drawn above the card (it
    came below it, on the next message). A day earlier, a message before it."""
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("recv-old", "receive", "bob", "bob", "old.mp4", 100,
                                       "ab" * 32, "video/mp4", "", "declined"))
    created = store.transfer("recv-old").created
    store.add_messages([
        CachedMessage(1, "bob", created - 86_400, "bob", "unicast", "yesterday", "c-1",
                      to=["alice"]),
        CachedMessage(2, "bob", created + 1, "bob", "unicast", "after the file", "c-2",
                      to=["alice"])])
    store.close()
    window = open_window("alice")
    tab = window.open_conversation("bob")
    qtbot.waitUntil(lambda: isinstance(tab.card("recv-old"), TransferCard))
    proxy, delegate = tab.proxy, tab.delegate
    days = [delegate.day_separator(proxy.index(r, 0)) for r in range(proxy.rowCount())]
    assert days[1:] == ["Today", ""]  # on the card's row, not on the message after it
    card = tab.card("recv-old")
    rect = tab.view.visualRect(proxy.index(1, 0))
    qtbot.waitUntil(lambda: card.frame.mapTo(tab.view.viewport(), QPoint(0, 0)).y()
                    >= rect.top() + delegate.DAY_HEIGHT)
    assert rect.height() >= delegate.DAY_HEIGHT + card.frame.height()
    strip = tab.view.viewport().grab(QRect(rect.left(), rect.top(), rect.width(),
                                           int(delegate.DAY_HEIGHT))).toImage()
    assert len({strip.pixel(x, y) for x in range(0, strip.width(), 3)
                for y in range(strip.height())}) > 2  # the day's pill is drawn there


def test_cards_show_a_bar_only_while_it_says_something_and_red_only_for_trouble(
        qtbot, open_window):
    """Waiting, preparing and connecting showed a "0 %" bar, and so did ended transfers that
    never moved a byte; "Accepted on another device" and the user's own Decline were red;
    a short file name made a card so narrow that "Waiting for bob to accept" wrapped."""
    from messenger.client.conversations import peer_key
    from messenger.client.transfers import RECEIVE, SEND, Transfer
    from messenger.gui.transfers import _WIDE_STATUS

    alice = open_window("alice")
    ctrl = alice.transfers
    S = TransferState
    cases = {  # key: (direction, state, extra fields, bar shown, busy, red)
        "waiting": (SEND, S.WAITING, {}, False, False, False),
        "preparing": (SEND, S.PREPARING, {}, True, True, False),
        "connecting": (RECEIVE, S.CONNECTING, {"accepted": True}, True, True, False),
        "resuming": (RECEIVE, S.CONNECTING, {"accepted": True, "done": 400}, True, False,
                     False),
        "active": (SEND, S.ACTIVE, {"done": 300}, True, False, False),
        "failed-part": (RECEIVE, S.FAILED, {"done": 300, "error": "x"}, True, False, True),
        "failed-none": (SEND, S.FAILED, {"error": "x"}, False, False, True),
        "refused": (SEND, S.DECLINED, {"by_peer": True}, False, False, True),
        "declined-here": (RECEIVE, S.DECLINED, {}, False, False, False),
        "cancelled-there": (RECEIVE, S.CANCELLED, {"by_peer": True}, False, False, True),
        "elsewhere": (RECEIVE, S.CANCELLED, {"error": "accepted on another device"}, False,
                      False, False),
    }
    for key, (direction, state, extra, *_) in cases.items():
        ctrl._add(Transfer(key=key, direction=direction, peer="bob",
                           conversation=peer_key("bob"), name="a.txt", size=1000,
                           state=state, sha256="ab" * 32, **extra), announce=False)
    alice.resize(900, 700)
    tab = alice.open_conversation("bob")
    red = theme.error_style()
    for key, (_d, _s, _e, bar, busy, is_red) in cases.items():
        qtbot.waitUntil(lambda k=key: isinstance(tab.card(k), TransferCard))
        card = tab.card(key)
        card.refresh()
        assert card.progress.isVisibleTo(card) is bar, key
        assert (card.progress.maximum() == 0) is busy, key
        assert (card.status_label.styleSheet() == red) is is_red, key
    card = tab.card("waiting")
    # A card says when, as a bubble does (it had no time at all).
    when = time.strftime("%H:%M", time.localtime(ctrl.get("waiting").created))
    assert card.info_label.text() == f"1000 bytes · to bob · {when}"
    want = card.status_label.fontMetrics().horizontalAdvance(_WIDE_STATUS)
    qtbot.waitUntil(lambda: card.frame.width() >= want)
    assert card.status_label.text() == "Waiting for bob to accept"
    assert card.status_label.heightForWidth(card.status_label.width()) <= \
        card.status_label.fontMetrics().lineSpacing() + 2  # one line


def test_a_file_dragged_over_a_tab_says_what_a_drop_will_do(qtbot, open_window, tmp_path):
    """Nothing changed on screen while files were dragged over a conversation: an overlay
    now says where they will go, or why they cannot, and goes when the drag leaves."""
    from PySide6.QtGui import QDragLeaveEvent

    open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    tab = alice.open_conversation("bob")
    path = tmp_path / "notes.txt"
    path.write_text("notes")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(tab.rect().center(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(tab, enter)
    assert enter.isAccepted()
    assert tab.drop_overlay.isVisible()
    assert tab.drop_overlay.text() == "Drop to send the file to bob"
    assert tab.view.rect().contains(tab.drop_overlay.geometry())
    QApplication.sendEvent(tab, QDragLeaveEvent())
    assert not tab.drop_overlay.isVisible()
    everyone = alice.conversation_widget(EVERYONE)
    assert everyone.drop_text([str(path)]).startswith("Files go to a person or a group")
    assert tab.drop_text([]).startswith("Only files from this computer")
    assert alice.open_conversation("charlie").drop_text([str(path)]).startswith(
        "charlie is offline")  # as the drop would say
    assert drop(tab, path) and not tab.drop_overlay.isVisible()  # a drop ends it too


def test_dragging_a_folder_or_a_device_says_it_cannot_be_sent_before_the_drop(
        qtbot, open_window, tmp_path):
    """A folder, a pipe or /dev/zero dragged over a conversation (or a contact's row): the
    overlay said "Drop to send the file to bob", and the drop then said it could not be
    sent. While dragged it says why, as the drop does; files among them that can go are
    counted."""
    open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    tab = alice.open_conversation("bob")
    folder = tmp_path / "photos"
    folder.mkdir()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    said = tab.drop_text([str(folder)])
    assert said.startswith("“photos” is a folder: only files can be sent"), said
    assert "regular file" in tab.drop_text(["/dev/zero"])
    both = tab.drop_text([str(pipe), str(folder)])
    assert "“pipe”" in both and "“photos”" in both, both
    some = tab.drop_text([str(notes), str(folder)])
    assert some.startswith("Drop to send 1 of the 2 files to bob"), some
    assert "“photos” is a folder" in some, some
    assert tab.drop_text([str(notes)]) == "Drop to send the file to bob"
    # (the contact's row says it in the status bar, with no tab open)
    alice.close_tab(alice.tabs.indexOf(tab))
    assert alice.conversation_widget(peer_key("bob")) is None
    assert alice.drop_hint(peer_key("bob"), "bob", [str(folder)]) == said


def test_a_file_sent_to_a_group_is_one_card_on_the_senders_side(qtbot, open_window, tmp_path):
    """A file dropped on a group's tab made one card per member on the sender's side (a
    teacher's class of 30 filled the tab with 30 cards). Now it is one card that sums them
    up ("Sent to 1 of 2 · 1 declined"), with each member in its tooltip; also after a
    restart. The Transfers panel still lists each member's transfer."""
    from messenger.client.conversations import group_key

    alice, bob, charlie = open_window("alice"), open_window("bob"), open_window("charlie")
    with qtbot.waitSignal(charlie.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("Lab", ["bob", "charlie"])
    for member in (bob, charlie):
        with qtbot.waitSignal(member.engine.group_joined, timeout=10_000):
            member.engine.accept_invitation("Lab")
    qtbot.waitUntil(lambda: len(alice.engine.groups.group("Lab").members) == 3)
    path = tmp_path / "worksheet.pdf"
    path.write_bytes(b"%PDF" + b"x" * 20_000)
    with qtbot.waitSignals([bob.transfers.transfer_added, charlie.transfers.transfer_added],
                           timeout=10_000):
        assert alice.send_files(group_key("Lab"), [str(path)])
    model = alice.engine.group_conversation("Lab")
    cards = [i.transfer for i in model.items() if i.kind is MessageKind.TRANSFER]
    assert len(cards) == 1 and alice.transfers.model.rowCount() == 2
    card = alice.conversation_widget(group_key("Lab")).card(cards[0])
    assert isinstance(card, TransferCard)
    sends = [t.key for t in alice.transfers.model.transfers()]
    assert all(alice.conversation_widget(group_key("Lab")).card(k) is card for k in sends)
    assert card.status_label.text() == "Sent to 0 of 2 · 2 waiting to accept"

    (bob_key,) = [t.key for t in bob.transfers.model.transfers()]
    (charlie_key,) = [t.key for t in charlie.transfers.model.transfers()]
    assert bob.transfers.accept(bob_key) is None
    assert charlie.transfers.decline(charlie_key, "not now")
    qtbot.waitUntil(lambda: card.status_label.text() == "Sent to 1 of 2 · 1 declined",
                    timeout=10_000)
    assert sha256_of(Path(bob.transfers.get(bob_key).path)) == sha256_of(path)
    tip = card.status_label.toolTip()
    assert "bob: Sent to bob" in tip and "charlie: charlie declined it: not now" in tip
    assert card.info_label.text().startswith("19.5 KB · to bob, charlie · ")
    assert not card.cancel_button.isVisible() and not card.resume_button.isVisible()
    # A restart of alice's app (the same store): still one card, as it ended.
    again = open_window("alice")
    items = [i for i in again.engine.group_conversation("Lab").items()
             if i.kind is MessageKind.TRANSFER]
    assert [i.transfer for i in items] == cards
    assert again.transfers.get(cards[0]).members[1].state is TransferState.DECLINED
    assert status_text_of(again, cards[0]) == "Sent to 1 of 2 · 1 declined"


def status_text_of(window, key: str) -> str:
    from messenger.client.transfers import status_text

    return status_text(window.transfers.get(key))


def test_a_file_deleted_before_it_is_accepted_does_not_show_its_folder(qtbot, open_window,
                                                                      tmp_path):
    """The sender's file went away before the accept: the recipient's card read "Cancelled
    by alice: cannot send: /home/alice/…/Medical/scan.pdf" (a folder name can be private: a
    hunt). Both cards say it in words."""
    bob_window, alice_window = open_window("bob"), open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    private = tmp_path / "alice-private-Medical"
    private.mkdir()
    src = private / "scan.pdf"
    src.write_bytes(b"%PDF" * 1000)
    tab = alice_window.open_conversation("bob")
    with qtbot.waitSignal(bob_window.transfers.transfer_added, timeout=10_000) as added:
        assert drop(tab, src)
    key = added.args[0]
    send_key = alice_window.transfers.model.index(0, 0).data(
        alice_window.transfers.model.IdRole)
    src.unlink()
    qtbot.waitUntil(lambda: bob_window.conversation_widget("alice") is not None)
    card = bob_window.open_conversation("alice").card(key)
    qtbot.waitUntil(card.accept_button.isVisible)
    qtbot.mouseClick(card.accept_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bob_window.transfers.get(key).final
                    and alice_window.transfers.get(send_key).final, timeout=20_000)
    for text in (card.status_label.text(), bob_window.transfers.get(key).error or "",
                 tab.card(send_key).status_label.text()):
        assert "Medical" not in text and "scan.pdf" not in text, text
    assert "deleted or moved" in alice_window.transfers.get(send_key).error


def test_open_on_a_received_file_deleted_since_says_so(qtbot, open_window, tmp_path,
                                                      monkeypatch):
    """Open asked the desktop to open a file deleted since (in the file manager), and
    nothing was said (a hunt): the card says it is gone, and Open is off."""
    opened: list[str] = []
    monkeypatch.setattr(gui_transfers, "open_url",
                        lambda url: opened.append(url.toLocalFile()) or True)
    bob_window, alice_window = open_window("bob"), open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    src = tmp_path / "minutes.txt"
    src.write_text("minutes")
    key, card = received(qtbot, alice_window, bob_window, src)
    assert bob_window.transfers.get(key).folder == str(bob_window.transfers.download_dir)
    Path(bob_window.transfers.get(key).path).unlink()
    qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
    assert opened == []
    assert card.status_label.text() == "minutes.txt is no longer there: it was moved or deleted."
    assert not card.open_button.isEnabled()


def test_a_long_saved_name_wraps_on_the_card_instead_of_being_cut(qtbot, open_window,
                                                                  tmp_path):
    """A name without spaces ran past the card, and "Saved as <name> (1).pdf" — the only
    place that says which copy it is — was cut mid-word (a hunt): it wraps."""
    bob_window, alice_window = open_window("bob"), open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    name = ("Quarterly_financial_report_for_the_board_meeting_" * 4)[:150] + ".pdf"
    src = tmp_path / name
    src.write_bytes(b"%PDF")
    _key, card = received(qtbot, alice_window, bob_window, src)
    label = card.status_label
    qtbot.waitUntil(lambda: label.contentsRect().width() > 0)
    width = label.contentsRect().width()
    needed = label.fontMetrics().boundingRect(QRect(0, 0, width, 10_000),
                                              Qt.TextFlag.TextWordWrap, label.text())
    assert needed.width() <= width, (needed.width(), width)
    assert label.text().replace("\u200b", "") == f"Saved as {name}"
    # ... and its card's row is as tall as the lines it takes (the third was cut off).
    view = bob_window.conversation_widget("alice").view
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()))
    qtbot.waitUntil(lambda: view.visualRect(view.indexAt(card.geometry().center())).height()
                    >= card.row_height(card.width()))


def received(qtbot, alice_window, bob_window, src: Path):
    """alice drops ``src`` on her tab with bob, bob accepts it on its card, and it arrives:
    ``(bob's transfer key, his card)``."""
    with qtbot.waitSignal(bob_window.transfers.transfer_added, timeout=10_000) as added:
        assert drop(alice_window.open_conversation("bob"), src)
    key = added.args[0]
    qtbot.waitUntil(lambda: bob_window.conversation_widget("alice") is not None)
    card = bob_window.open_conversation("alice").card(key)
    qtbot.waitUntil(card.accept_button.isVisible)
    qtbot.mouseClick(card.accept_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bob_window.transfers.get(key).state is TransferState.DONE,
                    timeout=20_000)
    return key, card


def test_open_on_a_received_program_asks_before_running_it(qtbot, open_window, tmp_path,
                                                           monkeypatch):
    """Open on a received "invoice.pdf.exe" handed it straight to the desktop, which on
    Windows runs a program a peer chose, without a word (a hunt). The card asks first (as
    Telegram and Signal do): No leaves it closed, Yes opens it; a document opens at once."""
    opened: list[str] = []
    monkeypatch.setattr(gui_transfers, "open_url",
                        lambda url: opened.append(url.toLocalFile()) or True)
    asked: list[tuple[str, str]] = []
    answer = [False]
    monkeypatch.setattr(gui_transfers, "confirm_open_program",
                        lambda parent, name, peer: asked.append((name, peer)) or answer[0])
    bob_window, alice_window = open_window("bob"), open_window("alice")
    qtbot.waitUntil(lambda: alice_window.engine.roster.contact("bob").online)
    src = tmp_path / "invoice.pdf.exe"
    src.write_bytes(b"MZ" + b"\0" * 4000)
    key, card = received(qtbot, alice_window, bob_window, src)
    assert card.icon.accessibleName() == "Program"
    qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
    assert asked == [("invoice.pdf.exe", "alice")] and opened == []
    answer[0] = True
    qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
    assert opened == [bob_window.transfers.get(key).path]
    doc = tmp_path / "minutes.txt"
    doc.write_text("minutes")
    _key, doc_card = received(qtbot, alice_window, bob_window, doc)
    qtbot.mouseClick(doc_card.open_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 2 and opened[-1].endswith("minutes.txt")


def test_the_question_before_opening_a_program_defaults_to_not_running_it(qtbot):
    """The question names the file and who sent it; Enter or Esc does not run it."""
    seen: list[tuple[str, str]] = []

    def look() -> None:
        box = QApplication.activeModalWidget()
        seen.append((box.text(), box.defaultButton().text()))
        box.reject()

    QTimer.singleShot(0, look)
    assert not gui_transfers.confirm_open_program(None, "invoice.pdf.exe", "alice")
    text, default = seen[0]
    assert "invoice.pdf.exe" in text and "runs it" in text and default == "Cancel"
def _drop_on(widget, mime: QMimeData) -> QDropEvent:
    """Drag ``mime`` over ``widget`` and drop it there, as the window system delivers it
    (to the widget under the pointer; Qt passes what it ignores on to its parents)."""
    at = QPoint(10, 10)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(widget, QDragEnterEvent(at, Qt.DropAction.CopyAction, mime,
                                                   buttons, mods))
    QApplication.sendEvent(widget, QDragMoveEvent(at, Qt.DropAction.CopyAction, mime,
                                                  buttons, mods))
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(widget, drop)
    return drop


def test_a_web_link_dropped_on_the_compose_box_is_typed_not_refused(qtbot, open_window):
    """Dragging a link from the browser's address bar or a page onto the message box is
    how people put a link into what they write (and pasting the same link types it: see
    tests/gui/test_paste.py). Dropped on the box, it is refused with "Only files from this
    computer can be sent (not web links)" and nothing is typed: the box passes every drag
    that carries a URL on to the tab, which takes only files."""
    window = open_window("alice")
    tab = window.open_conversation("bob")
    link = QMimeData()
    link.setUrls([QUrl("https://example.org/page")])
    link.setText("https://example.org/page")
    _drop_on(tab.compose.viewport(), link)
    assert not tab.error_bar.isVisibleTo(tab), tab.error_label.text()
    assert tab.compose.toPlainText() == "https://example.org/page"


def test_accepting_a_file_with_the_keyboard_leaves_the_focus_on_its_card(qtbot, open_window,
                                                                         tmp_path):
    """Alice tabbed to a file card's Accept and pressed Space. Accept and Decline hid, and
    Qt moved the focus on to the next widget of the window: the "Filter contacts" box. Her
    next keys filtered the contact list and a screen reader said "Filter contacts" instead
    of the transfer (a hunt). The focus stays on the card, on the button it shows now."""
    bob = open_window("bob")
    alice = active(qtbot, open_window("alice"))
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    source = tmp_path / "notes.txt"
    source.write_text("hello " * 200)
    with qtbot.waitSignal(alice.transfers.transfer_added, timeout=10_000) as added:
        assert drop(bob.open_conversation("alice"), source)
    key = added.args[0]
    tab = alice.open_conversation("bob")
    active(qtbot, alice)
    card = tab.card(key)
    qtbot.waitUntil(card.accept_button.isVisible)
    card.accept_button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: alice.focusWidget() is card.accept_button)

    qtbot.keyClick(card.accept_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not card.accept_button.isVisible())

    focus = alice.focusWidget()
    assert focus is not alice.contacts_filter, "the focus jumped to the contacts filter"
    assert focus in (card.cancel_button, card.open_button), focus


def test_group_send_cards_in_the_transfers_panel_follow_their_transfer(qtbot, open_window,
                                                                       tmp_path):
    """A file sent in a group: the Transfers panel lists each member's send, but those
    cards never update: they say "Preparing…" after the file was delivered."""
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("Lab", ["bob"])
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("Lab")
    qtbot.waitUntil(lambda: len(alice.engine.groups.group("Lab").members) == 2)
    path = tmp_path / "worksheet.pdf"
    path.write_bytes(b"%PDF" + b"x" * 20_000)
    panel = alice.show_transfers()
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000) as added:
        assert alice.send_files(group_key("Lab"), [str(path)])
    (send,) = alice.transfers.model.transfers()
    card = panel.card(send.key)
    assert isinstance(card, TransferCard)
    assert bob.transfers.accept(added.args[0]) is None
    qtbot.waitUntil(lambda: alice.transfers.get(send.key).state is TransferState.DONE,
                    timeout=15_000)
    # The conversation's card says so…
    conv_card = alice.conversation_widget(group_key("Lab")).card(send.key)
    assert conv_card.status_label.text() == "Sent to bob"
    # …the panel's card for the same send must too.
    try:
        qtbot.waitUntil(lambda: card.status_label.text() == "Sent to bob", timeout=3_000)
    except qtbot.TimeoutError:
        raise AssertionError(f"the panel's card still says {card.status_label.text()!r}, "
                             f"Cancel shown: {card.cancel_button.isVisible()}") from None


def test_an_interrupted_send_at_99_7_percent_does_not_read_100_percent(qtbot, open_window,
                                                                       server, tmp_path):
    """The app was closed while sending, 997 of 1000 KB across: after the restart the card
    shows the bar of what got through, with Resume. The bar read "100 %" for a file that
    has not arrived ("{permille / 10:.0f}" rounds 99.5–99.9 up)."""
    src = tmp_path / "report.pdf"
    size = 1000 * 1024
    src.write_bytes(b"%PDF" + b"x" * (size - 4))
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("send-1-old", "send", "bob", "bob", src.name, size,
                                       sha256_of(src), "application/pdf", str(src), "active",
                                       997 * 1024))
    store.close()
    window = open_window("alice")  # bob is offline: it waits
    card = window.open_conversation("bob").card("send-1-old")
    assert isinstance(card, TransferCard)
    assert window.transfers.get("send-1-old").state is TransferState.FAILED
    assert card.progress.isVisible()
    assert card.progress.text() == "99 %", card.progress.text()


def test_cancel_while_preparing_stops_reading_the_file(qtbot, open_window, tmp_path):
    """Two big files dropped by mistake (a slow USB stick), Cancel on both cards while they
    say "Preparing… (checking the file)": the app goes on reading both to the end for the
    hash nobody needs, and the next file dropped, a few bytes, sits in "Preparing…" behind
    them (two hashing threads, both busy with cancelled files). Read to the end, the two
    files here would hold both threads for many seconds."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    tab = alice.open_conversation("bob")
    big = []
    for n in range(2):
        path = tmp_path / f"backup{n}.img"
        with open(path, "wb") as f:
            f.truncate(3 * 1024 ** 3)  # sparse: no disk used, but seconds to read
        big.append(path)
    assert drop(tab, *big)
    keys = [t.key for t in alice.transfers.model.transfers()]
    assert len(keys) == 2
    for key in keys:
        card = tab.card(key)
        assert card.status_label.text().startswith("Preparing")
        qtbot.mouseClick(card.cancel_button, Qt.MouseButton.LeftButton)
        assert alice.transfers.get(key).state is TransferState.CANCELLED
    small = tmp_path / "note.txt"
    small.write_text("the right file\n")
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=2_000):
        assert drop(tab, small)


def tab_until(qtbot, target: QWidget, most: int = 40) -> list[QWidget]:
    """Press Tab from the focused widget until ``target`` has the focus (at most ``most``
    times); the widgets the focus went to, in order."""
    seen: list[QWidget] = []
    for _ in range(most):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
        if target in seen:
            break
    return seen


def test_tab_from_the_transfers_list_reaches_a_cards_accept_button(qtbot, open_window,
                                                                   tmp_path):
    """Ctrl+Shift+T puts the focus on the Transfers list; Tab should reach the card's
    Accept button (keyboard users answer an offer from the panel). Placed on its row, the
    card came last in the window's tab order: Tab went through the conversation's compose
    box and buttons first."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000) as added:
        assert drop(alice.open_conversation("bob"), src)
    active(qtbot, bob)
    panel = bob.show_transfers()
    card = panel.card(added.args[0])
    qtbot.waitUntil(card.accept_button.isVisible)
    panel.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
    qtbot.waitUntil(panel.view.hasFocus)
    seen = tab_until(qtbot, card.accept_button)
    names = [w.accessibleName() or type(w).__name__ for w in seen]
    assert card.accept_button in seen[:3], (seen.index(card.accept_button) + 1, names)
    qtbot.keyClick(card.accept_button, Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is panel.view


def test_a_file_dropped_on_a_contacts_row_is_offered_to_them(qtbot, open_window, tmp_path):
    """Dragging a file onto bob's row in the contact list (as in IP Messenger and most LAN
    chat tools) is refused by the list with a no-entry cursor and not a word of why: only a
    conversation's tab takes files."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    view = alice.roster_view
    proxy = view.model()
    rows = [proxy.index(r, 0) for r in range(proxy.rowCount())]
    (row,) = [i for i in rows if "bob" in str(i.data(Qt.ItemDataRole.DisplayRole))]
    rect = view.visualRect(row)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    pos = rect.center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted(), "the contact list does not take a dropped file"
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000):
        QApplication.sendEvent(view.viewport(), QDropEvent(
            QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier))
    assert alice.tabs.currentWidget() is alice.conversation_widget("bob")


def test_a_file_dropped_on_a_conversations_tab_header_is_taken(qtbot, open_window, tmp_path):
    """Dragging a file onto the tab header of bob's conversation (another tab is current),
    as in a browser or a tabbed chat app: the tab bar refused it without a word. The drop
    brings bob's tab to the front and sends the file from there."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    alice.open_conversation("bob")
    alice.open_conversation("charlie")  # current: charlie's tab
    bar = alice.tabs.tabBar()
    (index,) = [i for i in range(alice.tabs.count())
                if alice.tabs.widget(i) is alice.conversation_widget("bob")]
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    pos = bar.tabRect(index).center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(bar, enter)
    assert enter.isAccepted(), "the tab bar does not take a dropped file"
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000):
        QApplication.sendEvent(bar, QDropEvent(
            QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier))
    assert alice.tabs.currentWidget() is alice.conversation_widget("bob")


def test_a_file_dropped_on_an_offline_contacts_row_says_why_it_is_not_sent(qtbot,
                                                                           open_window,
                                                                           tmp_path):
    """A drop on a contact's row says what a drop on their tab says: while dragged, the
    status bar says charlie is offline; dropped, charlie's tab opens with the reason in its
    error bar (a drop there was refused silently)."""
    alice = open_window("alice")
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    view = alice.roster_view
    proxy = view.model()
    (row,) = [proxy.index(r, 0) for r in range(proxy.rowCount())
              if proxy.index(r, 0).data(Qt.ItemDataRole.DisplayRole) == "charlie"]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    pos = view.visualRect(row).center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    assert alice.statusBar().currentMessage().startswith("charlie is offline")
    dropped = QDropEvent(QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime,
                         Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), dropped)
    assert dropped.isAccepted()
    tab = alice.conversation_widget(peer_key("charlie"))
    assert tab is not None and alice.tabs.currentWidget() is tab
    assert tab.error_bar.isVisible() and tab.error_label.text().startswith("charlie is offline")
    assert alice.statusBar().currentMessage() == ""
    assert not alice.transfers.model.transfers()


def test_a_file_dropped_on_a_groups_row_is_offered_to_its_members(qtbot, open_window,
                                                                  tmp_path):
    """As on a contact's row: a file dropped on the Lab group's row in the group list goes
    to its members, from the group's tab, which the drop opens."""
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("Lab", ["bob"])
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("Lab")
    qtbot.waitUntil(lambda: len(alice.engine.groups.group("Lab").members) == 2)
    src = tmp_path / "worksheet.pdf"
    src.write_bytes(b"%PDF" + b"x" * 1000)
    view = alice.groups_view
    (row,) = [view.model().index(r, 0) for r in range(view.model().rowCount())]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    pos = view.visualRect(row).center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    assert alice.statusBar().currentMessage() == \
        "Drop to send the file to the members of Lab who are online"
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000):
        QApplication.sendEvent(view.viewport(), QDropEvent(
            QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier))
    assert alice.tabs.currentWidget() is alice.conversation_widget(group_key("Lab"))


def test_tab_from_a_conversations_message_list_reaches_its_cards_buttons(qtbot, open_window,
                                                                         tmp_path):
    """In bob's conversation with alice, the file card of her offer sits on a row of the
    message list; Tab from the list should reach its Accept button. Placed on its row, the
    card came last in the window's tab order: Tab went through the message box, Attach,
    Send and the rest of the window first (Shift+Tab back the same way)."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000) as added:
        assert drop(alice.open_conversation("bob"), src)
    active(qtbot, bob)
    qtbot.waitUntil(lambda: bob.conversation_widget("alice") is not None)
    tab = bob.open_conversation("alice")
    card = tab.card(added.args[0])
    qtbot.waitUntil(card.accept_button.isVisible)
    tab.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
    qtbot.waitUntil(tab.view.hasFocus)
    seen = tab_until(qtbot, card.accept_button)
    names = [w.accessibleName() or type(w).__name__ for w in seen]
    assert card.accept_button in seen[:2], (names, seen.index(card.accept_button) + 1)
    qtbot.keyClick(card.accept_button, Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is tab.view


def test_tab_into_the_transfers_list_scrolls_to_the_card_it_reaches(qtbot, open_window,
                                                                     server, tmp_path):
    """Thirty files sent before a restart: the Transfers panel opens on the newest; Tab from
    the list went to the oldest card's Open button, scrolled 2,500 pixels out of sight, and
    on through cards the user could not see."""
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    for i in range(30):
        src = tmp_path / f"file{i:02}.txt"
        src.write_text(f"file {i}\n")
        store.save_transfer(TransferRecord(
            f"send-{i}-old", "send", "bob", "bob", src.name, src.stat().st_size,
            sha256_of(src), "text/plain", str(src), "done", src.stat().st_size,
            created=1_700_000_000 + i))
    store.close()
    window = active(qtbot, open_window("alice"))
    panel = window.show_transfers()
    view = panel.view
    viewport = view.viewport()

    def in_sight(widget: QWidget) -> bool:
        return viewport.rect().contains(widget.mapTo(viewport, widget.rect().center()))

    qtbot.waitUntil(lambda: in_sight(panel.card("send-29-old").open_button))
    view.setFocus(Qt.FocusReason.ShortcutFocusReason)
    qtbot.waitUntil(view.hasFocus)
    oldest = panel.card("send-0-old")
    seen = tab_until(qtbot, oldest.folder_button, most=2)
    assert seen == [oldest.open_button, oldest.folder_button]
    qtbot.waitUntil(lambda: in_sight(oldest.folder_button))
    newest = panel.card("send-29-old")  # and back up from the end of the chain
    newest.folder_button.setFocus(Qt.FocusReason.OtherFocusReason)
    view.scrollToTop()
    qtbot.keyClick(newest.folder_button, Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is newest.open_button
    qtbot.waitUntil(lambda: in_sight(newest.open_button))


def test_resume_on_a_send_whose_file_went_since_says_so(qtbot, open_window, server,
                                                        tmp_path):
    """A failed send showed Resume; its file was deleted afterwards (the card drawn before):
    a click on Resume did nothing at all, the button stayed, and the card still offered
    it."""
    src = tmp_path / "report.pdf"
    src.write_bytes(b"%PDF" + b"x" * 5000)
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    store.save_transfer(TransferRecord("send-1-old", "send", "bob", "bob", src.name, 5004,
                                       sha256_of(src), "application/pdf", str(src), "failed",
                                       2000, "connection lost"))
    store.close()
    open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    card = window.show_transfers().card("send-1-old")
    qtbot.waitUntil(card.resume_button.isVisible)
    src.unlink()
    qtbot.mouseClick(card.resume_button, Qt.MouseButton.LeftButton)
    assert not card.resume_button.isVisible()
    assert card.status_label.text() == ("Failed: connection lost, and the file is no longer "
                                        "there (moved or deleted)")
    assert window.transfers.get("send-1-old").state is TransferState.FAILED


def test_a_new_transfer_does_not_pull_the_panel_away_from_older_cards(qtbot, open_window,
                                                                      server, tmp_path):
    """Scrolled up in the Transfers panel to open an older file, the list jumped to the end
    when a file came in, the mouse then over another card; at the end, new ones should
    still scroll into view."""
    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "alice"))
    for i in range(30):
        src = tmp_path / f"file{i:02}.txt"
        src.write_text(f"file {i}\n")
        store.save_transfer(TransferRecord(
            f"send-{i}-old", "send", "bob", "bob", src.name, src.stat().st_size,
            sha256_of(src), "text/plain", str(src), "done", src.stat().st_size,
            created=1_700_000_000 + i))
    store.close()
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: bob.engine.roster.contact("alice").online)
    panel = alice.show_transfers()
    view, bar = panel.view, panel.view.verticalScrollBar()
    viewport = view.viewport()

    def in_sight(widget: QWidget) -> bool:
        return viewport.rect().contains(widget.mapTo(viewport, widget.rect().center()))

    qtbot.waitUntil(lambda: in_sight(panel.card("send-29-old").open_button))
    view.scrollToTop()
    oldest = panel.card("send-0-old")
    qtbot.waitUntil(lambda: in_sight(oldest.open_button))
    new = tmp_path / "new.txt"
    new.write_text("new\n")
    with qtbot.waitSignal(alice.transfers.transfer_added, timeout=10_000) as added:
        assert drop(bob.open_conversation("alice"), new)
    qtbot.waitUntil(lambda: panel.card(added.args[0]) is not None)
    assert bar.value() == 0 and in_sight(oldest.open_button)

    view.scrollToBottom()  # at the end: the next one comes into view
    other = tmp_path / "other.txt"
    other.write_text("other\n")
    with qtbot.waitSignal(alice.transfers.transfer_added, timeout=10_000) as added:
        assert drop(bob.open_conversation("alice"), other)
    qtbot.waitUntil(lambda: in_sight(panel.card(added.args[0]).accept_button))

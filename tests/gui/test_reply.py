"""Reply with a quote: context menu → Reply, a bar over the compose box (✕ or Escape
cancels), the message goes with a "> sender: excerpt" line, and bubbles draw that line as a
quote block above the text."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from messenger.client.conversations import peer_key
from messenger.client.liveness import Backoff
from messenger.client.models import ChatItem, ConversationModel, MessageKind
from messenger.client.quotes import reply_text
from messenger.gui.conversation import ConversationWidget
from messenger.protocol import MAX_TEXT_LENGTH

from .conftest import texts, type_line


def reply_action(tab: ConversationWidget, row: int):
    return next((a for a in tab.message_menu(row).actions() if a.text() == "Reply"), None)


def replying_to_bob(qtbot, open_window, text: str):
    """bob sends alice ``text``; alice's tab with him, Reply chosen on it:
    ``(alice, bob, tab, row)``."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", text)
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER) == [text])
    model = alice.engine.conversation(peer_key("bob"))
    row = next(r for r in range(model.rowCount())
               if model.item(r).kind is MessageKind.OTHER)
    reply_action(tab, row).trigger()
    return alice, bob, tab, row


def test_reply_from_the_context_menu_sends_a_quote(qtbot, open_window):
    alice, bob, tab, row = replying_to_bob(qtbot, open_window, "see you\nat 5?")
    assert tab.reply_bar.isVisible()
    assert tab.reply_label.toolTip() == "↪ Replying to bob: see you at 5?"
    type_line(qtbot, alice, "/help", peer_key("bob"))  # a command is not the answer
    assert tab.reply_bar.isVisible()
    type_line(qtbot, alice, "on my way", peer_key("bob"))
    assert not tab.reply_bar.isVisible() and tab.reply_to is None
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["> bob: see you at 5?\non my way"])

    reply_action(tab, row).trigger()
    assert tab.reply_bar.isVisible()
    qtbot.keyClick(tab.compose, Qt.Key.Key_Escape)
    assert not tab.reply_bar.isVisible()
    type_line(qtbot, alice, "and a plain one", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)[-1:]
                    == ["and a plain one"])
    # Nothing to answer yet in an unsent message; none at all while the tab is closed.
    pending = ChatItem(MessageKind.OWN, "alice", "not stored yet")
    model = alice.engine.conversation(peer_key("bob"))
    model.append(pending)
    assert reply_action(tab, model.rowCount() - 1) is None
    tab.set_writable(False, "You left this group.")
    assert reply_action(tab, row) is None


def test_a_quote_is_drawn_above_the_text_and_its_links_are_not_the_body_s(qtbot):
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "hi", ts=1_700_000_000.0, seq=1))
    model.append(ChatItem(MessageKind.OTHER, "bob", "see https://body.example/x now",
                          ts=1_700_000_001.0, seq=2))
    model.append(ChatItem(MessageKind.OTHER, "bob",
                          reply_text("alice", "https://quoted.example/y",
                                     "see https://body.example/x now"),
                          ts=1_700_000_002.0, seq=3))
    tab = ConversationWidget(model)
    qtbot.addWidget(tab)
    tab.resize(600, 400)
    tab.show()
    qtbot.waitExposed(tab)
    plain = tab.view.visualRect(tab.proxy.index(1, 0))
    quoted = tab.view.visualRect(tab.proxy.index(2, 0))
    assert quoted.height() > plain.height()  # the quote block's line on top
    points = [QPoint(x, y) for y in range(quoted.top(), quoted.bottom(), 3)
              for x in range(quoted.left(), quoted.right(), 4)]
    found = {tab.link_at(p) for p in points}
    assert found == {None, "https://body.example/x"}


def test_a_reply_follows_an_edit_and_a_deletion_for_everyone(qtbot, open_window):
    """The quoted message is edited: the quote is the new text. It is deleted for everyone:
    the reply is cancelled, so the deleted text never goes out quoted."""
    from messenger.protocol import RETRACTED_TEXT

    alice = open_window("alice")
    bob = open_window("bob")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000) as acked:
        alice.engine.send_unicast("bob", "my pin is 4711")
    seq = acked.args[1]
    tab = bob.open_conversation("alice")
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["my pin is 4711"], timeout=10_000)
    reply_action(tab, tab.model.row_of_seq(seq)).trigger()
    assert tab.reply_bar.isVisible()
    assert alice.engine.edit(seq, peer_key("bob"), "my pin is secret")
    qtbot.waitUntil(lambda: tab.reply_label.toolTip()
                    == "↪ Replying to alice: my pin is secret", timeout=10_000)
    alice.engine.retract(seq, peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == [RETRACTED_TEXT], timeout=10_000)
    assert not tab.reply_bar.isVisible() and tab.reply_to is None
    type_line(qtbot, bob, "ok", peer_key("alice"))
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER) == ["ok"],
                    timeout=10_000)


def test_a_reply_too_long_with_its_quote_stays_in_the_box(qtbot, open_window):
    """The box checked the typed text's length, the quote line was added after it, the
    engine refused the whole, and the box had been cleared: what was typed was gone (a
    hunt). The length counts the quote: the text stays, with the reply, and the bar says
    why."""
    alice, _, tab, _ = replying_to_bob(qtbot, open_window, "can you paste the whole log?")
    log = ("line of the build log " * 800)[:MAX_TEXT_LENGTH - 10]  # (fits without the quote)
    tab.compose.setPlainText(log)
    tab.compose.submit()
    assert tab.compose.toPlainText() == log
    assert tab.reply_to == ("bob", "can you paste the whole log?")
    assert tab.error_bar.isVisibleTo(tab)
    assert texts(alice, peer_key("bob"), MessageKind.OWN) == []
    tab.compose.setPlainText(log[:MAX_TEXT_LENGTH - 100])  # shortened: it goes, quoted
    tab.compose.submit()
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OWN) == [
        reply_text("bob", "can you paste the whole log?", log[:MAX_TEXT_LENGTH - 100])])


def test_a_reply_being_written_survives_closing_its_tab_and_the_app(qtbot, open_window):
    """The draft came back, the "Replying to bob" bar did not: it went out as a plain
    message, its quote dropped unsaid (a hunt)."""
    alice, bob, tab, _row = replying_to_bob(qtbot, open_window, "see you at 5?")
    qtbot.keyClicks(tab.compose, "on my way")
    alice.close_tab(alice.tabs.indexOf(tab))
    tab = alice.open_conversation("bob")
    assert tab.draft() == "on my way" and tab.reply_to == ("bob", "see you at 5?")
    alice.close()  # (saves the drafts with the session)

    again = open_window("alice")
    tab = again.conversation_widget(peer_key("bob"))
    assert tab is not None and tab.draft() == "on my way"
    assert tab.reply_to == ("bob", "see you at 5?") and tab.reply_bar.isVisibleTo(tab)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["> bob: see you at 5?\non my way"])


def test_a_restored_reply_to_a_message_older_than_the_loaded_page_stays(qtbot, open_window):
    """After a restart only the newest page is loaded: the answered message was taken for
    deleted at the next change of the conversation, and the reply went plain (a review)."""
    alice, bob, tab, _row = replying_to_bob(qtbot, open_window, "the first question")
    for n in range(60):
        bob.engine.send_unicast("alice", f"more {n}")
    qtbot.waitUntil(lambda: len(texts(alice, peer_key("bob"), MessageKind.OTHER)) == 61,
                    timeout=20_000)
    # All read before the quit (on a loaded machine the list could be off its end when the
    # last ones came, which leaves them unread; the restart then opened at the first unread,
    # loading the older page this test needs not loaded).
    tab.view.scrollToBottom()
    qtbot.waitUntil(lambda: alice.engine.unread(peer_key("bob")) == 0, timeout=10_000)
    qtbot.keyClicks(tab.compose, "the answer")
    alice.close()
    again = open_window("alice")
    tab = again.conversation_widget(peer_key("bob"))
    assert tab.reply_to == ("bob", "the first question")
    assert tab.model.row_of_seq(tab._reply_seq) is None  # (not loaded)
    last = next(i for i in reversed(bob.engine.conversation(peer_key("alice")).items())
                if i.kind is MessageKind.OWN)
    bob.engine.edit(last.seq, peer_key("alice"), "more 59, edited")
    qtbot.waitUntil(lambda: "more 59, edited" in texts(again, peer_key("bob"),
                                                        MessageKind.OTHER))
    assert tab.reply_to == ("bob", "the first question")


def test_a_reply_kept_with_a_closed_tab_follows_an_edit_and_a_deletion_made_meanwhile(
        qtbot, open_window):
    """bob starts a reply to alice's "my pin is 4711" and closes the tab (the draft and the
    reply are kept). alice edits the message, then deletes it for everyone. bob reopened the
    tab: the "Replying to alice: my pin is 4711" bar was back, and Enter sent the deleted
    text quoted to alice (the reply followed the message only while a tab listened; a hunt).
    A reply put back follows the message as it is now: the new text, then no reply."""
    from messenger.protocol import RETRACTED_TEXT

    alice = open_window("alice")
    bob = open_window("bob")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000) as acked:
        alice.engine.send_unicast("bob", "my pin is 4711")
    seq = acked.args[1]
    tab = bob.open_conversation("alice")
    qtbot.waitUntil(lambda: tab.model.row_of_seq(seq) is not None, timeout=10_000)
    reply_action(tab, tab.model.row_of_seq(seq)).trigger()
    qtbot.keyClicks(tab.compose, "ok, noted")
    bob.close_tab(bob.tabs.indexOf(tab))
    model = bob.engine.conversation(peer_key("alice"))
    alice.engine.edit(seq, peer_key("bob"), "my pin is secret")
    qtbot.waitUntil(lambda: model.item(model.row_of_seq(seq)).text == "my pin is secret",
                    timeout=10_000)
    tab = bob.open_conversation("alice")
    assert tab.reply_to == ("alice", "my pin is secret")
    bob.close_tab(bob.tabs.indexOf(tab))
    alice.engine.retract(seq, peer_key("bob"))
    qtbot.waitUntil(lambda: model.item(model.row_of_seq(seq)).text == RETRACTED_TEXT,
                    timeout=10_000)
    tab = bob.open_conversation("alice")
    assert tab.draft() == "ok, noted"
    assert tab.reply_to is None and not tab.reply_bar.isVisibleTo(tab)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER) == ["ok, noted"],
                    timeout=10_000)


def test_a_reply_whose_text_starts_with_a_slash_keeps_its_quote(qtbot, open_window):
    """``//text`` is documented as sending "/text" as it is: plain text, not a command.
    Written as a reply (a path, "//etc/hosts is the one"), it goes without its quote line,
    and the reply bar stays up, so the *next*, unrelated message goes out as the answer
    quoting bob. ConversationWidget._as_sent treats every text starting with "/" as a
    command, "//" included."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "which file was it?")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)
                    == ["which file was it?"])
    model = alice.engine.conversation(peer_key("bob"))
    row = next(r for r in range(model.rowCount()) if model.item(r).kind is MessageKind.OTHER)
    next(a for a in tab.message_menu(row).actions() if a.text() == "Reply").trigger()
    type_line(qtbot, alice, "//etc/hosts, that one", peer_key("bob"))
    qtbot.waitUntil(lambda: len(texts(bob, peer_key("alice"), MessageKind.OTHER)) == 1)
    got = texts(bob, peer_key("alice"), MessageKind.OTHER)
    assert got == ["> bob: which file was it?\n/etc/hosts, that one"], got
    assert not tab.reply_bar.isVisible()


def test_copy_text_of_a_reply_copies_what_the_bubble_says_not_the_quote_line(
        qtbot, open_window):
    """A reply's bubble shows the quote as a block above the answer. Right-click → Copy
    text puts on the clipboard the raw text with its "> bob: …" line in front, so what is
    pasted elsewhere starts with a line the user never wrote (message_menu copies
    ``item.text``)."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "see you at 5?")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)
                    == ["see you at 5?"])
    model = alice.engine.conversation(peer_key("bob"))
    row = next(r for r in range(model.rowCount()) if model.item(r).kind is MessageKind.OTHER)
    next(a for a in tab.message_menu(row).actions() if a.text() == "Reply").trigger()
    type_line(qtbot, alice, "on my way", peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    menu = tab.message_menu(model.rowCount() - 1)
    next(a for a in menu.actions() if a.text() == "Copy text").trigger()
    assert QGuiApplication.clipboard().text() == "on my way"


def test_ctrl_c_in_the_message_list_copies_what_the_bubble_says(qtbot, open_window):
    """Ctrl+C on the current message of the list (reached with Shift+Tab, moved with the
    arrows) put the raw text on the clipboard, the "> bob: …" quote line of a reply in
    front, while the menu's Copy text left it out (Qt's list copies the display text; a
    hunt). Both copy the same: what the bubble says."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "see you at 5?")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)
                    == ["see you at 5?"])
    model = alice.engine.conversation(peer_key("bob"))
    row = next(r for r in range(model.rowCount()) if model.item(r).kind is MessageKind.OTHER)
    next(a for a in tab.message_menu(row).actions() if a.text() == "Reply").trigger()
    type_line(qtbot, alice, "on my way", peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    QGuiApplication.clipboard().setText("")
    tab.view.setFocus()
    tab.view.setCurrentIndex(tab.proxy.index(model.rowCount() - 1, 0))
    qtbot.keyClick(tab.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "on my way"
    qtbot.keyClick(tab.view, Qt.Key.Key_Up)  # bob's message: no quote, all of it
    qtbot.keyClick(tab.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "see you at 5?"


def test_the_too_long_bar_stays_until_the_reply_fits_with_its_quote(qtbot, open_window):
    """Shortened to fit without its quote line, a reply still too long with it lost its
    "Too long to send" bar, and Enter brought the bar back: the bar went by the typed length,
    Enter by the length sent. Both count what goes out; cancelling the reply makes it fit."""
    _alice, _, tab, _ = replying_to_bob(qtbot, open_window, "can you paste the whole log?")
    log = ("line of the build log " * 800)[:MAX_TEXT_LENGTH + 50]
    tab.compose.setPlainText(log)
    tab.compose.submit()
    assert tab.error_label.text().startswith("Too long to send")
    tab.compose.setPlainText(log[:MAX_TEXT_LENGTH - 10])  # (fits only without the quote)
    assert tab.error_bar.isVisibleTo(tab)
    tab.compose.setPlainText(log[:MAX_TEXT_LENGTH] + "\n\n  ")  # (blank end: not sent)
    assert tab.error_bar.isVisibleTo(tab)
    tab.cancel_reply()
    assert not tab.error_bar.isVisibleTo(tab)


def click_quote(qtbot, tab: ConversationWidget, row: int) -> None:
    """Click the quote block of the reply at ``row`` (on screen), as a user would."""
    tab.view.scrollTo(tab.proxy.index(row, 0))
    rect = tab.view.visualRect(tab.proxy.index(row, 0))
    pos = next((QPoint(x, y) for y in range(rect.top(), rect.bottom(), 2)
                for x in range(rect.left(), rect.right(), 8)
                if tab.quote_at(QPoint(x, y)) == row), None)
    assert pos is not None, "no quote block drawn"
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def on_screen(tab: ConversationWidget, row: int) -> bool:
    return tab.view.visualRect(tab.proxy.index(row, 0)).intersects(tab.view.viewport().rect())


def test_a_click_on_a_quote_goes_to_the_quoted_message_far_back(qtbot, open_window):
    """Telegram, Signal and Element go to the quoted message when its quote is clicked; here
    the quote block did nothing. bob asked "ok?" twice, then 60 more lines came; alice
    answered the second "ok?", restarted the app (only the newest page loaded) and clicked
    her reply's quote: the second "ok?" is loaded, made current, on screen and outlined
    for a moment. Enter on the reply and its menu item do the same; another "ok?" after the
    reply is not it."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "ok?")
    bob.engine.send_unicast("alice", "ok?")
    for n in range(60):
        bob.engine.send_unicast("alice", f"more {n}")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: len(texts(alice, peer_key("bob"), MessageKind.OTHER)) == 62,
                    timeout=20_000)
    model = alice.engine.conversation(peer_key("bob"))
    quoted = [i.seq for i in model.items() if i.text == "ok?"][1]
    reply_action(tab, model.row_of_seq(quoted)).trigger()
    type_line(qtbot, alice, "yes", peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    bob.engine.send_unicast("alice", "ok?")  # after the reply: not the one it answers
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)[-1] == "ok?")
    tab.view.scrollToBottom()
    qtbot.waitUntil(lambda: alice.engine.unread(peer_key("bob")) == 0, timeout=10_000)
    alice.close()

    again = open_window("alice")
    tab = again.open_conversation("bob")
    model = again.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() > 0)
    assert model.row_of_seq(quoted) is None  # (not loaded: an older page)
    reply_row = next(r for r in range(model.rowCount()) if model.item(r).text.endswith("\nyes"))
    click_quote(qtbot, tab, reply_row)
    row = model.row_of_seq(quoted)
    assert row is not None and tab.view.currentIndex().row() == row
    assert on_screen(tab, row) and tab.delegate.flash_seq == quoted
    qtbot.waitUntil(lambda: tab.delegate.flash_seq is None, timeout=5000)

    # Keyboard: Enter on the reply in the message list; its menu's item.
    reply_row = next(r for r in range(model.rowCount()) if model.item(r).text.endswith("\nyes"))
    tab.view.setFocus()
    tab.view.setCurrentIndex(tab.proxy.index(reply_row, 0))
    qtbot.keyClick(tab.view, Qt.Key.Key_Return)
    assert tab.view.currentIndex().row() == model.row_of_seq(quoted)
    menu = tab.message_menu(reply_row)
    go = next(a for a in menu.actions() if a.text() == "Go to the quoted message")
    tab.view.scrollToBottom()
    go.trigger()
    assert tab.view.currentIndex().row() == model.row_of_seq(quoted)
    assert on_screen(tab, model.row_of_seq(quoted))
    assert again.statusBar().currentMessage() == ""
    plain = next(r for r in range(model.rowCount()) if model.item(r).text == "more 3")
    assert not any(a.text() == "Go to the quoted message"
                   for a in tab.message_menu(plain).actions())


def test_a_quote_of_a_deleted_message_says_so_and_goes_nowhere(qtbot, open_window):
    """An edit of the quoted message after the reply: it is still gone to, and the status
    bar says it reads differently now. The quoted message deleted for everyone: no other
    message is gone to (the older one with the same words may not be it: the status bar
    says it cannot be told apart); both deleted: the status bar says the quoted message is
    not there any more."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "lunch?")
    bob.engine.send_unicast("alice", "lunch?")
    bob.engine.send_unicast("alice", "at noon")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: len(texts(alice, peer_key("bob"), MessageKind.OTHER)) == 3)
    model = alice.engine.conversation(peer_key("bob"))
    first, second, noon = [i.seq for i in model.items() if i.kind is MessageKind.OTHER]
    for seq, answer in ((second, "sure"), (noon, "fine")):
        reply_action(tab, model.row_of_seq(seq)).trigger()
        type_line(qtbot, alice, answer, peer_key("bob"))
        qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    sure = next(r for r in range(model.rowCount()) if model.item(r).text.endswith("\nsure"))
    fine = next(r for r in range(model.rowCount()) if model.item(r).text.endswith("\nfine"))

    bob.engine.edit(noon, peer_key("alice"), "at one")
    qtbot.waitUntil(lambda: "at one" in texts(alice, peer_key("bob"), MessageKind.OTHER))
    click_quote(qtbot, tab, fine)
    assert tab.view.currentIndex().row() == model.row_of_seq(noon)
    assert "edited after this reply" in alice.statusBar().currentMessage()

    bob.engine.retract(second, peer_key("alice"))
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER).count("lunch?")
                    == 1)
    click_quote(qtbot, tab, sure)
    assert tab.view.currentIndex().row() == sure  # (the one clicked: not the first "lunch?")
    assert tab.delegate.flash_seq is None
    assert "deleted or edited since this reply" in alice.statusBar().currentMessage()

    bob.engine.retract(first, peer_key("alice"))  # both gone now
    qtbot.waitUntil(lambda: "lunch?" not in texts(alice, peer_key("bob"), MessageKind.OTHER))
    click_quote(qtbot, tab, sure)
    assert tab.view.currentIndex().row() == sure
    assert alice.statusBar().currentMessage() == \
        "The quoted message is not in this conversation's history any more"


def test_a_quote_is_looked_for_in_older_pages_from_the_server(qtbot, open_window, tmp_path):
    """On another computer of the account only the newest page is there: the quoted
    message, further back, is fetched as scrolling up would (page by page from the server)
    and gone to."""
    _other, tab, model, reply_row = alice_on_a_laptop_after_a_reply_far_back(
        qtbot, open_window, tmp_path)
    click_quote(qtbot, tab, reply_row)
    qtbot.waitUntil(lambda: tab.delegate.flash_seq is not None, timeout=10_000)
    row = next(r for r in range(model.rowCount()) if model.item(r).text == "the question")
    assert tab.view.currentIndex().row() == row and on_screen(tab, row)


def test_a_quote_of_a_message_edited_since_is_gone_to_in_a_long_conversation(
        qtbot, open_window):
    """bob and alice had written more than ten pages before bob asked "see you at 5?";
    alice answered it, then bob edited it to "see you at 6?". After a restart, a click on
    her reply's quote loaded ten older pages and then said "The quoted message is not in
    this conversation's history any more", although it was right there (an edited one is
    gone to, with a word that it reads differently now): the page budget for the look-up
    in older pages replaced what was found with "not there"."""
    bob = open_window("bob")
    alice = open_window("alice")
    for n in range(600):
        bob.engine.send_unicast("alice", f"line {n}")
    bob.engine.send_unicast("alice", "see you at 5?")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)[-1:]
                    == ["see you at 5?"], timeout=60_000)
    model = alice.engine.conversation(peer_key("bob"))
    question = next(i.seq for i in model.items() if i.text == "see you at 5?")
    reply_action(tab, model.row_of_seq(question)).trigger()
    type_line(qtbot, alice, "sure", peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    bob.engine.edit(question, peer_key("alice"), "see you at 6?")
    qtbot.waitUntil(lambda: "see you at 6?" in texts(alice, peer_key("bob"),
                                                     MessageKind.OTHER))
    tab.view.scrollToBottom()
    qtbot.waitUntil(lambda: alice.engine.unread(peer_key("bob")) == 0, timeout=10_000)
    alice.close()

    again = open_window("alice")
    tab = again.open_conversation("bob")
    model = again.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: any(i.text.endswith("\nsure") for i in model.items()))
    reply_row = next(r for r in range(model.rowCount()) if model.item(r).text.endswith("\nsure"))
    click_quote(qtbot, tab, reply_row)
    qtbot.waitUntil(lambda: again.statusBar().currentMessage() != "", timeout=10_000)
    assert "edited after this reply" in again.statusBar().currentMessage()
    row = model.row_of_seq(question)
    assert row is not None and tab.view.currentIndex().row() == row
    assert tab.delegate.flash_seq == question


def test_a_quote_looked_for_when_the_link_dropped_does_not_jump_later(
        qtbot, open_window, tmp_path):
    """On another computer of the account, alice clicked a reply's quote whose message was
    further back, and the link dropped before the server's page came. Minutes later, back
    online, she scrolled up: the view jumped by itself to the message of that old click (the
    look-up waited for a page that never came, and took the next one). Now the look-up ends
    with the link, and scrolling up leaves the view where the user puts it."""
    other, tab, model, reply_row = alice_on_a_laptop_after_a_reply_far_back(
        qtbot, open_window, tmp_path, backoff=Backoff(0.05, 0.05))
    with qtbot.waitSignal(other.engine.login_succeeded, timeout=10_000):
        click_quote(qtbot, tab, reply_row)  # (the page is asked for …)
        other.engine._conn.drop("the network went")  # (… and the link goes first)
    reply_row = next(r for r in range(model.rowCount())
                     if model.item(r).text.endswith("\nthe answer"))
    tab.view.setCurrentIndex(tab.proxy.index(reply_row, 0))
    while "the question" not in [i.text for i in model.items()]:  # scrolling up
        qtbot.waitUntil(model.canFetchMore, timeout=10_000)
        with qtbot.waitSignal(model.older_done, timeout=10_000):
            model.fetchMore()
    assert tab.delegate.flash_seq is None
    assert model.item(tab.view.currentIndex().row()).text.endswith("\nthe answer")


def alice_on_a_laptop_after_a_reply_far_back(qtbot, open_window, tmp_path, **options):
    """bob asked "the question", then 70 more lines; alice answered it. On another computer
    of the account (``options`` for its engine) only the newest page is there:
    ``(other, tab, model, reply_row)``."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "the question")
    for n in range(70):
        bob.engine.send_unicast("alice", f"more {n}")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: len(texts(alice, peer_key("bob"), MessageKind.OTHER)) == 71,
                    timeout=20_000)
    model = alice.engine.conversation(peer_key("bob"))
    reply_action(tab, next(r for r in range(model.rowCount())
                           if model.item(r).text == "the question")).trigger()
    type_line(qtbot, alice, "the answer", peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)

    other = open_window("alice", data_dir=tmp_path / "laptop", **options)
    tab = other.open_conversation("bob")
    model = other.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: any(i.text.endswith("\nthe answer") for i in model.items()),
                    timeout=10_000)
    assert "the question" not in [i.text for i in model.items()]
    reply_row = next(r for r in range(model.rowCount())
                     if model.item(r).text.endswith("\nthe answer"))
    return other, tab, model, reply_row


def test_a_quote_clicked_while_an_older_page_comes_waits_for_it(qtbot, open_window, tmp_path):
    """alice scrolled to the top (an older page asked of the server) and at once clicked
    her reply's quote: the status bar said "The quoted message is not in this conversation's
    history any more" while the page with it was on its way (nothing more could be asked
    for meanwhile). Now the page is waited for, and the quoted message is gone to."""
    other, tab, model, reply_row = alice_on_a_laptop_after_a_reply_far_back(
        qtbot, open_window, tmp_path)
    model.fetchMore()  # (scrolled to the top: the page is asked for …)
    assert not model.canFetchMore()
    tab.go_to_quote(reply_row)  # (… and the quote clicked before it came)
    assert other.statusBar().currentMessage() == ""
    qtbot.waitUntil(lambda: tab.delegate.flash_seq is not None, timeout=10_000)
    row = next(r for r in range(model.rowCount()) if model.item(r).text == "the question")
    assert tab.view.currentIndex().row() == row and on_screen(tab, row)
    assert other.statusBar().currentMessage() == ""


def test_a_quote_looked_for_offline_says_to_connect(qtbot, open_window, tmp_path):
    """alice clicked her reply's quote on a laptop that has only the newest page, and the
    link dropped before the server's page came; clicked again while offline. Both times the
    status bar said "The quoted message is not in this conversation's history any more",
    which was false: the server has it. Now it says the message is further back than what is
    on this computer, and to connect to look for it."""
    offline = "The quoted message is further back than what is on this computer; " \
        "connect to look for it"
    other, tab, model, reply_row = alice_on_a_laptop_after_a_reply_far_back(
        qtbot, open_window, tmp_path, backoff=Backoff(600, 600))
    click_quote(qtbot, tab, reply_row)  # (the page is asked for …)
    assert tab.delegate.flash_seq is None
    with qtbot.waitSignal(model.older_done, timeout=10_000):
        other.engine._conn.drop("the network went")  # (… and the link goes first)
    assert not other.engine.logged_in
    assert other.statusBar().currentMessage() == offline
    assert tab.delegate.flash_seq is None

    other.statusBar().clearMessage()
    click_quote(qtbot, tab, reply_row)  # offline
    assert other.statusBar().currentMessage() == offline
    assert tab.delegate.flash_seq is None

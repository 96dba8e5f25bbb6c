"""When the app notifies of new messages and what the pop-up says (NotificationPolicy, no
widgets)."""

from __future__ import annotations

from messenger.client.notify import BODY_LIMIT, Notice, NotificationPolicy, NotificationPrefs


def test_nothing_while_the_window_is_active_or_for_muted_or_when_turned_off():
    policy = NotificationPolicy(NotificationPrefs(muted=frozenset({"u:carol"})))
    assert not policy.message("u:bob", "bob", "bob", "hi", window_active=True)
    assert not policy.message("u:carol", "carol", "carol", "hi", window_active=False)
    assert policy.flush() is None
    policy.prefs = NotificationPrefs(enabled=False)
    assert not policy.message("u:bob", "bob", "bob", "hi", window_active=False)
    assert policy.flush() is None


def test_one_message_shows_sender_and_text_and_opens_its_conversation():
    policy = NotificationPolicy()
    assert policy.message("u:bob", "bob", "bob", "lunch at\n12?", window_active=False)
    assert policy.flush() == Notice("bob", "lunch at 12?", "u:bob", 1)
    assert policy.flush() is None  # a new batch
    assert policy.message("u:bob", "bob", "bob", "> alice: lunch at 12?\nyes!",
                          window_active=False)
    assert policy.flush() == Notice("bob", "yes!", "u:bob", 1)  # a reply: not its quote


def test_a_burst_in_one_conversation_is_one_notice_with_the_last_text():
    policy = NotificationPolicy()
    assert policy.message("g:lab", "# lab", "bob", "first", window_active=False)
    assert not policy.message("g:lab", "# lab", "carol", "second", window_active=False)
    assert not policy.message("g:lab", "# lab", "bob", "x" * 500, window_active=False)
    notice = policy.flush()
    assert notice.title == "# lab (3 new messages)" and notice.key == "g:lab"
    assert notice.body.startswith("bob: xxx") and notice.body.endswith("…")
    assert len(notice.body) == BODY_LIMIT


def test_several_conversations_make_one_summary_that_opens_the_window():
    policy = NotificationPolicy()
    for key, title in [("u:a", "a"), ("u:b", "b"), ("u:a", "a"), ("u:c", "c"), ("u:d", "d"),
                       ("u:e", "e")]:
        policy.message(key, title, title, "hi", window_active=False)
    assert policy.flush() == Notice("6 new messages", "In a, b, c and 2 more", None, 6)


def test_private_mode_says_only_how_many():
    policy = NotificationPolicy(NotificationPrefs(show_text=False))
    policy.message("u:bob", "bob", "bob", "the secret plan", window_active=False)
    assert policy.flush() == Notice("Messenger", "New message", "u:bob", 1)
    policy.message("u:bob", "bob", "bob", "one", window_active=False)
    policy.message("u:eve", "eve", "eve", "two", window_active=False)
    assert policy.flush() == Notice("Messenger", "2 new messages", None, 2)


def test_discard_forgets_the_batch():
    policy = NotificationPolicy()
    policy.message("u:bob", "bob", "bob", "hi", window_active=False)
    policy.discard()
    assert policy.flush() is None
    assert policy.message("u:bob", "bob", "bob", "again", window_active=False)  # new batch


def test_flush_leaves_out_what_is_no_longer_unread_and_shows_edits():
    policy = NotificationPolicy()
    for seq, text in ((1, "first"), (2, "gone"), (3, "typo")):
        policy.message("bob", "bob", "bob", text, window_active=False, seq=seq)
    now = {1: "first", 3: "fixed"}  # 2 was read elsewhere or deleted; 3 was edited
    notice = policy.flush(lambda key, seq: now.get(seq))
    assert notice == Notice("bob (2 new messages)", "fixed", "bob", 2)
    policy.message("bob", "bob", "bob", "read at the desk", window_active=False, seq=4)
    assert policy.flush(lambda key, seq: None) is None


def test_flush_leaves_out_file_offers_answered_or_withdrawn_meanwhile():
    """A file its sender cancelled at once (within the second the pop-ups are collected)
    still popped up "📎 salaries.xlsx": only messages (with a seq) were checked."""
    policy = NotificationPolicy()
    policy.message("u:bob", "bob", "bob", "📎 salaries.xlsx (4 KB)", window_active=False,
                   card="t1")
    policy.message("u:bob", "bob", "bob", "📎 notes.pdf (1 KB)", window_active=False,
                   card="t2")
    waiting = {("u:bob", "t2")}  # t1 was withdrawn
    notice = policy.flush(lambda key, seq: None,
                          lambda key, card: (key, card) in waiting)
    assert notice == Notice("bob", "📎 notes.pdf (1 KB)", "u:bob", 1, files=1)
    policy.message("u:bob", "bob", "bob", "📎 a.txt (1 KB)", window_active=False, card="t3")
    assert policy.flush(None, lambda key, card: False) is None


def test_an_invitation_to_a_group_pops_up_as_a_message_does():
    """An invitation while the user worked in another app notified nothing; it pops up now,
    muted and turned off as messages are, and is left out once answered meanwhile."""
    policy = NotificationPolicy()
    assert policy.invitation("g:lab", "lab", "alice", window_active=False)
    # (a click shows the window, whose invitation bar answers it: no conversation yet)
    assert policy.flush() == Notice("# lab", "alice invited you to lab", None, 1, "lab",
                                    invitations=1)
    assert not policy.invitation("g:lab", "lab", "alice", window_active=True)
    assert policy.flush() is None
    policy.invitation("g:lab", "lab", "alice", window_active=False)
    assert policy.flush(invited=lambda group: group != "lab") is None  # answered elsewhere
    policy.prefs = NotificationPrefs(muted=frozenset({"g:lab"}))
    assert not policy.invitation("g:lab", "lab", "alice", window_active=False)
    policy.prefs = NotificationPrefs(enabled=False)
    assert not policy.invitation("g:lab", "lab", "alice", window_active=False)
    policy.prefs = NotificationPrefs(show_text=False)
    policy.invitation("g:lab", "lab", "alice", window_active=False)
    assert policy.flush() == Notice("Messenger", "New invitation to a group", None, 1, "lab",
                                    invitations=1)


def test_pop_ups_go_to_the_notification_service_then_the_tray_then_nowhere():
    """GNOME without the AppIndicator extension (Debian's and Ubuntu's default) has no
    system tray: the app showed no pop-up at all there, only the task bar alert. The
    desktop's notification service comes first; the tray's balloon only without one."""
    from messenger.client.notify import Backend, DesktopNotices

    assert DesktopNotices.backend(service=True, tray=False) is Backend.SERVICE
    assert DesktopNotices.backend(service=True, tray=True) is Backend.SERVICE
    assert DesktopNotices.backend(service=False, tray=True) is Backend.TRAY
    assert DesktopNotices.backend(service=False, tray=False) is Backend.NONE


def test_each_pop_up_id_opens_its_own_conversation_and_replaces_its_previous_one():
    """The tray's balloon says only "clicked": a click on an older notification still in
    the desktop's list opened the newest one's conversation."""
    from messenger.client.notify import DesktopNotices

    notices = DesktopNotices()
    bob = Notice("bob", "hi", "u:bob", 1)
    carol = Notice("carol", "hello", "u:carol", 1)
    summary = Notice("3 new messages", "In bob, carol", None, 3)
    assert notices.replaces(bob) == 0
    notices.shown(1, bob)
    notices.shown(2, carol)
    notices.shown(3, summary)
    assert notices.clicked(1, "reply") is None  # (not a click on the pop-up)
    assert notices.clicked(99, "default") is None  # another app's pop-up
    # bob's next pop-up replaces his previous one in place; a summary replaces nothing.
    bob2 = Notice("bob", "still there?", "u:bob", 1)
    assert notices.replaces(bob2) == 1
    notices.shown(1, bob2)
    assert notices.replaces(summary) == 0
    # Read (here or on another computer): its pop-up is the one to close, once.
    assert notices.read("u:carol") == 2
    assert notices.read("u:carol") == 0
    assert notices.clicked(2, "default") is None
    # A click on the older one opens its own conversation, and it is gone (not closed again
    # when that conversation is read).
    assert notices.clicked(1, "default") == bob2
    assert notices.read("u:bob") == 0 and notices.replaces(bob2) == 0
    assert notices.clicked(3, "default") == summary
    # Dismissed or expired on the desktop: forgotten, and the next one is new.
    notices.shown(4, bob)
    notices.closed(4)
    assert notices.replaces(bob) == 0 and notices.clicked(4, "default") is None


def test_an_answered_invitations_pop_up_and_every_pop_up_at_quit_are_closed():
    """An invitation's pop-up stayed in the desktop's list after Accept or Decline, asking
    still; and the app's pop-ups stayed after it quit or logged out, doing nothing when
    clicked."""
    from messenger.client.notify import DesktopNotices

    notices = DesktopNotices()
    lab = Notice("# lab", "alice invited you to lab", None, 1, "lab")
    club = Notice("# club", "bob invited you to club", None, 1, "club")
    bob = Notice("bob", "hi", "u:bob", 1)
    notices.shown(1, lab)
    notices.shown(2, club)
    notices.shown(3, bob)
    assert notices.answered(lambda group: True) == []  # both still wait
    assert notices.answered(lambda group: group != "lab") == [1]
    assert notices.answered(lambda group: group != "lab") == []  # (once)
    assert notices.clicked(1, "default") is None
    assert sorted(notices.close_all()) == [2, 3]
    assert notices.close_all() == [] and notices.read("u:bob") == 0


def test_a_long_texts_pop_up_is_not_cut_inside_an_emoji_or_an_accented_letter():
    """The pop-up of a long message ending in a flag showed half of it, a lone letter box."""
    policy = NotificationPolicy()
    text = "x" * (BODY_LIMIT - 2) + "🇫🇷 and more"
    assert policy.message("u:bob", "bob", "bob", text, window_active=False)
    assert policy.flush().body == "x" * (BODY_LIMIT - 2) + "…"
    assert policy.message("u:bob", "bob", "bob", "x" * (BODY_LIMIT - 2) + "e\u0301 more",
                          window_active=False)
    assert policy.flush().body == "x" * (BODY_LIMIT - 2) + "…"


def test_a_conversations_next_notice_waits_for_its_pop_ups_id_to_replace_it():
    """The notification service answers ``Notify`` with the pop-up's id some time later: a
    conversation's second notice asked for meanwhile had no id to replace, and stacked as
    a second pop-up. It waits for the id (only the newest one waiting), then replaces it."""
    from messenger.client.notify import DesktopNotices

    notices = DesktopNotices()
    one = Notice("bob", "one", "u:bob", 1)
    two = Notice("bob", "two", "u:bob", 1)
    three = Notice("bob", "three", "u:bob", 1)
    summary = Notice("2 new messages", "In bob, carol", None, 2)
    assert notices.ask(one)
    assert not notices.ask(two) and not notices.ask(three)  # (three takes two's place)
    assert notices.ask(summary)  # (replaces nothing: never waits)
    notices.shown(7, one)
    assert notices.answer(one, 7) == three and notices.replaces(three) == 7
    assert not notices.ask(two)  # three's id is not known yet either
    notices.shown(7, three)
    assert notices.answer(three, 7) == two
    assert notices.answer(two, 0) is None and notices.ask(one)
    # Read meanwhile: the waiting notice is dropped.
    assert not notices.ask(two)
    notices.read("u:bob")
    assert notices.answer(one, 0) is None


def test_a_pop_up_s_text_can_be_taken_out_once_it_is_shown():
    """"Show message text" turned off left the pop-ups on screen as they were: each shown
    one has a text-less form, as the policy makes with the setting off."""
    from messenger.client.notify import DesktopNotices, text_less

    bob = Notice("bob", "hi", "u:bob", 1)
    lab = Notice("# lab (3 new messages)", "alice: done", "g:lab", 3)
    invite = Notice("# club", "bob invited you to club", None, 1, "club", invitations=1)
    assert text_less(bob) == Notice("Messenger", "New message", "u:bob", 1)
    assert text_less(lab) == Notice("Messenger", "3 new messages", "g:lab", 3)
    assert text_less(invite) == Notice("Messenger", "New invitation to a group", None, 1,
                                       "club", invitations=1)
    assert text_less(text_less(lab)) == text_less(lab)
    notices = DesktopNotices()
    notices.shown(1, bob)
    notices.shown(2, lab)
    assert notices.showing() == [(1, bob), (2, lab)]


def test_a_summary_counts_file_offers_and_invitations_apart_from_messages():
    """A message from bob, a file from carol and an invitation to lab in one batch popped
    up as "3 new messages", and a text-less pop-up of one file said "New message": a file
    offer or an invitation is no message, and the pop-up now says what came."""
    policy = NotificationPolicy()
    policy.message("u:bob", "bob", "bob", "hi", window_active=False, seq=1)
    policy.message("u:carol", "carol", "carol", "📎 a.pdf (1 KB)", window_active=False,
                   card="t1")
    policy.invitation("g:lab", "lab", "alice", window_active=False)
    notice = policy.flush()
    assert (notice.title, notice.body, notice.count) == (
        "1 new message, 1 file and 1 invitation", "In bob, carol, # lab", 3)
    for n in (1, 2):
        policy.message("u:carol", "carol", "carol", "📎 b.pdf (1 KB)", window_active=False,
                       card=f"t{n}")
    assert policy.flush().title == "carol (2 new files)"
    policy.message("u:bob", "bob", "bob", "see this", window_active=False, seq=2)
    policy.message("u:bob", "bob", "bob", "📎 c.pdf (1 KB)", window_active=False, card="t3")
    assert policy.flush().title == "bob (1 new message and 1 file)"
    policy.prefs = NotificationPrefs(show_text=False)
    policy.message("u:bob", "bob", "bob", "📎 c.pdf (1 KB)", window_active=False, card="t4")
    assert policy.flush().body == "New file"
    policy.message("u:bob", "bob", "bob", "📎 c.pdf (1 KB)", window_active=False, card="t5")
    policy.invitation("g:lab", "lab", "alice", window_active=False)
    assert policy.flush().body == "1 new file and 1 invitation"
    policy.message("u:bob", "bob", "bob", "hi", window_active=False, seq=3)
    policy.message("u:bob", "bob", "bob", "again", window_active=False, seq=4)
    assert policy.flush().body == "2 new messages"

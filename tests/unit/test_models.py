"""The client models: qtmodeltester, sorting, unread counts, dedupe; groups, members and the
check-box proxy of the pickers."""

from __future__ import annotations

import random
import time

import pytest
from helpers.counting import count_calls
from helpers.zones import local_zone
from PySide6.QtCore import QItemSelectionModel, QPersistentModelIndex, Qt

from messenger.client import models
from messenger.client.models import (
    ChatItem,
    CheckableProxyModel,
    ConversationModel,
    DeliveryState,
    GroupModel,
    GroupRow,
    MembersModel,
    MessageKind,
    RosterModel,
    RosterNamesModel,
    last_seen_text,
)
from messenger.client.quotes import QuoteCandidate, QuoteOutcome, reply_text


@pytest.fixture
def roster(qapp) -> RosterModel:
    model = RosterModel()
    model.set_roster([("charlie", False), ("Bob", True), ("alice", True), ("dave", False)])
    return model


def test_roster_passes_qtmodeltester(qtmodeltester, roster):
    qtmodeltester.check(roster, force_py=True)
    roster.set_online("charlie", True)
    roster.set_unread("dave", 3)
    roster.set_online("eve", True)
    qtmodeltester.check(roster, force_py=True)


def test_roster_sorts_online_first_then_by_name_ignoring_case(roster):
    assert roster.names() == ["alice", "Bob", "charlie", "dave"]
    roster.set_online("dave", True)
    assert roster.names() == ["alice", "Bob", "dave", "charlie"]
    roster.set_online("alice", False)
    assert roster.names() == ["Bob", "dave", "alice", "charlie"]


def test_roster_presence_moves_rows(qtbot, roster):
    with qtbot.waitSignal(roster.rowsMoved, timeout=1000):
        roster.set_online("dave", True)
    assert roster.data(roster.index(2, 0), RosterModel.OnlineRole) is True
    assert roster.data(roster.index(2, 0)) == "dave"
    with qtbot.assertNotEmitted(roster.rowsMoved):
        roster.set_online("alice", True)  # no change
    assert roster.names() == ["alice", "Bob", "dave", "charlie"]


def test_roster_new_name_is_inserted_in_order(qtbot, roster):
    with qtbot.waitSignal(roster.rowsInserted):
        roster.set_online("Ben", True)
    assert roster.names() == ["alice", "Ben", "Bob", "charlie", "dave"]


def test_roster_unread_counts_and_total(qtbot, roster):
    with qtbot.waitSignal(roster.unread_total_changed) as blocker:
        roster.set_unread("BOB", 2)
    assert blocker.args == [2]
    row = roster.row_of("bob")
    assert roster.data(roster.index(row, 0), RosterModel.UnreadRole) == 2
    assert "2 unread" in roster.data(roster.index(row, 0), 3)  # ToolTipRole
    roster.set_unread("nobody", 5)
    assert roster.unread_total() == 2


def test_roster_look_ups_and_presence_changes_do_not_walk_the_list(qtbot, monkeypatch):
    """With 1,000 contacts each presence change cost a walk of the list per contact (the
    Everyone header counted who is online with one linear look-up each: O(n²)). Look-ups
    are a dict away, a presence change finds its new place by binary search, and the
    online count is kept as it goes."""
    roster = RosterModel()
    roster.set_roster([(f"user{i:04d}", i % 3 == 0) for i in range(1000)])
    keys = count_calls(monkeypatch, "name_key", models)
    assert roster.contact("USER0500").name == "user0500"
    assert roster.row_of("user0999") is not None and roster.contact("nobody") is None
    assert keys.calls == 3  # one per look-up: the name asked for
    rng = random.Random(7)
    for _ in range(300):
        keys.calls = 0
        roster.set_online(f"user{rng.randrange(1000):04d}", rng.random() < 0.5)
        assert keys.calls <= 1
    names = roster.names()
    assert names == sorted(names, key=lambda n: (not roster.contact(n).online, n))
    assert all(roster.row_of(n) == i for i, n in enumerate(names))
    assert roster.online_count() == sum(roster.contact(n).online for n in names)
    with qtbot.waitSignal(roster.rowsInserted):
        roster.set_online("aaron", True)  # a new account: inserted in its place
    assert roster.names()[0] == "aaron" and roster.online_count() == \
        sum(roster.contact(n).online for n in roster.names())


def test_a_new_roster_changes_rows_in_place_and_selections_follow_them(
        qtmodeltester, qtbot, roster):
    """Every login replaced the roster with a model reset: the view's selection went
    without a selectionChanged ("Message 2 selected…" stayed, sending to nobody), and so did
    its scroll position. Rows are removed, moved, updated and inserted in place now."""
    qtmodeltester.check(roster, force_py=True)
    selection = QItemSelectionModel(roster)
    for name in ("charlie", "dave"):
        selection.select(roster.index(roster.row_of(name), 0),
                         QItemSelectionModel.SelectionFlag.Select)
    resets = []
    roster.modelReset.connect(lambda: resets.append(True))
    with qtbot.waitSignal(roster.dataChanged):
        roster.set_roster([("dave", True), ("alice", False), ("charlie", False),
                           ("erin", True)])  # Bob gone, erin new, dave and alice changed
    assert roster.names() == ["dave", "erin", "alice", "charlie"]
    assert not resets
    assert sorted(i.data(RosterModel.NameRole) for i in selection.selectedRows()) == \
        ["charlie", "dave"]
    assert [roster.row_of(n) for n in roster.names()] == [0, 1, 2, 3]
    assert roster.online_count() == 2


def test_a_new_group_list_changes_rows_in_place(qtmodeltester, qtbot, groups):
    qtmodeltester.check(groups, force_py=True)
    selection = QItemSelectionModel(groups)
    selection.select(groups.index(groups.row_of("zeta"), 0),
                     QItemSelectionModel.SelectionFlag.Select)
    resets = []
    groups.modelReset.connect(lambda: resets.append(True))
    groups.set_groups([_group("zeta"), _group("alpha")])
    assert not resets and groups.names() == ["alpha", "zeta"]
    assert [i.data(GroupModel.NameRole) for i in selection.selectedRows()] == ["zeta"]


def test_a_held_roster_keeps_its_order_until_released(qtmodeltester, qtbot, roster):
    """While the pointer is over the list (the GUI holds it), presence changes do not move
    rows: a double-click would hit whoever moved there. Released, the list sorts."""
    qtmodeltester.check(roster, force_py=True)
    moves = []
    roster.rowsMoved.connect(lambda *a: moves.append(a))
    dave = roster.index(roster.row_of("dave"), 0)
    held_dave = QPersistentModelIndex(dave)
    roster.set_order_held(True)
    roster.set_online("dave", True)
    roster.set_online("alice", False)
    roster.set_online("Ben", True)  # a new account: last, for now
    roster.set_roster([("charlie", False), ("Bob", True), ("alice", False), ("dave", True),
                       ("Ben", True), ("erin", True)])
    assert roster.names() == ["alice", "Bob", "charlie", "dave", "Ben", "erin"]
    assert not moves and roster.contact("dave").online
    assert roster.online_count() == 4
    with qtbot.waitSignal(roster.layoutChanged):
        roster.set_order_held(False)
    assert roster.names() == ["Ben", "Bob", "dave", "erin", "alice", "charlie"]
    assert held_dave.row() == 2  # (a view's selection and current row follow their rows)
    assert [roster.row_of(n) for n in roster.names()] == list(range(6))


def test_roster_reset_keeps_unread(roster):
    roster.set_unread("alice", 4)
    roster.set_roster([("alice", False), ("bob", False)])
    assert roster.contact("alice").unread == 4
    assert roster.names() == ["alice", "bob"]


def test_conversation_passes_qtmodeltester(qtmodeltester, qapp):
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "hi", ts=1.0, seq=1))
    model.append(ChatItem(MessageKind.OWN, "alice", "hello", state=DeliveryState.PENDING,
                          client_msg_id="c1"))
    model.add_notice("bob is offline.")
    model.add_notice("unknown user", error=True)
    qtmodeltester.check(model, force_py=True)
    model.mark_sent("c1", 2, 2.0)
    qtmodeltester.check(model, force_py=True)


def test_conversation_roles_and_ack(qtbot, qapp):
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OWN, "alice", "hello", ts=5.0,
                          state=DeliveryState.PENDING, client_msg_id="c1", also=("carol",)))
    idx = model.index(0, 0)
    assert model.data(idx, ConversationModel.StateRole) is DeliveryState.PENDING
    assert model.data(idx, ConversationModel.AlsoRole) == ["carol"]
    with qtbot.waitSignal(model.dataChanged):
        assert model.mark_sent("c1", 7, 9.5)
    assert model.data(idx, ConversationModel.SeqRole) == 7
    assert model.data(idx, ConversationModel.TimestampRole) == 9.5
    assert model.data(idx, ConversationModel.StateRole) is DeliveryState.SENT
    assert model.data(idx, ConversationModel.KindRole) is MessageKind.OWN
    assert not model.mark_sent("unknown", 8, 1.0)
    assert model.mark_failed("c1")
    assert model.data(idx, ConversationModel.StateRole) is DeliveryState.FAILED
    role_names = {bytes(v.data()) for v in model.roleNames().values()}
    assert role_names >= {b"sender", b"text", b"timestamp", b"kind", b"seq", b"state"}


def test_a_screen_reader_hears_that_a_message_was_edited(qtbot, qapp):
    """The bubble of an edited message says "edited" beside its time; what a screen reader
    reads for the row (``Qt.AccessibleTextRole``, also the tooltip) did not, so a blind
    user could not tell the text had changed (a hunt). It says when, and says it at once."""
    model = ConversationModel("alice", "alice")
    model.append(ChatItem(MessageKind.OTHER, "alice", "see you at 3", seq=4, ts=1000.0))
    idx = model.index(0, 0)
    assert "edited" not in model.data(idx, Qt.ItemDataRole.AccessibleTextRole)
    with qtbot.waitSignal(model.dataChanged, check_params_cb=lambda _a, _b, roles:
                          Qt.ItemDataRole.AccessibleTextRole in roles):
        assert model.set_text(4, "see you at 4", edited=1000.0 + 3600)
    edited_at = time.strftime("%H:%M", time.localtime(1000.0 + 3600))
    for role in (Qt.ItemDataRole.AccessibleTextRole, Qt.ItemDataRole.ToolTipRole):
        spoken = model.data(idx, role)
        assert spoken.endswith(f", edited {edited_at}: see you at 4"), spoken


def test_conversation_drops_redelivered_seq(qapp):
    model = ConversationModel("bob", "bob")
    assert model.append(ChatItem(MessageKind.OTHER, "bob", "hi", seq=3))
    assert not model.append(ChatItem(MessageKind.OTHER, "bob", "hi", seq=3))
    assert model.rowCount() == 1
    assert model.has_seq(3)


def test_a_late_older_message_goes_in_seq_order(qtmodeltester, qapp):
    """A catch-up page after a reconnect can come after messages the server had queued: the
    conversation still shows the server's order; a local notice (no seq) stays put."""
    model = ConversationModel("bob", "bob")
    qtmodeltester.check(model)
    model.append(ChatItem(MessageKind.OTHER, "bob", "hello", seq=1))
    model.add_notice("Reconnected.")
    model.append(ChatItem(MessageKind.OTHER, "bob", "m4", seq=5))
    for seq, text in ((2, "m1"), (3, "m2"), (4, "m3")):
        assert model.append(ChatItem(MessageKind.OTHER, "bob", text, seq=seq))
    model.append(ChatItem(MessageKind.OTHER, "bob", "m5", seq=6))
    assert _texts(model) == ["hello", "Reconnected.", "m1", "m2", "m3", "m4", "m5"]
    assert model.row_of_seq(5) == 5


def test_a_model_that_follows_the_end_sets_old_rows_aside_and_brings_them_back(qtbot, qapp):
    """A tab open all day at the newest message of a busy Everyone: the list measured every
    row of the day again at each new message. While a view follows the end
    (``keep_newest``) the oldest rows go aside, not lost: receipts and edits still reach
    them, a redelivery is not doubled, scrolling up (``fetchMore``) or a search match
    (``load_until``) brings them back in their place; an unsent message stays a row (its
    Retry), and so does all that came after it."""
    model = ConversationModel("everyone", "Everyone")
    model.keep_newest = 3
    model.append(ChatItem(MessageKind.OWN, "alice", "mine", seq=10))
    for seq in range(2, 7):
        model.append(ChatItem(MessageKind.OTHER, "bob", f"m{seq}", seq=10 * seq))
    assert _texts(model) == ["m4", "m5", "m6"] and model.aside_count() == 3
    assert model.has_seq(10) and model.row_of_seq(10) is None and model.oldest_seq() == 40
    assert not model.append(ChatItem(MessageKind.OTHER, "bob", "m2", seq=20))  # (again)
    assert model.set_receipts(10, "read", ["bob"], ["bob"])
    assert model.set_text(20, "m2, edited", edited=5.0)
    assert model.canFetchMore()
    assert model.load_until(20) == 0  # (down to it)
    assert _texts(model) == ["m2, edited", "m3", "m4", "m5", "m6"]
    with qtbot.waitSignal(model.older_loaded):
        model.fetchMore()
    assert model.aside_count() == 0 and not model.canFetchMore()
    assert model.item(0).state is DeliveryState.READ and model.item(0).read_by == ("bob",)
    # A late older message (a catch-up page) goes in its place among those set aside, and
    # one that goes in above the newest rows pushes the top one aside: the rows stay the
    # newest three wherever a message goes in.
    model.append(ChatItem(MessageKind.OTHER, "bob", "m7", seq=70))
    assert model.aside_count() == 4
    assert model.append(ChatItem(MessageKind.OTHER, "bob", "late", seq=35))
    assert model.append(ChatItem(MessageKind.OTHER, "bob", "m6b", seq=65))
    assert _texts(model) == ["m6", "m6b", "m7"] and model.aside_count() == 6
    assert model.find("late") == [35]
    model.keep_newest = None  # (scrolled up)
    with qtbot.waitSignal(model.older_loaded):
        model.fetchMore()
    assert _texts(model) == ["mine", "m2, edited", "m3", "late", "m4", "m5", "m6", "m6b",
                             "m7"]
    # Not following the end, it brings them all back and goes in its place.
    model = ConversationModel("everyone", "Everyone")
    model.keep_newest = 1
    for seq in (10, 20, 30):
        model.append(ChatItem(MessageKind.OTHER, "bob", f"m{seq}", seq=seq))
    model.keep_newest = None
    assert model.append(ChatItem(MessageKind.OTHER, "bob", "late", seq=15))
    assert _texts(model) == ["m10", "late", "m20", "m30"] and model.aside_count() == 0
    # An unsent message stays a row, and all below it: only what is above it goes aside.
    model = ConversationModel("everyone", "Everyone")
    model.append(ChatItem(MessageKind.OTHER, "bob", "m1", seq=1))
    model.append(ChatItem(MessageKind.OWN, "alice", "not sent", client_msg_id="c1",
                          state=DeliveryState.FAILED))
    model.keep_newest = 1
    for seq in range(2, 5):
        model.append(ChatItem(MessageKind.OTHER, "bob", f"m{seq}", seq=seq))
    assert _texts(model) == ["not sent", "m2", "m3", "m4"]
    assert model.aside_count() == 1 and model.failed_ids() == ["c1"]
    # A resend acked with its old seq goes among those set aside, in its place.
    model = ConversationModel("everyone", "Everyone")
    model.keep_newest = 2
    for seq in (10, 20, 30):
        model.append(ChatItem(MessageKind.OTHER, "bob", f"m{seq}", seq=seq))
    model.append(ChatItem(MessageKind.OWN, "alice", "resent", client_msg_id="c9",
                          state=DeliveryState.PENDING))
    assert _texts(model) == ["m30", "resent"]
    assert model.mark_sent("c9", 15, 1.0)
    assert _texts(model) == ["m10", "resent", "m20", "m30"] and model.aside_count() == 0


def test_unsent_own_messages_stay_at_the_bottom_until_numbered(qtmodeltester, qtbot, qapp):
    """Messages arriving while own ones wait for their ack go above them; an acked one moves
    to its seq's place when the order needs it, so the window shows the server's order, as
    the cache and a restart do."""
    model = ConversationModel("alice", "alice")
    qtmodeltester.check(model)
    model.append(ChatItem(MessageKind.OTHER, "alice", "before", seq=1))
    for n in (1, 2):
        model.append(ChatItem(MessageKind.OWN, "bob", f"typed {n}",
                              state=DeliveryState.PENDING, client_msg_id=f"c{n}"))
    model.append(ChatItem(MessageKind.OTHER, "alice", "queued for bob", seq=2))
    assert _texts(model) == ["before", "queued for bob", "typed 1", "typed 2"]
    with qtbot.waitSignal(model.rowsMoved):
        assert model.mark_sent("c2", 4, 4.0)  # (the acks of a retry can come out of order)
    assert _texts(model) == ["before", "queued for bob", "typed 2", "typed 1"]
    model.add_notice("Reconnected.")
    model.append(ChatItem(MessageKind.OTHER, "alice", "late", seq=3))
    assert model.mark_sent("c1", 5, 5.0)  # in place: nothing below it is older
    assert _texts(model) == ["before", "queued for bob", "late", "typed 2", "typed 1",
                             "Reconnected."]


def test_an_own_message_acked_after_older_ones_arrived_below_it_moves_down(qtbot, qapp):
    model = ConversationModel("alice", "alice")
    model.append(ChatItem(MessageKind.OWN, "bob", "typed", state=DeliveryState.PENDING,
                          client_msg_id="c1"))
    model.add_notice("Reconnected.")
    model.append(ChatItem(MessageKind.OTHER, "alice", "queued for bob", seq=2))
    assert _texts(model) == ["typed", "Reconnected.", "queued for bob"]
    with qtbot.waitSignal(model.rowsMoved):
        assert model.mark_sent("c1", 3, 3.0)
    assert _texts(model) == ["Reconnected.", "queued for bob", "typed"]
    assert model.row_of_seq(3) == 2


def test_a_failed_own_message_keeps_its_place(qapp):
    model = ConversationModel("alice", "alice")
    model.append(ChatItem(MessageKind.OWN, "bob", "refused", state=DeliveryState.PENDING,
                          client_msg_id="c1"))
    model.append(ChatItem(MessageKind.OWN, "bob", "next", state=DeliveryState.PENDING,
                          client_msg_id="c2"))
    assert model.mark_failed("c1")
    assert model.mark_sent("c2", 2, 2.0)
    model.append(ChatItem(MessageKind.OTHER, "alice", "answer", seq=3))
    assert _texts(model) == ["refused", "next", "answer"]


def _texts(model: ConversationModel) -> list[str]:
    return [item.transfer or item.text for item in model.items()]


def test_reloaded_transfer_cards_go_to_their_time(qtmodeltester, qapp):
    """A transfer reloaded from the local store shows among the messages at its time, also
    when older pages arrive later; a live one goes at the end (stamped with the time given:
    the server's, whatever the app's clock says)."""
    model = ConversationModel("bob", "bob")
    model.prepend([ChatItem(MessageKind.OTHER, "bob", f"m{t}", ts=float(t), seq=t)
                   for t in (10, 20, 30)])
    model.append(ChatItem(MessageKind.OWN, "alice", "pending", ts=40.0, client_msg_id="c1"))
    assert model.add_transfer("t25", "bob", "a.mp4", ts=25.0)
    assert model.add_transfer("t5", "bob", "b.mp4", ts=5.0)     # older than the page
    assert model.add_transfer("t2", "bob", "c.mp4", ts=2.0)
    assert model.add_transfer("t99", "bob", "d.mp4", ts=99.0)
    assert model.add_transfer("live", "alice", "e.mp4")
    assert model.add_transfer("now", "alice", "f.mp4", ts=15.0, last=True)
    assert not model.add_transfer("t25", "bob", "a.mp4", ts=25.0)  # shown already
    assert _texts(model) == ["t2", "t5", "m10", "m20", "t25", "m30", "pending", "t99", "live",
                             "now"]
    assert model.items()[-1].ts == 15.0
    qtmodeltester.check(model, force_py=True)
    # Older pages: items older than a top card go above it, newer ones below.
    assert model.prepend([ChatItem(MessageKind.OTHER, "bob", f"m{t}", ts=float(t), seq=t)
                          for t in (1, 3, 4, 6, 7)]) == 5
    assert _texts(model)[:8] == ["m1", "t2", "m3", "m4", "t5", "m6", "m7", "m10"]
    assert model.prepend([ChatItem(MessageKind.OTHER, "bob", "m0", ts=0.5, seq=0)]) == 1
    assert _texts(model)[0] == "m0"
    qtmodeltester.check(model, force_py=True)


def test_a_page_newer_than_what_is_shown_goes_in_by_seq(qtmodeltester, qapp):
    """A new computer showed a message the server had queued (seq 354), then the newest
    page of the conversation (up to 355) went on top of it: 355 above 354 (an extended
    soak). What is newer than the oldest message shown goes in its place by seq."""
    model = ConversationModel("dave", "dave")
    model.append(ChatItem(MessageKind.OTHER, "dave", "queued", seq=354))
    model.append(ChatItem(MessageKind.OWN, "bob", "pending", client_msg_id="c1",
                          state=DeliveryState.PENDING))
    assert model.prepend([ChatItem(MessageKind.OTHER, "dave", f"m{t}", seq=t)
                          for t in (300, 328, 354, 355)]) == 3
    assert _texts(model) == ["m300", "m328", "queued", "m355", "pending"]
    qtmodeltester.check(model, force_py=True)


# ------------------------------------------------------------------------------------ groups


def _group(name: str, **kw) -> GroupRow:
    kw.setdefault("leader", "alice")
    kw.setdefault("members", ("alice",))
    return GroupRow(name, **kw)


@pytest.fixture
def groups(qapp) -> GroupModel:
    model = GroupModel()
    model.set_groups([_group("zeta"), _group("Lab", members=("alice", "bob"), public=True),
                      _group("party-bob", leader="bob", members=("bob",), member=False,
                             pending=True, invited_by="bob")])
    return model


def test_groups_pass_qtmodeltester(qtmodeltester, groups):
    qtmodeltester.check(groups, force_py=True)
    groups.upsert(_group("alpha"))
    groups.upsert(_group("zeta", members=("alice", "carol")))
    groups.upsert(_group("party-bob", leader="bob", members=("bob", "alice")))  # accepted
    groups.set_unread("lab", 2)
    groups.remove("alpha")
    qtmodeltester.check(groups, force_py=True)


def test_groups_sort_invitations_first_then_by_name(qtbot, groups):
    assert groups.names() == ["party-bob", "Lab", "zeta"]
    with qtbot.waitSignal(groups.pending_changed):
        groups.upsert(_group("party-bob", leader="bob", members=("bob", "alice")))
    assert groups.names() == ["Lab", "party-bob", "zeta"]
    assert groups.group("PARTY-BOB").invited_by == "bob"  # kept from the invitation
    with qtbot.assertNotEmitted(groups.pending_changed):
        groups.remove("zeta")
    assert groups.names() == ["Lab", "party-bob"]


def test_a_group_that_moves_keeps_its_selection_and_current_row(qtmodeltester, qtbot,
                                                                 groups):
    """Accepting the invitation selected in the Groups list (it leaves the invitations at
    the top for its place by name), or being removed from the group selected there (it goes
    last, as history), took the list's current row and selection off it and onto the group
    that took its place: Enter then opened that one. The row moves now (``rowsMoved``, not
    removed and inserted again), and the view's selection goes with it."""
    qtmodeltester.check(groups, force_py=True)
    selection = QItemSelectionModel(groups)
    party = groups.index(groups.row_of("party-bob"), 0)
    selection.setCurrentIndex(party, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    moves = []
    groups.rowsMoved.connect(lambda *a: moves.append(a))
    with qtbot.waitSignal(groups.pending_changed):
        groups.upsert(_group("party-bob", leader="bob", members=("bob", "alice")))  # accepted
    assert groups.names() == ["Lab", "party-bob", "zeta"]
    assert selection.currentIndex().data(GroupModel.NameRole) == "party-bob"
    assert [i.data(GroupModel.NameRole) for i in selection.selectedRows()] == ["party-bob"]
    assert len(moves) == 1
    assert not groups.index(groups.row_of("party-bob"), 0).data(GroupModel.PendingRole)
    lab = groups.index(groups.row_of("lab"), 0)
    selection.setCurrentIndex(lab, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    groups.upsert(_group("Lab", leader="", members=(), member=False, left=True))  # removed
    assert groups.names() == ["party-bob", "zeta"] and groups.former() == ["Lab"]
    assert selection.currentIndex().data(GroupModel.NameRole) == "Lab"
    assert [i.data(GroupModel.NameRole) for i in selection.selectedRows()] == ["Lab"]
    assert selection.currentIndex().data(GroupModel.LeftRole)
    qtmodeltester.check(groups, force_py=True)


def test_a_group_is_found_without_walking_the_group_list(qtmodeltester, monkeypatch):
    """Every open group tab looks its group up at each presence change and message (its
    header, its panel, "may I invite"): each look-up compared the name with every group's
    (300 groups, 30 tabs: 9,000 name comparisons per login anywhere). It is a dict away
    now, and stays right as groups come, move and go."""
    model = GroupModel()
    model.set_groups([_group(f"team{i:03d}") for i in range(300)])
    keys = count_calls(monkeypatch, "name_key", models)
    assert model.group("TEAM150").name == "team150" and model.row_of("team299") == 299
    assert keys.calls <= 2, f"{keys.calls} names compared for two look-ups"
    model.upsert(_group("aaa", member=False, pending=True))  # an invitation, first
    model.upsert(_group("team007", leader="", members=(), member=False, left=True))
    model.remove("team100")
    model.set_groups([*model.rows()[::-1], _group("zz")])
    assert all(model.row_of(n) == i for i, n in enumerate(model.names()))
    assert model.row_of("team100") is None and model.row_of("team007") is None
    qtmodeltester.check(model, force_py=True)


def test_group_roles(groups):
    row = groups.row_of("lab")
    idx = groups.index(row, 0)
    assert groups.data(idx) == "Lab"
    assert groups.data(idx, GroupModel.MemberCountRole) == 2
    assert groups.data(idx, GroupModel.PublicRole) is True
    assert groups.data(idx, GroupModel.LeaderRole) == "alice"
    assert groups.data(idx, GroupModel.MembersRole) == ["alice", "bob"]
    assert groups.data(idx, GroupModel.PendingRole) is False
    assert groups.data(idx, GroupModel.JoinableRole) is False
    groups.set_unread("LAB", 3)
    assert groups.data(idx, GroupModel.UnreadRole) == 3
    assert "3 unread" in groups.data(idx, 3)
    pending = groups.index(groups.row_of("party-bob"), 0)
    assert groups.data(pending, GroupModel.JoinableRole) is True
    assert "invitation from bob" in groups.data(pending, 3)
    names = {bytes(v.data()) for v in groups.roleNames().values()}
    assert names >= {b"name", b"memberCount", b"unread", b"pending", b"leader", b"public"}


def test_members_follow_group_and_roster(qtmodeltester, qtbot, qapp):
    roster = RosterModel()
    roster.set_roster([("bob", True), ("carol", False)])
    groups = GroupModel()
    groups.set_groups([_group("lab", leader="bob", members=("alice", "bob"),
                              invited=("carol",))])
    members = MembersModel(groups, roster, "LAB", "alice")
    qtmodeltester.check(members, force_py=True)
    assert members.names() == ["bob", "alice", "carol"]  # leader first, invitees last
    assert [members.data(members.index(r, 0), MembersModel.LeaderRole) for r in range(3)] == \
        [True, False, False]
    assert members.member(1).me and members.member(1).online
    assert members.member(2).invited
    with qtbot.waitSignal(members.dataChanged):
        roster.set_online("bob", False)
    assert members.data(members.index(0, 0), MembersModel.OnlineRole) is False
    assert "leader, offline" in members.data(members.index(0, 0), 3)
    resets: list[bool] = []
    members.modelReset.connect(lambda: resets.append(True))
    with qtbot.waitSignal(members.rowsRemoved):  # (in place, not a reset: a selection stays)
        groups.upsert(_group("lab", leader="alice", members=("alice", "carol")))
    assert members.names() == ["alice", "carol"] and not resets
    groups.remove("lab")  # the tester connected above checks every change as it happens
    assert members.rowCount() == 0


def test_members_follow_only_their_own_group_and_members(qtbot, qapp, monkeypatch):
    """Every roster or group change recomputed every open group's member panel (a roster
    look-up per member): a login of someone in none of the groups, a private message (an
    unread count) or another group's message. Only its members' presence and its own
    group's row change it, a member's presence that member's row."""
    roster = RosterModel()
    roster.set_roster([("bob", False), ("carol", False), ("zed", False)])
    groups = GroupModel()
    groups.set_groups([_group("lab", members=("alice", "bob", "carol")),
                       _group("other", members=("alice", "zed"))])
    members = MembersModel(groups, roster, "lab", "alice")
    computed: list[bool] = []
    real = MembersModel._compute
    monkeypatch.setattr(MembersModel, "_compute",
                        lambda self: computed.append(True) or real(self))
    with qtbot.assertNotEmitted(members.dataChanged):
        roster.set_online("zed", True)  # (not a member; the row moves up too)
        roster.set_unread("bob", 3)
        groups.set_unread("lab", 2)
        groups.upsert(_group("other", members=("alice", "zed", "bob")))
    with qtbot.waitSignal(members.dataChanged) as changed:
        roster.set_online("carol", True)
    assert changed.args[:2] == [members.index(2, 0), members.index(2, 0)]
    assert members.member(2).online and not members.member(1).online
    roster.set_online("dan", True)  # a new account, invited a moment later
    assert not computed
    groups.upsert(_group("lab", members=("alice", "bob", "carol"), invited=("dan",)))
    assert members.names() == ["alice", "bob", "carol", "dan"] and members.member(3).online


def test_members_claim_no_presence_while_it_is_unknown(qtbot, qapp):
    """Not logged in, the panel said "you, online" and "offline" for the others (the
    contact list says "presence unknown"): nobody is online or offline then."""
    roster = RosterModel()
    roster.set_roster([("bob", True), ("carol", False)])
    groups = GroupModel()
    groups.set_groups([_group("lab", members=("alice", "bob", "carol"))])
    members = MembersModel(groups, roster, "lab", "alice")
    with qtbot.waitSignal(members.dataChanged):
        roster.set_presence_known(False)
    rows = [members.index(r, 0) for r in range(members.rowCount())]
    assert [i.data(MembersModel.OnlineRole) for i in rows] == [False, False, False]
    assert [i.data(MembersModel.PresenceKnownRole) for i in rows] == [False, False, False]
    assert [i.data(Qt.ItemDataRole.ToolTipRole) for i in rows] == [
        "alice (you), leader, presence unknown (not connected)",
        "bob, presence unknown (not connected)", "carol, presence unknown (not connected)"]
    roster.set_presence_known(True)
    assert [i.data(MembersModel.OnlineRole) for i in rows] == [True, True, False]
    assert rows[2].data(Qt.ItemDataRole.ToolTipRole) == "carol, offline"


def test_checkable_proxy_keeps_checks_across_resorts(qtmodeltester, qtbot, roster):
    proxy = CheckableProxyModel(roster, RosterModel.NameRole)
    qtmodeltester.check(proxy, force_py=True)
    row = roster.row_of("charlie")
    with qtbot.waitSignal(proxy.checked_changed):
        assert proxy.setData(proxy.index(row, 0), Qt.CheckState.Checked,
                             Qt.ItemDataRole.CheckStateRole)
    proxy.set_checked(["ALICE"])
    assert proxy.checked() == ["alice", "charlie"]
    assert proxy.flags(proxy.index(0, 0)) & Qt.ItemFlag.ItemIsUserCheckable
    roster.set_online("charlie", True)  # moves the row
    row = roster.row_of("charlie")
    assert proxy.data(proxy.index(row, 0), Qt.ItemDataRole.CheckStateRole) == \
        Qt.CheckState.Checked
    proxy.setData(proxy.index(row, 0), Qt.CheckState.Unchecked.value,
                  Qt.ItemDataRole.CheckStateRole)
    assert proxy.checked() == ["alice"]
    qtmodeltester.check(proxy, force_py=True)


def test_the_pick_lists_names_stay_in_name_order_through_presence_changes(
        qtmodeltester, qtbot, roster):
    """The pick lists' view of the roster (New group…, Invite…, Message several people…)
    lists the names by name and moves nothing when someone comes online or goes offline
    (each move made the pick list's filter sort the whole roster again); accounts that come
    or go are added and taken away; the tooltip is the roster's, as it is now."""
    names = RosterNamesModel(roster)
    qtmodeltester.check(names, force_py=True)
    listed = [names.index(r, 0).data(RosterModel.NameRole) for r in range(names.rowCount())]
    assert listed == ["alice", "Bob", "charlie", "dave"]
    moved: list[object] = []
    for signal in (names.rowsMoved, names.layoutChanged, names.modelReset,
                   names.dataChanged):
        signal.connect(lambda *_args: moved.append(1))
    roster.set_online("dave", True)
    roster.set_online("alice", False)
    assert not moved
    assert names.index(3, 0).data(Qt.ItemDataRole.ToolTipRole) == "dave, online"
    roster.set_roster([("charlie", False), ("Bob", True), ("dave", True), ("Carol", False)])
    listed = [names.index(r, 0).data() for r in range(names.rowCount())]
    assert listed == ["Bob", "Carol", "charlie", "dave"]
    qtmodeltester.check(names, force_py=True)


def test_last_seen_text_and_the_roster_tooltip(qapp):
    import time
    now = time.mktime((2026, 12, 5, 15, 0, 0, 0, 0, -1))
    assert last_seen_text(now - 20, now) == "last seen just now"
    assert last_seen_text(now - 300, now) == "last seen 5 min ago"
    assert last_seen_text(now - 2 * 3600, now) == "last seen today at 13:00"
    assert last_seen_text(now - 24 * 3600, now) == "last seen yesterday at 15:00"
    assert last_seen_text(now - 10 * 86400, now) == "last seen on 25 Nov 2026"
    model = RosterModel()
    model.set_roster([("bob", False, time.time() - 300), ("carol", True, None)])
    model.set_online("carol", False, time.time())
    tips = [model.data(model.index(r, 0), Qt.ItemDataRole.ToolTipRole) for r in range(2)]
    assert tips == ["bob, offline, last seen 5 min ago", "carol, offline, last seen just now"]


def test_last_seen_yesterday_across_a_clock_change():
    """Just after the night the clocks went forward (a 23-hour day), a contact last seen the
    day before read "last seen on 29 Mar 2026", not "yesterday"; so did one seen the day
    before on the evening of the 25-hour day the clocks went back."""
    with local_zone("CET-1CEST,M3.5.0,M10.5.0/3"):
        now = time.mktime((2026, 3, 30, 0, 30, 0, 0, 0, -1))
        seen = time.mktime((2026, 3, 29, 10, 0, 0, 0, 0, -1))
        assert last_seen_text(seen, now) == "last seen yesterday at 10:00"
        now = time.mktime((2026, 10, 25, 23, 30, 0, 0, 0, -1))
        seen = time.mktime((2026, 10, 24, 20, 0, 0, 0, 0, -1))
        assert last_seen_text(seen, now) == "last seen yesterday at 20:00"
        seen = time.mktime((2026, 10, 23, 23, 0, 0, 0, 0, -1))
        assert last_seen_text(seen, now) == "last seen on 23 Oct 2026"


def test_a_message_tooltip_gives_the_full_date_and_time(qapp):
    model = ConversationModel("bob", "bob")
    ts = time.mktime((2026, 3, 7, 14, 5, 9, 0, 0, -1))  # local time
    model.append(ChatItem(MessageKind.OTHER, "bob", "see you", ts=ts, seq=1))
    tip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert tip == "bob, Sat 07 Mar 2026 14:05:09: see you"


def test_a_multicast_tooltip_names_the_other_recipients(qapp):
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "lunch?", ts=1.0, seq=1,
                          also=("carol", "dave", "erin")))
    model.append(ChatItem(MessageKind.OTHER, "bob", "just you", ts=2.0, seq=2))
    tips = [model.data(model.index(r, 0), Qt.ItemDataRole.ToolTipRole) for r in range(2)]
    assert tips[0].endswith(": lunch?\nAlso to: carol, dave, erin")
    assert "Also to" not in tips[1]


def test_roster_presence_unknown_while_not_logged_in(qtmodeltester, qtbot, roster):
    qtmodeltester.check(roster, force_py=True)
    groups = GroupModel()
    groups.set_groups([_group("lab", leader="alice", members=("alice", "Bob"))])
    members = MembersModel(groups, roster, "lab", "me")
    first = roster.index(0, 0)
    assert roster.presence_known and first.data(RosterModel.PresenceKnownRole) is True
    assert members.member(1).online  # Bob
    with qtbot.waitSignal(roster.dataChanged) as changed:
        roster.set_presence_known(False)
    assert RosterModel.PresenceKnownRole in changed.args[2]
    assert changed.args[:2] == [first, roster.index(roster.rowCount() - 1, 0)]
    assert first.data(RosterModel.PresenceKnownRole) is False
    assert first.data(Qt.ItemDataRole.ToolTipRole) == "alice, presence unknown (not connected)"
    assert not members.member(1).online  # the member panel shows it too
    with qtbot.assertNotEmitted(roster.dataChanged):
        roster.set_presence_known(False)
    roster.set_presence_known(True)
    assert first.data(Qt.ItemDataRole.ToolTipRole) == "alice, online"
    assert members.member(1).online


def test_a_deleted_message_is_not_edited_even_when_it_comes_with_an_edited_time(qapp):
    """A history page or a catch-up may bring a deleted message with the time of its last
    edit (the server keeps it): its bubble read "This message was deleted." with "edited
    14:02" beside it (a hunt). EditedRole (what the delegate draws) and the accessible text
    say nothing of an edit for it."""
    from messenger.protocol import RETRACTED_TEXT

    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", RETRACTED_TEXT, ts=1.0e9, seq=1,
                          edited=1.0e9 + 60))
    model.append(ChatItem(MessageKind.OTHER, "bob", "meet at 4", ts=1.0e9, seq=2,
                          edited=1.0e9 + 60))
    assert model.data(model.index(0, 0), ConversationModel.EditedRole) is None
    assert "edited" not in model.data(model.index(0, 0), Qt.ItemDataRole.AccessibleTextRole)
    assert model.data(model.index(1, 0), ConversationModel.EditedRole) == 1.0e9 + 60
    assert model.set_text(2, RETRACTED_TEXT)  # deleted now: its edit time goes
    assert model.item(1).edited is None


def test_find_quoted_looks_in_loaded_rows_and_the_cache_newest_first():
    """A click on a reply's quote goes to the newest matching message before the reply:
    a cached one in a gap between loaded rows is newer than a loaded one further up."""
    class Cache:  # the cached messages not loaded (the engine reads the LocalStore)
        def quote_candidates(self, model, sender, before):
            return iter([QuoteCandidate(5, "bob", "ok?"), QuoteCandidate(1, "bob", "ok?")])

    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "ok?", seq=1))
    model.append(ChatItem(MessageKind.OTHER, "bob", "later", seq=8))
    model.append(ChatItem(MessageKind.OWN, "alice", reply_text("bob", "ok?", "yes"), seq=9))
    model.append(ChatItem(MessageKind.OTHER, "bob", "ok?", seq=10))
    assert model.find_quoted(2).seq == 1  # (no cache: the loaded one)
    model.set_source(Cache())  # type: ignore[arg-type]
    assert model.find_quoted(2).seq == 5
    assert model.find_quoted(1).outcome is QuoteOutcome.GONE  # (no quote)

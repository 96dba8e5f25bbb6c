"""The roster and conversation models: qtmodeltester, sorting, unread counts, dedupe."""

from __future__ import annotations

import pytest

from messenger.client.models import (
    ChatItem,
    ConversationModel,
    DeliveryState,
    MessageKind,
    RosterModel,
)


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


def test_conversation_drops_redelivered_seq(qapp):
    model = ConversationModel("bob", "bob")
    assert model.append(ChatItem(MessageKind.OTHER, "bob", "hi", seq=3))
    assert not model.append(ChatItem(MessageKind.OTHER, "bob", "hi", seq=3))
    assert model.rowCount() == 1
    assert model.has_seq(3)

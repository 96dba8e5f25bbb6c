"""Groups over real sockets: invitations, membership, hand-over, dissolution, offline delivery."""

from __future__ import annotations

from helpers.wire import connect_as

from messenger.protocol import (
    Error,
    ErrorCode,
    GetGroups,
    GroupAccept,
    GroupCreate,
    GroupDecline,
    GroupInvitation,
    GroupJoin,
    GroupLeave,
    GroupUpdate,
    Message,
    Ok,
)


def chat(m) -> bool:
    return isinstance(m, Message) and m.notice is None


def test_invite_accept_then_messages_reach_members_only(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    ok = alice.request(GroupCreate, group="lab", invite=["bob", "charlie"])
    assert isinstance(ok, Ok) and ok.group.leader == "alice"
    invitation = bob.wait_for(lambda f: isinstance(f, GroupInvitation))
    assert (invitation.group.name, invitation.by) == ("lab", "alice")
    charlie.wait_for(lambda f: isinstance(f, GroupInvitation))
    assert isinstance(bob.request(GroupAccept, group="lab"), Ok)
    joined = alice.wait_for(lambda f: isinstance(f, Message) and f.notice == "joined")
    assert joined.text == "bob joined"
    assert isinstance(alice.send_text("group", "members only", ["lab"]), Ok)
    msg = bob.wait_for(chat)
    assert (msg.group, msg.text, msg.sender) == ("lab", "members only", "alice")
    # charlie, still only invited, got nothing but the invitation and updates.
    assert not [f for f in charlie.frames if chat(f)]
    assert isinstance(bob.send_text("group", "back at you", ["lab"]), Ok)
    assert alice.wait_for(chat).text == "back at you"
    assert not [f for f in charlie.frames if chat(f)]


def test_decline_tells_the_group(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice.request(GroupCreate, group="lab", invite=["bob"])
    bob.wait_for(lambda f: isinstance(f, GroupInvitation))
    assert isinstance(bob.request(GroupDecline, group="lab"), Ok)
    notice = alice.wait_for(lambda f: isinstance(f, Message) and f.notice == "declined")
    assert notice.sender == "bob"
    err = bob.request(GroupAccept, group="lab")
    assert isinstance(err, Error) and err.code == ErrorCode.NOT_INVITED


def test_invite_only_join_refused_public_join_allowed(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice.request(GroupCreate, group="secret")
    alice.request(GroupCreate, group="Lobby", public=True)
    err = bob.request(GroupJoin, group="secret")
    assert err.code == ErrorCode.NOT_INVITED and "invite-only" in err.message
    listed = bob.request(GetGroups)
    assert [g.name for g in listed.groups] == ["Lobby"]
    ok = bob.request(GroupJoin, group="lobby")
    assert isinstance(ok, Ok) and ok.group.members == ["alice", "bob"]
    assert bob.request(GroupJoin, group="LOBBY").code == ErrorCode.ALREADY_MEMBER


def test_leader_leaves_new_leader_notified_and_last_member_dissolves(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    alice.request(GroupCreate, group="g", public=True)
    bob.request(GroupJoin, group="g")
    charlie.request(GroupJoin, group="g")
    assert isinstance(alice.request(GroupLeave, group="g"), Ok)
    for client in (bob, charlie):
        notice = client.wait_for(lambda f: isinstance(f, Message) and f.notice == "leader")
        assert notice.text == "bob is the new leader"
        client.wait_for(lambda f: isinstance(f, GroupUpdate) and f.group.leader == "bob")
    bob.request(GroupLeave, group="g")
    charlie.request(GroupLeave, group="g")
    charlie.wait_for(lambda f: isinstance(f, GroupUpdate) and f.gone)
    assert alice.request(GroupJoin, group="g").code == ErrorCode.UNKNOWN_GROUP


def test_non_member_post_refused(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice.request(GroupCreate, group="g", public=True)
    err = bob.send_text("group", "let me in", ["g"])
    assert isinstance(err, Error) and err.code == ErrorCode.NOT_MEMBER
    assert bob.send_text("group", "x", ["nowhere"]).code == ErrorCode.UNKNOWN_GROUP


def test_offline_member_gets_group_messages_at_next_login(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice.request(GroupCreate, group="g", invite=["bob"])
    bob.request(GroupAccept, group="g")
    bob.close()
    ack = alice.send_text("group", "you missed this", ["g"])
    bob = connect_as(qtbot, server, "bob", "bob123")
    msg = bob.wait_for(chat)
    assert (msg.seq, msg.group, msg.text) == (ack.seq, "g", "you missed this")

"""Groups over real sockets: invitations, membership, hand-over, dissolution, offline delivery."""

from __future__ import annotations

from helpers.wire import WireClient, connect_as

from messenger.protocol import (
    EDITED_AFTER_LEAVING_TEXT,
    RETRACTED_TEXT,
    Edit,
    Error,
    ErrorCode,
    GetGroups,
    GetHistory,
    GroupAccept,
    GroupCreate,
    GroupDecline,
    GroupInvitation,
    GroupInvite,
    GroupJoin,
    GroupLeave,
    GroupRemove,
    GroupUpdate,
    Message,
    Ok,
    ReceiptCount,
    Retract,
)


def chat(m) -> bool:
    return isinstance(m, Message) and m.notice is None


def public_lab(qtbot, server) -> tuple[WireClient, WireClient, WireClient]:
    """alice, bob and charlie logged in; alice made the public group "lab", the others
    joined it."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    alice.request(GroupCreate, group="lab", public=True)
    for c in (bob, charlie):
        assert isinstance(c.request(GroupJoin, group="lab"), Ok)
    return alice, bob, charlie


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


def test_group_inbox_and_confirmations_survive_a_server_restart(qtbot, make_server):
    """Group messages keep no row per member (schema 6): the member's cursor and the
    membership spans must still give an offline member everything once, and a member who
    confirmed nothing again, across a restart."""
    server = make_server(demo=True)
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")  # confirms what it gets
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    assert isinstance(alice.request(GroupCreate, group="lab", public=True), Ok)
    for member in (bob, charlie):
        assert isinstance(member.request(GroupJoin, group="lab"), Ok)
    charlie.close()
    seqs = [alice.send_text("group", f"m{i}", ["lab"]).seq for i in range(3)]
    alice.wait_for(lambda f: isinstance(f, ReceiptCount) and f.seq == seqs[-1]
                   and f.delivered == 1)  # bob's confirmation reached the server
    server.close()
    again = make_server(demo=True, data_dir=server.data_dir)

    def replayed(user: str) -> list[int]:
        client = connect_as(qtbot, again, user, user + "123")
        client.request(GetGroups)  # answered after the login's replay
        client.request(GetGroups)  # ... and after the confirmations of the replay
        return [m.seq for m in client.messages() if chat(m)]

    assert replayed("charlie") == seqs  # confirmed nothing: everything, in order
    assert replayed("bob") == []  # confirmed all: nothing again
    again.close()
    third = make_server(demo=True, data_dir=server.data_dir)
    charlie = connect_as(qtbot, third, "charlie", "charlie123")
    charlie.request(GetGroups)
    assert [m.seq for m in charlie.messages() if chat(m)] == []  # confirmed at the replay


def notices(client) -> list[tuple[str, int]]:
    return [(f.notice, f.replaces) for f in client.frames
            if isinstance(f, Message) and f.notice in ("edited", "deleted")]


def test_a_removed_member_may_delete_but_not_edit_and_later_joiners_hear_nothing(
        qtbot, server):
    alice, bob, charlie = public_lab(qtbot, server)
    seq = bob.send_text("group", "bob's plan", ["lab"]).seq
    assert isinstance(alice.request(GroupRemove, group="lab", user="bob"), Ok)
    dora = WireClient(qtbot, server.host, server.port)  # joins after bob's message
    dora.hello()
    assert isinstance(dora.register("dora", "dora-pass"), Ok)
    assert isinstance(dora.request(GroupJoin, group="lab"), Ok)
    err = bob.request(Edit, client_msg_id="e1", seq=seq, text="SPAM from removed bob")
    assert isinstance(err, Error) and err.code == ErrorCode.NOT_MEMBER
    deleted = bob.request(Retract, seq=seq)
    assert isinstance(deleted, Ok)
    charlie.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted"
                     and f.replaces == seq)
    assert alice.send_text("group", "marker", ["lab"]).seq > deleted.seq
    dora.wait_for(lambda f: chat(f) and f.text == "marker")
    assert notices(dora) == [] and notices(charlie) == []  # (charlie's was consumed)
    history = charlie.request(GetHistory, conversation="group:lab")
    texts = {m.seq: m.text for m in history.messages}
    assert texts[seq] == RETRACTED_TEXT


def test_a_group_reusing_a_dissolved_groups_name_gets_none_of_its_edits(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    alice.request(GroupCreate, group="lab", invite=["bob"])
    bob.request(GroupAccept, group="lab")
    seq = bob.send_text("group", "secret plan", ["lab"]).seq
    alice.request(GroupLeave, group="lab")
    bob.request(GroupLeave, group="lab")  # dissolved
    assert isinstance(charlie.request(GroupCreate, group="LAB", public=True), Ok)
    assert isinstance(bob.request(GroupJoin, group="LAB"), Ok)
    err = bob.request(Edit, client_msg_id="e1", seq=seq, text="new secret text")
    assert isinstance(err, Error) and err.code == ErrorCode.NOT_MEMBER
    assert isinstance(bob.request(Retract, seq=seq), Ok)
    bob.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted")  # his own
    bob.send_text("group", "marker", ["LAB"])
    charlie.wait_for(lambda f: chat(f) and f.text == "marker")
    assert notices(charlie) == [] and notices(alice) == []


def test_a_former_member_reads_what_came_while_a_member(qtbot, server):
    """History was refused once a member left: a device that had missed some of the group's
    messages could never fill the gap, and a new device saw nothing of a group left."""
    alice, bob, charlie = public_lab(qtbot, server)
    alice.send_text("group", "before bob left", ["lab"])
    assert isinstance(bob.request(GroupLeave, group="lab"), Ok)
    alice.send_text("group", "after bob left", ["lab"])
    page = bob.request(GetHistory, conversation="group:lab")
    assert [m.text for m in page.messages if m.notice is None] == ["before bob left"]
    # The group dissolved: the same.
    alice.request(GroupLeave, group="lab")
    charlie.request(GroupLeave, group="lab")  # dissolved
    page = alice.request(GetHistory, conversation="group:lab", after=0)
    assert [m.text for m in page.messages if m.notice is None] == [
        "before bob left", "after bob left"]
    # Never a member: refused, as is an unknown group.
    dora = WireClient(qtbot, server.host, server.port)
    dora.hello()
    assert isinstance(dora.register("dora", "dora-pass"), Ok)
    assert dora.request(GetHistory, conversation="group:lab").code == ErrorCode.UNKNOWN_GROUP
    alice.request(GroupCreate, group="other", public=True)
    assert dora.request(GetHistory, conversation="group:other").code == ErrorCode.NOT_MEMBER
    # The store's own keys are no groups (Everyone's, a pair's), though spans name them.
    assert isinstance(bob.send_text("unicast", "hi", ["alice"]), Ok)
    for name in ("*", "alice|bob"):
        err = alice.request(GetHistory, conversation=f"group:{name}")
        assert isinstance(err, Error) and err.code == ErrorCode.UNKNOWN_GROUP, name


def test_a_former_member_does_not_read_edits_made_after_they_left(qtbot, server):
    """The edit notice goes to who is a member then; the stored text is the edited one, so
    history gave a removed member what was written after their removal (a diff review)."""
    alice, bob, charlie = public_lab(qtbot, server)
    before = alice.send_text("group", "v1", ["lab"]).seq
    after = alice.send_text("group", "w1", ["lab"]).seq
    assert isinstance(alice.request(Edit, client_msg_id="e1", seq=before, text="v2"), Ok)
    assert isinstance(alice.request(GroupRemove, group="lab", user="bob"), Ok)
    assert isinstance(alice.request(Edit, client_msg_id="e2", seq=after,
                                    text="written after bob was removed"), Ok)
    texts = {m.seq: m.text for m in bob.request(GetHistory, conversation="group:lab").messages}
    assert texts[before] == "v2"  # edited while he was a member: he got that edit
    assert texts[after] == EDITED_AFTER_LEAVING_TEXT
    texts = {m.seq: m.text
             for m in charlie.request(GetHistory, conversation="group:lab").messages}
    assert texts[after] == "written after bob was removed"


def test_an_invitation_waiting_at_login_names_who_invited(qtbot, server):
    """charlie, invited while offline, read "Someone invited you to lab": the login's group
    list said nothing of the inviter (bob here, not the leader). Members are told nobody's."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice.request(GroupCreate, group="lab", public=True)
    assert isinstance(bob.request(GroupJoin, group="lab"), Ok)
    assert isinstance(bob.request(GroupInvite, group="lab", users=["charlie"]), Ok)
    charlie = WireClient(qtbot, server.host, server.port)
    charlie.hello()
    ok = charlie.login("CHARLIE", "charlie123")
    (lab,) = ok.groups
    assert (lab.leader, lab.invited_by) == ("alice", "bob")
    assert [g.invited_by for g in charlie.request(GetGroups).groups] == ["bob"]
    assert [g.invited_by for g in bob.request(GetGroups).groups] == [""]

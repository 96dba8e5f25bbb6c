"""Group rules without sockets: the Groups class and the core's group requests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from messenger.protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
    GroupAccept,
    GroupCreate,
    GroupDecline,
    GroupInvitation,
    GroupInvite,
    GroupJoin,
    GroupLeave,
    GroupRemove,
    GroupUpdate,
    Hello,
    Login,
    Message,
    Ok,
    Send,
)
from messenger.server import groups as groups_module
from messenger.server.auth import LoginThrottle, Passwords
from messenger.server.core import Fanout, Out, ServerCore, run_inline
from messenger.server.groups import Groups, RuleError
from messenger.server.store import Store

USERS = ("alice", "bob", "charlie", "dave")


class InlineCore(ServerCore):
    """Runs the argon2id work inline, as the server's worker threads would."""

    def handle(self, conn, frame):
        return run_inline(super().handle(conn, frame))


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "groups.db")


@pytest.fixture
def groups(store) -> Groups:
    return Groups(store)


def code_of(call) -> ErrorCode:
    with pytest.raises(RuleError) as info:
        call()
    return info.value.code


def test_creator_is_leader_and_first_member_invitees_are_not_members(groups):
    g = groups.create("alice", "Lab", ["bob", "alice"], public=False)
    assert (g.leader, g.members, list(g.invited)) == ("alice", ["alice"], ["bob"])
    assert not g.is_member("bob")


def test_group_names_are_unique_ignoring_case_and_validated(groups):
    groups.create("alice", "Lab", [], public=True)
    assert code_of(lambda: groups.create("bob", "LAB", [], True)) == ErrorCode.NAME_TAKEN
    assert code_of(lambda: groups.create("bob", "no spaces", [], True)) == ErrorCode.INVALID_NAME
    assert code_of(lambda: groups.create("bob", "", [], True)) == ErrorCode.INVALID_NAME


@pytest.mark.parametrize("lookalike", ["Iab", "1ab", "LAB"])
def test_a_group_name_that_reads_like_an_existing_one_is_refused(groups, lookalike):
    """Account names that read alike in a sans-serif font ("aIice" next to "alice") were
    refused, group names only compared ignoring case: next to the public group "lab",
    anyone could create "Iab" (capital i) or "1ab", and the "Join a group" list showed two
    groups that read "lab"."""
    groups.create("alice", "lab", [], public=True)
    with pytest.raises(RuleError) as info:
        groups.create("bob", lookalike, [], public=True)
    assert info.value.code == ErrorCode.NAME_TAKEN
    if lookalike != "LAB":
        assert "looks too much like 'lab'" in info.value.message
    groups.leave("alice", "lab")  # the group ends: its name, and names like it, are free
    assert groups.create("bob", lookalike, [], public=True).name == lookalike


def test_one_account_leads_a_bounded_number_of_groups_and_invites_nobody_past_a_bound(
        groups, monkeypatch):
    """One account made 1,500 groups, each inviting bob, who could only decline them one
    by one (a security review)."""
    monkeypatch.setattr(groups_module, "MAX_LED_GROUPS", 4)
    monkeypatch.setattr(groups_module, "MAX_WAITING_INVITATIONS", 3)
    for n in range(3):
        groups.create("alice", f"g{n}", ["bob"], public=True)
    assert code_of(lambda: groups.create("alice", "g3", ["bob"], True)) == \
        ErrorCode.LIMIT_REACHED  # bob holds three waiting invitations
    assert code_of(lambda: groups.create("alice", "g3", ["Charlie", "BOB"], True)) == \
        ErrorCode.LIMIT_REACHED  # (nothing was done: charlie is not invited either)
    assert not any(g.is_invited("charlie") for g in groups.visible_to("charlie"))
    g3 = groups.create("alice", "g3", [], public=True)
    assert code_of(lambda: groups.invite("alice", "g3", ["bob"])) == ErrorCode.LIMIT_REACHED
    assert code_of(lambda: groups.create("alice", "g4", [], True)) == ErrorCode.LIMIT_REACHED
    groups.decline("bob", "g0")  # an answer makes room
    assert groups.invite("alice", "g3", ["bob"])[1] == ["bob"]
    groups.leave("alice", g3.name)  # (dissolved: one group fewer to lead)
    groups.create("alice", "g4", [], public=True)
    groups.create("bob", "b0", [], public=True)  # another account: its own bound


def test_a_failed_request_undoes_its_group_changes_in_memory_as_in_the_database(store, groups):
    """A request that changed groups and then failed (its writes undone by the store: a
    write lock held by another program, a disk error) leaves memory as the database is;
    changes of earlier requests stay. A group created so stayed until the restart."""
    store.set_batch(True)  # as the server runs it
    with store.guard():
        lab = groups.create("alice", "Lab", ["bob"], public=False)
    store.commit()
    for change in (lambda: groups.create("alice", "Attic", [], public=True),
                   lambda: groups.accept("bob", "Lab"),
                   lambda: groups.invite("alice", "Lab", ["charlie"]),
                   lambda: groups.leave("alice", "Lab")):
        with pytest.raises(RuntimeError), store.guard():
            change()
            raise RuntimeError("the request failed after the change")
        groups.undo()
        assert [g.name for g in groups.visible_to("alice")] == ["Lab"]
        assert groups.get("lab") is lab
        assert (lab.leader, lab.members, list(lab.invited)) == ("alice", ["alice"], ["bob"])
        assert [(r.leader, list(r.members), list(r.invited)) for r in store.load_groups()] == [
            ("alice", ["alice"], ["bob"])]
    groups.undo()  # (again: nothing more to undo)
    with store.guard():
        groups.accept("bob", "Lab")
    with pytest.raises(RuntimeError), store.guard():
        raise RuntimeError("a later request failed without changing a group")
    groups.undo()  # it does not undo the earlier request, which succeeded
    assert lab.members == ["alice", "bob"]


def test_accept_and_decline(groups):
    groups.create("alice", "lab", ["bob", "charlie"], public=False)
    assert groups.accept("bob", "LAB").members == ["alice", "bob"]
    g = groups.decline("charlie", "lab")
    assert "charlie" not in g.invited and not g.is_member("charlie")
    assert code_of(lambda: groups.accept("charlie", "lab")) == ErrorCode.NOT_INVITED
    assert code_of(lambda: groups.accept("bob", "lab")) == ErrorCode.ALREADY_MEMBER


def test_join_public_and_invite_only(groups):
    groups.create("alice", "pub", [], public=True)
    groups.create("alice", "priv", ["charlie"], public=False)
    assert groups.join("bob", "pub").members == ["alice", "bob"]
    assert code_of(lambda: groups.join("bob", "pub")) == ErrorCode.ALREADY_MEMBER
    assert code_of(lambda: groups.join("bob", "priv")) == ErrorCode.NOT_INVITED
    assert groups.join("charlie", "priv").members == ["alice", "charlie"]  # join = accept
    assert code_of(lambda: groups.join("bob", "nope")) == ErrorCode.UNKNOWN_GROUP


def test_who_may_invite(groups):
    groups.create("alice", "priv", ["bob"], public=False)
    groups.accept("bob", "priv")
    assert code_of(lambda: groups.invite("bob", "priv", ["charlie"])) == ErrorCode.NOT_LEADER
    assert code_of(lambda: groups.invite("dave", "priv", ["charlie"])) == ErrorCode.NOT_MEMBER
    assert groups.invite("alice", "priv", ["charlie"])[1] == ["charlie"]
    assert groups.invite("alice", "priv", ["charlie"])[1] == []  # already invited: no-op
    assert code_of(lambda: groups.invite("alice", "priv", ["bob"])) == ErrorCode.ALREADY_MEMBER
    groups.create("alice", "pub", [], public=True)
    groups.join("bob", "pub")
    assert groups.invite("bob", "pub", ["dave"])[1] == ["dave"]  # members invite in public


def test_inviting_a_member_with_others_invites_the_others(groups):
    """The Invite dialog listed bob; he joined while it was open; alice picked him and carol:
    the server refused the whole invite ("already in lab: bob") and carol was not invited."""
    groups.create("alice", "lab", ["bob"], public=False)
    groups.accept("bob", "lab")
    group, new = groups.invite("alice", "lab", ["bob", "carol"])
    assert new == ["carol"] and group.members == ["alice", "bob"]
    assert list(group.invited) == ["carol"]
    # Nobody but members picked: refused, as before.
    assert code_of(lambda: groups.invite("alice", "lab", ["bob"])) == ErrorCode.ALREADY_MEMBER


def test_leader_hand_over_goes_to_longest_standing_member(groups):
    groups.create("alice", "g", [], public=True)
    for user in ("charlie", "bob", "dave"):
        groups.join(user, "g")
    left = groups.leave("alice", "g")
    assert (left.new_leader, left.dissolved) == ("charlie", False)
    assert left.group.members == ["charlie", "bob", "dave"]
    left = groups.leave("bob", "g")  # not the leader: no hand-over
    assert left.new_leader is None and left.group.leader == "charlie"
    assert groups.leave("charlie", "g").new_leader == "dave"


def test_last_member_leaving_dissolves(groups, store):
    groups.create("alice", "g", ["bob"], public=False)
    left = groups.leave("alice", "g")
    assert left.dissolved
    assert code_of(lambda: groups.get("g")) == ErrorCode.UNKNOWN_GROUP
    assert Groups(store).of_user("bob") == []


def test_remove_is_for_the_leader(groups):
    groups.create("alice", "g", [], public=True)
    groups.join("bob", "g")
    groups.join("charlie", "g")
    assert code_of(lambda: groups.remove("bob", "g", "charlie")) == ErrorCode.NOT_LEADER
    assert code_of(lambda: groups.remove("alice", "g", "alice")) == ErrorCode.BAD_REQUEST
    assert code_of(lambda: groups.remove("alice", "g", "dave")) == ErrorCode.NOT_MEMBER
    assert groups.remove("alice", "g", "bob").group.members == ["alice", "charlie"]


def test_groups_persist(groups, store):
    groups.create("alice", "g", ["bob"], public=False)
    groups.accept("bob", "g")
    again = Groups(store).get("G")
    assert (again.name, again.leader, again.members, again.public) == (
        "g", "alice", ["alice", "bob"], False)


# ---------------------------------------------------------------------- through the core


@pytest.fixture
def core(store) -> ServerCore:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    for name in USERS:
        store.create_account(name, passwords.hash(name + "123"))
    return InlineCore(store, passwords, LoginThrottle())


def login(core, conn, user):
    core.connected(conn, f"10.0.0.{conn}:5000")
    core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
    return core.handle(conn, Login(id=1, user=user, password=user + "123"))


def to(actions, conn, kind=object):
    return [a.frame for a in actions if ((isinstance(a, Out) and a.conn == conn)
            or (isinstance(a, Fanout) and conn in a.conns)) and isinstance(a.frame, kind)]


def test_core_invite_accept_messages_reach_members_only(core):
    alice, bob, charlie = 1, 2, 3
    for conn, user in ((alice, "alice"), (bob, "bob"), (charlie, "charlie")):
        login(core, conn, user)
    actions = core.handle(alice, GroupCreate(id=5, group="lab", invite=["bob", "charlie"]))
    assert to(actions, alice, Ok)[0].group.members == ["alice"]
    assert [f.by for f in to(actions, bob, GroupInvitation)] == ["alice"]
    # Invited is not a member: no group messages yet.
    actions = core.handle(alice, Send(id=6, client_msg_id="a", scope="group", text="x",
                                      to=["lab"]))
    assert to(actions, bob, Message) == []
    actions = core.handle(bob, GroupAccept(id=7, group="lab"))
    notices = to(actions, alice, Message)
    assert [(n.notice, n.text) for n in notices] == [("joined", "bob joined")]
    actions = core.handle(charlie, GroupDecline(id=8, group="lab"))
    assert [n.notice for n in to(actions, alice, Message)] == ["declined"]
    assert to(actions, charlie, GroupUpdate)[0].gone
    actions = core.handle(alice, Send(id=9, client_msg_id="b", scope="group", text="hi",
                                      to=["LAB"]))
    (msg,) = to(actions, bob, Message)
    assert (msg.group, msg.text, msg.sender, msg.notice) == ("lab", "hi", "alice", None)
    assert to(actions, charlie) == []


def test_core_non_member_and_unknown_group(core):
    login(core, 1, "alice")
    login(core, 2, "bob")
    core.handle(1, GroupCreate(id=1, group="g", public=True))
    (err,) = to(core.handle(2, Send(id=3, client_msg_id="z", scope="group", text="x",
                                    to=["g"])), 2)
    assert (err.code, err.id) == (ErrorCode.NOT_MEMBER, 3)
    (err,) = to(core.handle(2, Send(id=4, client_msg_id="y", scope="group", text="x",
                                    to=["nope"])), 2)
    assert err.code == ErrorCode.UNKNOWN_GROUP
    (err,) = to(core.handle(2, GroupJoin(id=5, group="nope")), 2)
    assert err.code == ErrorCode.UNKNOWN_GROUP
    (err,) = to(core.handle(2, GroupInvite(id=6, group="g", users=["ghost"])), 2)
    assert err.code == ErrorCode.NOT_MEMBER
    core.handle(2, GroupJoin(id=7, group="g"))
    (err,) = to(core.handle(2, GroupJoin(id=8, group="g")), 2)
    assert err.code == ErrorCode.ALREADY_MEMBER
    (err,) = to(core.handle(2, GroupInvite(id=9, group="g", users=["ghost"])), 2)
    assert err.code == ErrorCode.UNKNOWN_USER


def test_core_a_message_for_a_dissolved_group_is_refused_by_a_new_one_of_its_name(core):
    """A message typed offline for the group "g" was posted, once the link was back, to a
    new group "g" made after the first was dissolved: other people. A ``send`` naming the
    group's ``created`` time is refused as ``group_changed`` by a group created at another
    time, and taken by the one it names; without the field it goes as before."""
    login(core, 1, "alice")
    login(core, 2, "bob")
    (ok,) = to(core.handle(1, GroupCreate(id=1, group="g", public=True)), 1, Ok)
    old = ok.group.created
    core.handle(1, GroupLeave(id=2, group="g"))  # (dissolved: nobody left)
    (ok,) = to(core.handle(2, GroupCreate(id=3, group="g", public=True)), 2, Ok)
    core.handle(1, GroupJoin(id=4, group="g"))
    assert ok.group.created != old
    actions = core.handle(1, Send(id=5, client_msg_id="m1", scope="group", text="x",
                                  to=["g"], group_created=old))
    (err,) = to(actions, 1)
    assert (err.code, err.id) == (ErrorCode.GROUP_CHANGED, 5)
    assert "dissolved" in err.message
    assert to(actions, 2) == []
    actions = core.handle(1, Send(id=6, client_msg_id="m1", scope="group", text="x",
                                  to=["g"], group_created=ok.group.created))
    assert [m.text for m in to(actions, 2, Message)] == ["x"]
    actions = core.handle(1, Send(id=7, client_msg_id="m2", scope="group", text="y",
                                  to=["g"]))
    assert [m.text for m in to(actions, 2, Message)] == ["y"]


def test_core_leader_leaves_everyone_sees_new_leader(core):
    for conn, user in ((1, "alice"), (2, "bob"), (3, "charlie")):
        login(core, conn, user)
    core.handle(1, GroupCreate(id=1, group="g", public=True))
    core.handle(2, GroupJoin(id=2, group="g"))
    core.handle(3, GroupJoin(id=3, group="g"))
    actions = core.handle(1, GroupLeave(id=4, group="g"))
    for conn in (2, 3):
        assert [n.notice for n in to(actions, conn, Message)] == ["left", "leader"]
        assert to(actions, conn, GroupUpdate)[0].group.leader == "bob"
    assert to(actions, 1, GroupUpdate)[0].gone


def test_core_remove_and_dissolve(core):
    for conn, user in ((1, "alice"), (2, "bob")):
        login(core, conn, user)
    core.handle(1, GroupCreate(id=1, group="g", public=True))
    core.handle(2, GroupJoin(id=2, group="g"))
    actions = core.handle(1, GroupRemove(id=3, group="g", user="BOB"))
    assert [n.text for n in to(actions, 2, Message)] == ["alice removed bob"]
    assert to(actions, 2, GroupUpdate)[0].gone
    actions = core.handle(1, GroupLeave(id=4, group="g"))
    assert to(actions, 1, GroupUpdate)[0].gone
    (err,) = to(core.handle(2, GroupJoin(id=5, group="g")), 2)
    assert err.code == ErrorCode.UNKNOWN_GROUP


def test_the_ok_of_a_group_send_says_how_many_it_went_to(core, store):
    """The app said "delivered to 0 of 1" of alice's message to "lab" while bob, its other
    member, was offline, and "delivered to 0 of 2" once charlie joined, though it never went
    to charlie: it counted today's members. The send's ``ok`` says whom it went to, a
    retry's too (also from the database, after a restart), a broadcast's too."""
    login(core, 1, "alice")
    core.handle(1, GroupCreate(id=1, group="lab", invite=["bob"], public=True))
    login(core, 2, "bob")
    core.handle(2, GroupAccept(id=2, group="lab"))
    core.disconnected(2)

    def ok_of(conn, frame) -> Ok:
        (ok,) = to(core.handle(conn, frame), conn, Ok)
        return ok

    first = Send(id=3, client_msg_id="m1", scope="group", text="anyone there?", to=["lab"])
    assert ok_of(1, first).recipients == 1
    login(core, 3, "charlie")
    core.handle(3, GroupJoin(id=4, group="lab"))
    assert ok_of(1, first).recipients == 1  # (a retry: whom it went to then)
    assert ok_of(1, Send(id=5, client_msg_id="m2", scope="group", text="hi",
                         to=["lab"])).recipients == 2
    assert ok_of(1, Send(id=6, client_msg_id="m3", scope="broadcast",
                         text="all")).recipients == len(USERS) - 1
    assert ok_of(1, Send(id=7, client_msg_id="m4", scope="unicast", text="psst",
                         to=["bob"])).recipients is None
    store.close()
    reopened = Store(store.path)  # (a restart: nothing cached in memory)
    again = InlineCore(reopened, core.passwords, LoginThrottle())
    again.connected(9, "10.0.0.9:5000")
    again.handle(9, Hello(protocol_version=PROTOCOL_VERSION))
    again.handle(9, Login(id=1, user="alice", password="alice123"))
    (ok,) = to(again.handle(9, first), 9, Ok)
    assert ok.recipients == 1
    reopened.close()


def test_core_offline_member_gets_group_messages_and_invitations_at_login(core):
    login(core, 1, "alice")
    core.handle(1, GroupCreate(id=1, group="g", invite=["bob"]))
    actions = login(core, 2, "bob")
    ok = to(actions, 2, Ok)[0]
    assert [(g.name, g.invited) for g in ok.groups] == [("g", ["bob"])]
    core.handle(2, GroupAccept(id=2, group="g"))
    core.disconnected(2)
    core.handle(1, Send(id=3, client_msg_id="m", scope="group", text="while away", to=["g"]))
    actions = login(core, 4, "bob")
    texts = [m.text for m in to(actions, 4, Message)]
    assert "while away" in texts

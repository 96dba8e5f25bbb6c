"""Edits and deletions of group messages, decided by ServerCore without sockets: only a member
since the message may edit it; a deletion is always allowed to its sender, and its notice goes
only to the members now who got the message (an edit's: who have been members since it), never
to a later group that reuses the name."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from messenger.protocol import (
    PROTOCOL_VERSION,
    RETRACTED_TEXT,
    Edit,
    Error,
    ErrorCode,
    GetHistory,
    GroupCreate,
    GroupJoin,
    GroupLeave,
    GroupRemove,
    Hello,
    Login,
    Message,
    Ok,
    Retract,
    Send,
)
from messenger.server.auth import LoginThrottle, Passwords
from messenger.server.core import Fanout, Out, ServerCore, run_inline
from messenger.server.store import Store

USERS = ("alice", "bob", "charlie", "dave")
ALICE, BOB, CHARLIE, DAVE = 1, 2, 3, 4


class InlineCore(ServerCore):
    def handle(self, conn, frame):
        return run_inline(super().handle(conn, frame))


@pytest.fixture
def core(tmp_path):
    store = Store(tmp_path / "edits.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    for name in USERS:
        store.create_account(name, passwords.hash(name + "123"))
    core = InlineCore(store, passwords, LoginThrottle())
    for conn, user in enumerate(USERS, start=1):
        core.connected(conn, f"10.0.0.{conn}:5000")
        core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
        assert isinstance(core.handle(conn, Login(id=1, user=user, password=user + "123"))[0]
                          .frame, Ok)
    yield core
    store.close()


def to(actions, conn, kind=object):
    return [a.frame for a in actions if ((isinstance(a, Out) and a.conn == conn)
            or (isinstance(a, Fanout) and conn in a.conns)) and isinstance(a.frame, kind)]


def reply(actions, conn):
    (frame,) = [f for f in to(actions, conn) if isinstance(f, Ok | Error)]
    return frame


def post(core, conn, group, text):
    ok = reply(core.handle(conn, Send(id=9, client_msg_id=text, scope="group", text=text,
                                      to=[group])), conn)
    assert isinstance(ok, Ok), ok
    return ok.seq


def lab_with_a_message_of_bob(core) -> int:
    """``lab`` (public) with alice, bob and charlie; bob posted the returned seq."""
    core.handle(ALICE, GroupCreate(id=2, group="lab", public=True))
    for conn in (BOB, CHARLIE):
        core.handle(conn, GroupJoin(id=3, group="lab"))
    return post(core, BOB, "lab", "bob's plan")


def test_a_removed_member_cannot_edit_his_group_message(core):
    seq = lab_with_a_message_of_bob(core)
    core.handle(ALICE, GroupRemove(id=4, group="lab", user="bob"))
    core.handle(DAVE, GroupJoin(id=5, group="lab"))
    actions = core.handle(BOB, Edit(id=6, client_msg_id="e1", seq=seq, text="SPAM"))
    err = reply(actions, BOB)
    assert (err.code, err.id) == (ErrorCode.NOT_MEMBER, 6) and "delete" in err.message
    assert [f for c in (ALICE, CHARLIE, DAVE) for f in to(actions, c)] == []
    assert core.store.message(seq).text == "bob's plan"  # history is not rewritten


def test_a_member_who_left_and_came_back_cannot_edit_what_he_sent_before(core):
    seq = lab_with_a_message_of_bob(core)
    core.handle(BOB, GroupLeave(id=4, group="lab"))
    post(core, ALICE, "lab", "meanwhile")
    core.handle(BOB, GroupJoin(id=5, group="lab"))
    err = reply(core.handle(BOB, Edit(id=6, client_msg_id="e1", seq=seq, text="new")), BOB)
    assert err.code == ErrorCode.NOT_MEMBER


def test_a_removed_member_deletes_his_message_for_those_who_got_it(core):
    seq = lab_with_a_message_of_bob(core)
    core.handle(ALICE, GroupRemove(id=4, group="lab", user="bob"))
    core.handle(DAVE, GroupJoin(id=5, group="lab"))  # joined after the message
    actions = core.handle(BOB, Retract(id=6, seq=seq))
    assert isinstance(reply(actions, BOB), Ok)
    for conn in (ALICE, CHARLIE, BOB):
        (notice,) = to(actions, conn, Message)
        assert (notice.notice, notice.replaces, notice.group) == ("deleted", seq, "lab")
    assert to(actions, DAVE) == []
    assert core.store.message(seq).text == RETRACTED_TEXT


def test_a_deletion_reaches_a_member_who_left_and_came_back_but_an_edit_does_not(core):
    """charlie got bob's plan, left lab and joined again: bob's deletion of the plan went
    only to the members since before the message, and charlie's app showed the text on. A
    deletion reaches every member now who got the message; an edit still does not (who
    came back reads an edit made while away as withheld), nor anything a later joiner."""
    seq = lab_with_a_message_of_bob(core)
    core.handle(CHARLIE, GroupLeave(id=4, group="lab"))
    core.handle(CHARLIE, GroupJoin(id=5, group="lab"))
    core.handle(DAVE, GroupJoin(id=6, group="lab"))
    actions = core.handle(BOB, Edit(id=7, client_msg_id="e1", seq=seq, text="bob's new plan"))
    assert isinstance(reply(actions, BOB), Ok)
    assert to(actions, CHARLIE) == [] and to(actions, DAVE) == []
    actions = core.handle(BOB, Retract(id=8, seq=seq))
    assert isinstance(reply(actions, BOB), Ok)
    for conn in (ALICE, CHARLIE, BOB):
        (notice,) = to(actions, conn, Message)
        assert (notice.notice, notice.replaces) == ("deleted", seq)
    assert to(actions, DAVE) == []


def test_edits_by_a_member_reach_only_members_since_the_message(core):
    seq = lab_with_a_message_of_bob(core)
    core.handle(CHARLIE, GroupLeave(id=4, group="lab"))
    core.handle(DAVE, GroupJoin(id=5, group="lab"))
    actions = core.handle(BOB, Edit(id=6, client_msg_id="e1", seq=seq, text="bob's new plan"))
    assert isinstance(reply(actions, BOB), Ok)
    assert [m.text for m in to(actions, ALICE, Message)] == ["bob's new plan"]
    assert to(actions, CHARLIE) == [] and to(actions, DAVE) == []


def test_a_group_reusing_the_name_gets_nothing_of_the_dissolved_one(core):
    core.handle(ALICE, GroupCreate(id=2, group="lab", public=True))
    core.handle(BOB, GroupJoin(id=3, group="lab"))
    seq = post(core, BOB, "lab", "secret plan")
    core.handle(ALICE, GroupLeave(id=4, group="lab"))
    core.handle(BOB, GroupLeave(id=5, group="lab"))  # dissolved
    core.handle(CHARLIE, GroupCreate(id=6, group="LAB", public=True))
    core.handle(BOB, GroupJoin(id=7, group="LAB"))  # bob is in the new group too
    actions = core.handle(BOB, Edit(id=8, client_msg_id="e1", seq=seq, text="new secret"))
    assert reply(actions, BOB).code == ErrorCode.NOT_MEMBER
    assert to(actions, CHARLIE) == []
    actions = core.handle(BOB, Retract(id=9, seq=seq))
    assert isinstance(reply(actions, BOB), Ok)
    assert [m.replaces for m in to(actions, BOB, Message)] == [seq]  # his own sessions only
    assert to(actions, CHARLIE) == [] and to(actions, ALICE) == []
    assert core.store.message(seq).text == RETRACTED_TEXT


def test_ids_of_the_server_s_notices_cannot_be_chosen_or_mistaken_for_a_retry(core):
    """A send or edit may not use a ``deleted-``/``notice-`` id (the server's), nor an id the
    sender used for another kind of message: such a request is refused, not answered with
    the other message's ``ok`` while nothing happens."""
    for cid in ("deleted-1", "notice-x"):
        err = reply(core.handle(ALICE, Send(id=5, client_msg_id=cid, scope="unicast",
                                            text="hi", to=["bob"])), ALICE)
        assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST, cid
    first = reply(core.handle(ALICE, Send(id=6, client_msg_id="m1", scope="unicast",
                                          text="first", to=["bob"])), ALICE).seq
    second = reply(core.handle(ALICE, Send(id=7, client_msg_id="m2", scope="unicast",
                                           text="second", to=["bob"])), ALICE).seq
    # An edit under the id of a message: refused, and the text stays.
    actions = core.handle(ALICE, Edit(id=8, client_msg_id="m1", seq=second, text="changed"))
    assert reply(actions, ALICE).code == ErrorCode.BAD_REQUEST and not to(actions, BOB, Message)
    assert core.store.message(second).text == "second"
    # A real edit, then its retry (the same answer), then its id on another message.
    ok = reply(core.handle(ALICE, Edit(id=9, client_msg_id="e1", seq=first, text="1st")), ALICE)
    again = reply(core.handle(ALICE, Edit(id=10, client_msg_id="e1", seq=first, text="1st")),
                  ALICE)
    assert isinstance(ok, Ok) and again.seq == ok.seq
    actions = core.handle(ALICE, Edit(id=11, client_msg_id="e1", seq=second, text="2nd"))
    assert reply(actions, ALICE).code == ErrorCode.BAD_REQUEST
    assert core.store.message(second).text == "second"
    # A send under an edit's id is not a retry of a send.
    err = reply(core.handle(ALICE, Send(id=12, client_msg_id="e1", scope="unicast",
                                        text="new", to=["bob"])), ALICE)
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST
    assert "already identifies" in err.message


def test_a_retry_of_a_group_message_stored_before_the_sender_was_removed_gets_its_ack(core):
    # The link dropped before bob's app got the ack; by the time it resends, bob is out.
    core.handle(ALICE, GroupCreate(id=2, group="lab", public=True))
    core.handle(BOB, GroupJoin(id=3, group="lab"))
    first = core.handle(BOB, Send(id=4, client_msg_id="m1", scope="group", text="hi",
                                  to=["lab"]))
    ok = reply(first, BOB)
    core.handle(ALICE, GroupRemove(id=5, group="lab", user="bob"))
    retry = core.handle(BOB, Send(id=6, client_msg_id="m1", scope="group", text="hi",
                                  to=["lab"]))
    again = reply(retry, BOB)
    assert isinstance(again, Ok) and (again.id, again.seq, again.ts) == (6, ok.seq, ok.ts)
    assert to(retry, ALICE) == []  # stored and delivered once
    # A new message from bob is still refused.
    fresh = core.handle(BOB, Send(id=7, client_msg_id="m2", scope="group", text="hey",
                                  to=["lab"]))
    assert reply(fresh, BOB).code == ErrorCode.NOT_MEMBER


@pytest.mark.parametrize("then", ["left", "deleted"])
def test_a_retry_of_an_edit_made_before_the_editor_left_or_deleted_gets_its_ok(core, then):
    """The app sends an edit left unanswered again after a login: a retry of one that was
    made got ``not_member`` once bob had left the group (or ``unknown_message`` once he
    had deleted the message), and his app said the edit failed while every member showed
    it (a review). It gets its ``ok`` again, and nothing more is stored or sent."""
    seq = lab_with_a_message_of_bob(core)
    first = reply(core.handle(BOB, Edit(id=4, client_msg_id="e1", seq=seq, text="v1")), BOB)
    assert isinstance(first, Ok)
    if then == "left":
        assert isinstance(reply(core.handle(BOB, GroupLeave(id=5, group="lab")), BOB), Ok)
    else:
        assert isinstance(reply(core.handle(BOB, Retract(id=5, seq=seq)), BOB), Ok)
    retry = core.handle(BOB, Edit(id=6, client_msg_id="e1", seq=seq, text="v1"))
    again = reply(retry, BOB)
    assert isinstance(again, Ok) and (again.id, again.seq, again.ts) == (6, first.seq, first.ts)
    assert to(retry, ALICE) == []
    fresh = reply(core.handle(BOB, Edit(id=7, client_msg_id="e2", seq=seq, text="v2")), BOB)
    assert isinstance(fresh, Error)  # a new edit is still refused


def test_the_text_of_a_deleted_message_cannot_be_sent_or_edited_in(core):
    """Stored as a message's text, it would read as deleted and lock the message."""
    seq = lab_with_a_message_of_bob(core)
    for frame in (Send(id=6, client_msg_id="m9", scope="group", text=RETRACTED_TEXT,
                       to=["lab"]),
                  Edit(id=6, client_msg_id="e1", seq=seq, text=RETRACTED_TEXT)):
        actions = core.handle(BOB, frame)
        err = reply(actions, BOB)
        assert (err.code, err.id) == (ErrorCode.BAD_REQUEST, 6) and "deleted" in err.message
        assert to(actions, ALICE) == []
    assert core.store.message(seq).text == "bob's plan"
    edit = core.handle(BOB, Edit(id=7, client_msg_id="e2", seq=seq, text="bob's new plan"))
    assert isinstance(reply(edit, BOB), Ok)  # still editable


def test_a_retry_of_a_message_stored_with_that_text_before_the_rule_gets_its_ok(core):
    """Stored before the server refused the text: its retry is answered as a retry."""
    stored, _ = core.store.store_message(
        sender="bob", client_msg_id="old1", scope="unicast", text=RETRACTED_TEXT,
        recipients=["alice"], recipient_keys=["alice"])
    core.store.commit()
    again = reply(core.handle(BOB, Send(id=6, client_msg_id="old1", scope="unicast",
                                        text=RETRACTED_TEXT, to=["alice"])), BOB)
    assert isinstance(again, Ok) and again.seq == stored.seq


def test_an_edit_made_on_an_older_text_is_refused_and_a_retry_still_gets_its_ok(core):
    """``edit.base`` is the ``edited`` time the edit was made on: an edit that arrives after
    another one changed the text (from another device) changes nothing (edit_conflict),
    while a retry of an edit already made is answered ``ok`` as before."""
    seq = lab_with_a_message_of_bob(core)
    first = reply(core.handle(BOB, Edit(id=4, client_msg_id="e1", seq=seq, text="v1",
                                        base=0.0)), BOB)
    assert isinstance(first, Ok)
    edited = core.store.message(seq).edited
    assert edited is not None
    late = reply(core.handle(BOB, Edit(id=5, client_msg_id="e2", seq=seq, text="stale",
                                       base=0.0)), BOB)
    assert isinstance(late, Error) and late.code == ErrorCode.EDIT_CONFLICT
    assert core.store.message(seq).text == "v1"
    again = reply(core.handle(BOB, Edit(id=6, client_msg_id="e1", seq=seq, text="v1",
                                        base=0.0)), BOB)
    assert isinstance(again, Ok) and again.seq == first.seq  # a retry, not a conflict
    on_top = reply(core.handle(BOB, Edit(id=7, client_msg_id="e3", seq=seq, text="v2",
                                         base=edited)), BOB)
    assert isinstance(on_top, Ok) and core.store.message(seq).text == "v2"
    unchecked = reply(core.handle(BOB, Edit(id=8, client_msg_id="e4", seq=seq, text="v3")), BOB)
    assert isinstance(unchecked, Ok)  # no base (an older app): as before


def test_a_deleted_message_is_not_given_out_as_edited(core):
    """bob edited his plan, then deleted it for everyone: the apps drew "This message was
    deleted." with "edited 14:02" beside it, and ``history`` still gave the placeholder the
    last edit's ``edited`` time. A deleted message has none."""
    seq = lab_with_a_message_of_bob(core)
    assert isinstance(reply(core.handle(BOB, Edit(id=4, client_msg_id="e1", seq=seq,
                                                  text="bob's new plan")), BOB), Ok)
    assert core.store.message(seq).edited is not None
    assert isinstance(reply(core.handle(BOB, Retract(id=5, seq=seq)), BOB), Ok)
    assert (core.store.message(seq).text, core.store.message(seq).edited) == (
        RETRACTED_TEXT, None)
    page = reply(core.handle(ALICE, GetHistory(id=6, conversation="group:lab")), ALICE)
    (placeholder,) = [m for m in page.messages if m.seq == seq]
    assert (placeholder.text, placeholder.edited) == (RETRACTED_TEXT, None)

"""Delivery guarantees over real sockets: idempotent retries, receipts, history, typing,
heartbeat."""

from __future__ import annotations

import sqlite3

import pytest
from helpers.wire import WireClient, connect_as

from messenger.protocol import (
    RETRACTED_TEXT,
    Delivered,
    Edit,
    Error,
    ErrorCode,
    GetConversations,
    GetHistory,
    GroupCreate,
    GroupJoin,
    Login,
    Message,
    Ok,
    Ping,
    Pong,
    Read,
    Receipt,
    ReceiptCount,
    ReceiptsUpto,
    Retract,
    Typing,
)


def login_after(qtbot, server, user: str, receipts_after: int,
                upto: bool = False) -> WireClient:
    """A new connection logged in as ``user`` (password ``<user>123``) asking for the receipts
    above ``receipts_after`` (and with ``upto`` for the peers' ``receipts_upto``)."""
    c = WireClient(qtbot, server.host, server.port)
    c.hello()
    rid = c.next_id()
    c.send(Login(id=rid, user=user, password=f"{user}123", receipts_after=receipts_after,
                 receipts_upto=upto))
    assert isinstance(c.reply(rid), Ok)
    return c


def test_retried_client_msg_id_is_stored_once(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    first = alice.send_text("unicast", "exactly once", ["bob"], client_msg_id="retry-1")
    again = alice.send_text("unicast", "exactly once", ["bob"], client_msg_id="retry-1")
    assert (first.seq, first.ts) == (again.seq, again.ts)
    bob.wait_for(lambda f: isinstance(f, Message))
    alice.send_text("unicast", "marker", ["bob"])
    assert bob.wait_for(lambda f: isinstance(f, Message)).text == "marker"
    page = bob.request(GetHistory, conversation="user:alice")
    assert [m.text for m in page.messages] == ["exactly once", "marker"]


def test_delivered_and_read_receipts_reach_the_sender(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")  # auto-sends `delivered`
    connect_as(qtbot, server, "charlie", "charlie123")
    ack = alice.send_text("multicast", "tick tick", ["bob", "charlie"])
    delivered = alice.wait_for(lambda f: isinstance(f, Receipt) and f.user == "bob")
    assert (delivered.seq, delivered.user, delivered.state) == (ack.seq, "bob", "delivered")
    bob.send(Read(seqs=[ack.seq]))
    read = alice.wait_for(lambda f: isinstance(f, Receipt) and f.state == "read")
    assert (read.seq, read.user) == (ack.seq, "bob") and read.rid > delivered.rid
    # A repeated read changes nothing; a later login can fetch receipts from a cursor.
    bob.send(Read(seqs=[ack.seq]))
    alice.close()
    again = login_after(qtbot, server, "alice", delivered.rid)
    replay = again.wait_for(lambda f: isinstance(f, Receipt) and f.state == "read")
    assert replay.rid == read.rid


def test_unicast_receipts_are_live_and_stand_as_cursors_at_the_next_login(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")  # auto-sends `delivered`
    first = alice.send_text("unicast", "one", ["bob"])
    second = alice.send_text("unicast", "two", ["bob"])
    got = alice.wait_for(lambda f: isinstance(f, Receipt) and f.seq == second.seq)
    assert (got.user, got.state, got.rid) == ("bob", "delivered", 0)  # not logged
    bob.send(Read(seqs=[first.seq]))
    read = alice.wait_for(lambda f: isinstance(f, Receipt) and f.state == "read")
    assert (read.seq, read.rid) == (first.seq, 0)
    bob.send(Read(seqs=[first.seq]))  # a repeat changes nothing
    alice.close()
    # While alice is away, bob reads the second one: she learns it from his cursors.
    bob.send(Read(seqs=[second.seq]))
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    assert charlie.send_text("unicast", "to alice", ["alice"]).seq > second.seq
    again = login_after(qtbot, server, "alice", 0, upto=True)
    upto = again.wait_for(lambda f: isinstance(f, ReceiptsUpto))
    assert (upto.user, upto.delivered, upto.read) == ("bob", second.seq, second.seq)
    assert upto.after == first.seq - 1  # bob's span in the pair starts at her first message
    # Only peers with a cursor above 0 (charlie has none of alice's messages), and no
    # per-message receipt was logged.
    round_trip(again, 41)
    assert not any(isinstance(f, ReceiptsUpto) for f in again.frames)  # bob's was taken
    assert not any(isinstance(f, Receipt) for f in again.frames)
    # Without the flag (an older app), none.
    plain = login_after(qtbot, server, "alice", 0)
    round_trip(plain, 42)
    assert not any(isinstance(f, ReceiptsUpto) for f in plain.frames)
    # Charlie's message was delivered on the pair cursor: it does not come a second time.
    assert not any(isinstance(f, Message) for f in plain.frames)


def round_trip(client: WireClient, nonce: int) -> None:
    """Wait until the server answered a ping: every frame it sent before is in."""
    client.send(Ping(nonce=nonce))
    client.wait_for(lambda f: isinstance(f, Pong) and f.nonce == nonce)


def test_group_messages_get_receipt_counts_not_one_receipt_per_member(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")  # auto-send `delivered`
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    assert isinstance(alice.request(GroupCreate, group="lab", public=True), Ok)
    for member in (bob, charlie):
        assert isinstance(member.request(GroupJoin, group="lab"), Ok)
    ack = alice.send_text("group", "meeting at 3", ["lab"])

    def counts(delivered: int, read: int):
        return alice.wait_for(lambda f: isinstance(f, ReceiptCount) and f.seq == ack.seq
                              and (f.delivered, f.read) == (delivered, read))

    both = counts(2, 0)
    assert both.recipients == 2
    charlie.send(Read(seqs=[ack.seq]))
    read = counts(2, 1)
    assert read.rid > both.rid
    assert not any(isinstance(f, Receipt) and f.seq == ack.seq for f in alice.frames)
    # The counts are logged for the replay at the next login, like receipts.
    alice.close()
    again = login_after(qtbot, server, "alice", both.rid)
    replay = again.wait_for(lambda f: isinstance(f, ReceiptCount))
    assert (replay.rid, replay.seq, replay.delivered, replay.read, replay.recipients) == (
        read.rid, ack.seq, 2, 1, 2)


def test_a_broadcast_gets_receipt_counts_like_a_group_message(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")  # confirms what it gets
    ack = alice.send_text("broadcast", "coffee at 10")
    counted = alice.wait_for(lambda f: isinstance(f, ReceiptCount) and f.seq == ack.seq
                             and f.delivered == 1)
    assert counted.recipients == 2  # bob and charlie (offline: it waits for him)
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    assert charlie.wait_for(lambda f: isinstance(f, Message)).seq == ack.seq
    alice.wait_for(lambda f: isinstance(f, ReceiptCount) and f.seq == ack.seq
                   and f.delivered == 2)
    assert not any(isinstance(f, Receipt) for f in alice.frames)
    assert bob.messages()[0].seq == ack.seq


def test_history_pages_for_each_kind_of_conversation(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    seqs = [alice.send_text("unicast", f"m{i}", ["bob"]).seq for i in range(5)]
    alice.send_text("unicast", "not for bob", ["charlie"])
    alice.send_text("multicast", "to both", ["bob", "charlie"])
    bob.send_text("broadcast", "hello everyone")
    newest = bob.request(GetHistory, conversation="user:alice", limit=3)
    assert [m.text for m in newest.messages] == ["m3", "m4", "to both"] and newest.more
    older = bob.request(GetHistory, conversation="user:ALICE", before=newest.messages[0].seq,
                        limit=3)
    assert [m.text for m in older.messages] == ["m0", "m1", "m2"] and not older.more
    resumed = bob.request(GetHistory, conversation="user:alice", after=seqs[2])
    assert [m.text for m in resumed.messages] == ["m3", "m4", "to both"]
    everyone = charlie.request(GetHistory, conversation="everyone")
    assert [m.text for m in everyone.messages] == ["hello everyone"]
    alice.request(GroupCreate, group="g", public=True)
    charlie.request(GroupJoin, group="g")
    alice.send_text("group", "in the group", ["g"])
    group = charlie.request(GetHistory, conversation="group:g")
    assert [m.text for m in group.messages if m.notice is None] == ["in the group"]
    err = bob.request(GetHistory, conversation="group:g")
    assert isinstance(err, Error) and err.code == ErrorCode.NOT_MEMBER
    assert bob.request(GetHistory, conversation="user:ghost").code == ErrorCode.UNKNOWN_USER
    assert bob.request(GetHistory, conversation="lobby").code == ErrorCode.BAD_REQUEST


def test_typing_indicator_is_relayed(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice.send(Typing(to="Bob"))
    typing = bob.wait_for(lambda f: isinstance(f, Typing))
    assert typing.user == "alice" and typing.to is None


def test_a_flood_of_typing_frames_reaches_the_recipient_as_one(qtbot, server):
    """At most one ``typing`` a second per sender and recipient is relayed: a client that
    floods them does not flood the recipient's app, nor hold up what it sends after."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    for n in range(200):
        alice.send(Typing(to="bob"))
        for i in range(3):  # names of nobody online filled the memory of who was told,
            alice.send(Typing(to=f"nobody{n}x{i}"))  # which was then cleared (a fuzzer)
    alice.send(Typing(to="charlie"))  # another recipient has its own second
    alice.send_text("unicast", "after the flood", ["bob"])
    bob.wait_for(lambda f: isinstance(f, Message) and f.text == "after the flood")
    assert [f.user for f in bob.frames if isinstance(f, Typing)] == ["alice"]
    charlie.wait_for(lambda f: isinstance(f, Typing))


def test_idle_connection_is_pinged_then_dropped(qtbot, make_server):
    server = make_server(demo=True, idle_timeout=1.5)
    quiet = WireClient(qtbot, server.host, server.port)
    quiet.hello()
    quiet.wait_for(lambda f: isinstance(f, Ping), timeout=5000)
    qtbot.waitUntil(lambda: quiet.closed, timeout=5000)


def test_a_sender_deletes_a_message_for_everyone(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    sent = alice.send_text("unicast", "oops, wrong person", ["bob"])
    bob.wait_for(lambda f: isinstance(f, Message) and f.seq == sent.seq)
    # Only the sender may, and only a chat message that exists.
    for who, seq in ((charlie, sent.seq), (bob, sent.seq), (alice, 999_999)):
        err = who.request(Retract, seq=seq)
        assert isinstance(err, Error) and err.code == ErrorCode.UNKNOWN_MESSAGE
    ok = alice.request(Retract, seq=sent.seq)
    assert isinstance(ok, Ok)
    notice = bob.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted")
    assert (notice.seq, notice.replaces, notice.sender) == (ok.seq, sent.seq, "alice")
    mine = alice.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted")
    assert mine.replaces == sent.seq  # the sender's own sessions blank their copy too
    history = bob.request(GetHistory, conversation="user:alice")
    texts = {m.seq: m.text for m in history.messages}
    assert texts[sent.seq] == RETRACTED_TEXT and "oops" not in " ".join(texts.values())
    assert alice.request(Retract, seq=sent.seq).seq == ok.seq  # again: the same, nothing new
    assert not any(isinstance(f, Message) for f in charlie.frames)


def test_a_sender_edits_a_message_and_an_offline_recipient_gets_the_edit(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    sent = alice.send_text("unicast", "meet at 3", ["bob"])
    bob.wait_for(lambda f: isinstance(f, Message) and f.seq == sent.seq)
    bob.close()  # offline: the edit waits for him

    def edit(text, cmid, seq=sent.seq, who=alice):
        return who.request(Edit, client_msg_id=cmid, seq=seq, text=text)

    assert edit("   ", "e0").code == ErrorCode.EMPTY_MESSAGE
    assert edit("x", "e0", seq=999_999).code == ErrorCode.UNKNOWN_MESSAGE
    first = edit("meet at 4", "e1")
    assert isinstance(first, Ok)
    assert isinstance(edit("meet at 5", "e2"), Ok)
    assert edit("meet at 4", "e1").seq == first.seq  # a retry of e1: same answer, no change
    history = alice.request(GetHistory, conversation="user:bob")
    (original,) = [m for m in history.messages if m.seq == sent.seq]
    assert original.text == "meet at 5" and original.edited is not None
    assert not any(m.notice == "edited" for m in history.messages)  # edits are not lines
    # ... but a catch-up (after=) has them, for a device whose queue another one emptied
    catch_up = alice.request(GetHistory, conversation="user:bob", after=sent.seq)
    assert [(m.notice, m.replaces, m.text) for m in catch_up.messages] == [
        ("edited", sent.seq, "meet at 4"), ("edited", sent.seq, "meet at 5")]

    bob = connect_as(qtbot, server, "bob", "bob123")  # the login replays both edits, in order
    edits = [bob.wait_for(lambda f: isinstance(f, Message) and f.notice == "edited")
             for _ in range(2)]
    assert [(e.replaces, e.text) for e in edits] == [(sent.seq, "meet at 4"),
                                                    (sent.seq, "meet at 5")]
    carol = connect_as(qtbot, server, "charlie", "charlie123")
    assert edit("mine now", "e3", who=carol).code == ErrorCode.UNKNOWN_MESSAGE
    alice.request(Retract, seq=sent.seq)
    assert edit("too late", "e4").code == ErrorCode.UNKNOWN_MESSAGE  # deleted


def test_a_deleted_message_s_edited_texts_are_not_handed_out_afterwards(qtbot, server):
    """alice sent bob "see you", changed it to "my pin is 4711", noticed her mistake and
    deleted it for everyone, all while bob was offline. The original read "This message was
    deleted.", but its ``edited`` notice kept "my pin is 4711" on the server: bob's next
    login replayed it, and a ``history`` catch-up (``after``) gave it out, to any client,
    for good. Deleting now blanks the texts of the message's edits too."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    sent = alice.send_text("unicast", "see you", ["bob"])
    assert isinstance(sent, Ok)
    assert isinstance(alice.request(Edit, client_msg_id="e-1", seq=sent.seq,
                                    text="my pin is 4711"), Ok)
    assert isinstance(alice.request(Retract, seq=sent.seq), Ok)
    alice.close()

    bob = connect_as(qtbot, server, "bob", "bob123")
    bob.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted")
    page = bob.request(GetHistory, conversation="user:alice", after=0, limit=100)
    assert isinstance(page, Ok)
    handed_out = [m.text for m in [*bob.messages(), *(page.messages or [])]]
    assert not any("4711" in t for t in handed_out), handed_out
    assert any(m.notice == "edited" for m in page.messages or [])  # still there, blanked


def test_edit_and_delete_reach_a_group_and_everyone(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    assert isinstance(alice.request(GroupCreate, group="lab", public=True), Ok)
    assert isinstance(bob.request(GroupJoin, group="lab"), Ok)
    in_group = alice.send_text("group", "lab at 3", ["lab"])
    to_all = alice.send_text("broadcast", "coffee at 10")
    assert isinstance(alice.request(Edit, client_msg_id="g-edit", seq=in_group.seq,
                                    text="lab at 4"), Ok)
    assert isinstance(alice.request(Retract, seq=to_all.seq), Ok)
    edited = bob.wait_for(lambda f: isinstance(f, Message) and f.notice == "edited")
    assert (edited.scope, edited.group, edited.replaces, edited.text) == (
        "group", "lab", in_group.seq, "lab at 4")
    deleted = bob.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted")
    assert (deleted.scope, deleted.replaces) == ("broadcast", to_all.seq)
    group = bob.request(GetHistory, conversation="group:lab")
    assert [m.text for m in group.messages if m.notice is None] == ["lab at 4"]
    everyone = bob.request(GetHistory, conversation="everyone")
    assert [m.text for m in everyone.messages if m.notice is None] == [RETRACTED_TEXT]
    # charlie, offline all along, gets the broadcast's deletion at login
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    charlie.wait_for(lambda f: isinstance(f, Message) and f.notice == "deleted"
                     and f.replaces == to_all.seq)


def login_by_hand(qtbot, server, user: str,
                  receipts_after: int | None = None) -> WireClient:
    """Logged in as ``user``; nothing received is confirmed unless the test says so."""
    c = WireClient(qtbot, server.host, server.port, auto_delivered=False)
    c.hello()
    rid = c.next_id()
    c.send(Login(id=rid, user=user, password=f"{user}123", receipts_after=receipts_after))
    assert isinstance(c.reply(rid), Ok)
    return c


def test_notices_of_messages_to_others_stay_out_of_the_own_conversation(qtbot, server):
    """Deleting or editing a message to someone else put its notice into the sender's own
    notes-to-self conversation (``user:<me>``), through the sender's own deliveries row of
    the notice (found by a protocol-level model check)."""
    alice = login_by_hand(qtbot, server, "alice")
    to_bob = alice.send_text("unicast", "to bob", ["bob"])
    both = alice.send_text("multicast", "to both", ["bob", "charlie"])
    assert isinstance(alice.request(Retract, seq=to_bob.seq), Ok)
    assert isinstance(alice.request(Edit, seq=both.seq, text="to both!",
                                    client_msg_id="edit-1"), Ok)
    note = alice.send_text("unicast", "note to self", ["alice"])
    assert isinstance(alice.request(Retract, seq=note.seq), Ok)
    for after in (None, 0):
        own = alice.request(GetHistory, conversation="user:alice", after=after)
        # only the message to herself and the notice about it (its deletion)
        assert [(m.seq, m.notice) for m in own.messages] == [
            (note.seq, None), (note.seq + 1, "deleted")]
    with_bob = alice.request(GetHistory, conversation="user:bob")
    assert [m.notice for m in with_bob.messages] == [None, None, "deleted"]


def test_receipt_counts_do_not_count_a_member_who_has_not_got_the_message(
        qtbot, make_server, tmp_path):
    """After a restart the counts were rebuilt from the cursors, and a read cursor past a
    message counted it delivered and read for a member it was still queued for (found by a
    protocol-level model check)."""
    data = tmp_path / "data"
    server = make_server(demo=True, data_dir=data)
    alice = login_by_hand(qtbot, server, "alice")
    bob = login_by_hand(qtbot, server, "bob")
    first = alice.send_text("broadcast", "one")
    second = alice.send_text("broadcast", "two")
    bob.wait_for(lambda f: isinstance(f, Message) and f.seq == second.seq)
    bob.send(Read(seqs=[second.seq]))  # bob reads "two" only: "one" stays queued for him
    round_trip(bob, 1)
    alice.close()
    bob.close()
    server.close()
    server = make_server(data_dir=data, port=server.port)
    alice = login_by_hand(qtbot, server, "alice", receipts_after=0)
    bob = login_by_hand(qtbot, server, "bob")
    assert bob.wait_for(lambda f: isinstance(f, Message)).seq == first.seq  # still queued
    charlie = login_by_hand(qtbot, server, "charlie")
    charlie.send(Read(seqs=[first.seq]))
    count = alice.wait_for(lambda f: isinstance(f, ReceiptCount) and f.seq == first.seq
                           and f.rid > 0 and f.read > 0)
    # charlie has it and read it; bob has not confirmed it (it was replayed to him)
    assert (count.delivered, count.read, count.recipients) == (1, 1, 2)


def test_messages_confirmed_out_of_order_are_not_sent_again_after_a_restart(
        qtbot, make_server, tmp_path):
    """A message confirmed above one that was not came again at every login once the
    account's last session had ended or the server restarted, and its sender got a second
    "delivered" (found by a protocol-level model check; protocol.md §10)."""
    data = tmp_path / "data"
    server = make_server(demo=True, data_dir=data)
    alice = login_by_hand(qtbot, server, "alice")
    bob = login_by_hand(qtbot, server, "bob")
    assert isinstance(alice.request(GroupCreate, group="lab", public=True), Ok)
    assert isinstance(bob.request(GroupJoin, group="lab"), Ok)
    round_trip(bob, 0)
    bob.send(Delivered(seqs=[m.seq for m in bob.messages()]))  # the group's notices
    sent = [alice.send_text("unicast", f"dm {i}", ["bob"]) for i in range(3)]
    sent += [alice.send_text("group", f"lab {i}", ["lab"]) for i in range(3)]
    sent += [alice.send_text("broadcast", f"all {i}") for i in range(3)]
    seqs = [ack.seq for ack in sent]
    for seq in seqs:
        bob.wait_for(lambda f, seq=seq: isinstance(f, Message) and f.seq == seq)
    skipped = seqs[0::3]  # the first of each conversation is not confirmed
    bob.send(Delivered(seqs=[s for s in seqs if s not in skipped]))
    alice.wait_for(lambda f: isinstance(f, Receipt) and f.seq == seqs[2])
    round_trip(bob, 1)
    bob.close()  # the account's last session: the server keeps only what it wrote
    bob = login_by_hand(qtbot, server, "bob")
    round_trip(bob, 2)
    assert [m.seq for m in bob.messages()] == skipped
    alice.close()
    bob.close()
    server.close()
    server = make_server(data_dir=data, port=server.port)
    bob = login_by_hand(qtbot, server, "bob")
    round_trip(bob, 3)
    assert [m.seq for m in bob.messages()] == skipped


def test_conversations_lists_where_something_came_above_a_seq(qtbot, server):
    """A second computer found no conversation it had no cursor for: what another computer
    of the account confirmed meanwhile never showed there (a sleep hunt)."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    first = alice.send_text("unicast", "hi bob", ["bob"]).seq
    assert isinstance(charlie.request(GroupCreate, group="Lab", public=True), Ok)
    assert isinstance(bob.request(GroupJoin, group="lab"), Ok)
    in_lab = charlie.send_text("group", "in the lab", ["lab"]).seq
    to_all = alice.send_text("broadcast", "hello all").seq
    mine = bob.send_text("unicast", "to charlie", ["charlie"]).seq  # sent, not received
    alice.request(GroupCreate, group="other", public=True)  # bob was never in it
    alice.send_text("group", "not for bob", ["other"])
    found = bob.request(GetConversations)
    assert [(c.conversation, c.seq) for c in found.conversations] == [
        ("everyone", to_all), ("group:Lab", in_lab), ("user:alice", first),
        ("user:charlie", mine)]
    again = bob.request(GetConversations)  # once per login, not in a loop (a diff review)
    assert again.code == ErrorCode.RATE_LIMITED and 0 < again.retry_after <= 10
    later = connect_as(qtbot, server, "bob", "bob123").request(GetConversations, after=in_lab)
    assert [c.conversation for c in later.conversations] == ["everyone", "user:charlie"]
    none = connect_as(qtbot, server, "bob", "bob123").request(GetConversations,
                                                              after=mine + 100)
    assert none.conversations == []
    assert bob.request(GetConversations, after=-1).code == ErrorCode.BAD_REQUEST


def test_conversations_lists_multicasts_sent_and_received(qtbot, server):
    """A second computer missed conversations that held only multicasts ("Message
    selected…") or notes to oneself: ``conversations`` listed pairs, groups and Everyone."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    both = alice.send_text("multicast", "to you both", ["bob", "charlie"]).seq
    note = bob.send_text("unicast", "a note to myself", ["bob"]).seq
    assert [(c.conversation, c.seq) for c in bob.request(GetConversations).conversations] == [
        ("user:alice", both), ("user:bob", note)]
    assert [(c.conversation, c.seq) for c in alice.request(GetConversations).conversations] == [
        ("user:bob", both), ("user:charlie", both)]
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    assert [c.conversation for c in charlie.request(GetConversations, after=both - 1)
            .conversations] == ["user:alice"]
    again = connect_as(qtbot, server, "charlie", "charlie123")
    assert again.request(GetConversations, after=both).conversations == []


def test_the_accounts_other_sessions_get_a_copy_of_what_it_sends(qtbot, server):
    """The laptop did not show what the desktop had just sent until its next login (a GUI
    review): the server sends the sender's other sessions a copy, not queued for them."""
    desktop = connect_as(qtbot, server, "alice", "alice123")
    laptop = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ack = desktop.send_text("unicast", "from the desktop", ["bob"])
    copy = laptop.wait_for(lambda f: isinstance(f, Message))
    assert (copy.seq, copy.sender, copy.to, copy.text) == (ack.seq, "alice", ["bob"],
                                                           "from the desktop")
    assert bob.wait_for(lambda f: isinstance(f, Message)).seq == ack.seq
    round_trip(desktop, 1)
    assert not [f for f in desktop.frames if isinstance(f, Message)]  # the sender: ok only
    laptop.close()  # not queued for the account: nothing comes again at a login
    later = login_after(qtbot, server, "alice", 0)
    round_trip(later, 2)
    assert not [f for f in later.frames if isinstance(f, Message)]


@pytest.mark.parametrize("scope", ["unicast", "group"])
def test_a_quiet_server_writes_a_delivery_cursor_within_half_a_second(qtbot, server, scope):
    """bob's app confirms two messages from alice, the second within half a second of the
    first, and then nothing happens. The server writes where bob is within the half second
    protocol.md promises (it kept the second confirmation in memory until the next request,
    for hours on a quiet server: a crash brought every message of that time again)."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")  # auto-sends `delivered`
    to = ["bob"]
    if scope == "group":
        assert isinstance(alice.request(GroupCreate, group="lab", public=True), Ok)
        assert isinstance(bob.request(GroupJoin, group="lab"), Ok)
        to = ["lab"]
    db = sqlite3.connect(server.server.config.db_path)

    def written() -> int:
        row = db.execute("SELECT max(delivered) FROM group_cursors WHERE user_key = 'bob'"
                         ).fetchone()
        return row[0] or 0

    try:
        for text in ("first", "second"):
            seq = alice.send_text(scope, text, to).seq
            bob.wait_for(lambda f, s=seq: isinstance(f, Message) and f.seq == s)
            qtbot.waitUntil(lambda s=seq: written() >= s, timeout=3_000)
    finally:
        db.close()

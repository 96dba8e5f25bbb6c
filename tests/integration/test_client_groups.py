"""Groups, multicast, reply and /users through the client engine against a real server."""

from __future__ import annotations

import pytest

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE, group_key
from messenger.client.engine import ClientEngine, party_name
from messenger.client.models import DeliveryState, GroupModel, MessageKind


@pytest.fixture
def session(qtbot, server):
    """``session(user)`` → a logged-in engine (password ``<user>123``)."""
    engines: list[ClientEngine] = []

    def factory(user: str, data_dir=None) -> ClientEngine:
        engine = ClientEngine(data_dir=data_dir)  # (another folder: another computer)
        engines.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(server.host, server.port)
            engine.login(user, f"{user}123")
        return engine

    yield factory
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


def chat(engine: ClientEngine, key: str) -> list[tuple[str, str]]:
    return [(i.sender, i.text) for i in engine.conversation(key).items()
            if i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def notices(engine: ClientEngine, key: str) -> list[str]:
    return [i.text for i in engine.conversation(key).items() if i.kind is MessageKind.SYSTEM]


def test_create_invite_accept_and_talk(qtbot, session):
    alice, bob, charlie = session("alice"), session("bob"), session("charlie")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000) as joined, \
            qtbot.waitSignal(bob.invitation_received, timeout=10_000) as invited:
        alice.create_group("Lab", ["BOB"])
    assert joined.args == ["Lab"] and invited.args == ["Lab", "alice"]
    assert alice.party == "Lab"
    row = alice.groups.group("lab")
    assert (row.leader, row.members, row.invited, row.member) == \
        ("alice", ("alice",), ("bob",), True)
    pending = bob.groups.group("lab")
    assert pending.pending and not pending.member and pending.invited_by == "alice"
    assert bob.pending_invitation() == "Lab"
    assert bob.groups.data(bob.groups.index(0, 0), GroupModel.PendingRole) is True
    # The invitation bar answers it: the line says what happened, no instructions.
    assert notices(bob, EVERYONE)[-1].startswith("alice invited you")
    assert notices(bob, EVERYONE)[-1].endswith("member).")

    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("lab")
    qtbot.waitUntil(lambda: alice.groups.group("Lab").members == ("alice", "bob"))
    assert not bob.groups.group("Lab").pending and bob.party == "Lab"
    qtbot.waitUntil(lambda: "bob joined" in notices(alice, group_key("lab")))

    with qtbot.waitSignal(bob.message_received, timeout=10_000) as got:
        alice.send_group("lab", "welcome")
    assert got.args[0] == group_key("Lab") and got.args[1].text == "welcome"
    assert bob.unread(group_key("lab")) == 1
    assert bob.groups.group("lab").unread == 1
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_to(group_key("lab"), "thanks")
    assert chat(alice, group_key("lab")) == [("alice", "welcome"), ("bob", "thanks")]
    assert charlie.groups.rowCount() == 0
    assert chat(charlie, group_key("lab")) == []


def test_decline_and_name_taken(qtbot, session):
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.group_left, timeout=10_000):
        bob.decline_invitation("lab", key=EVERYONE)
    assert bob.groups.rowCount() == 0 and bob.pending_invitation() == ""
    qtbot.waitUntil(lambda: "bob declined the invitation" in notices(alice, group_key("lab")))
    assert alice.groups.group("lab").invited == ()
    with qtbot.waitSignal(bob.group_failed, timeout=10_000) as failed:
        bob.create_group("LAB", [], public=True)
    assert failed.args[:3] == ["create", "LAB", "name_taken"]


def test_an_answer_asked_twice_before_the_server_answers_goes_once(qtbot, session):
    """Accept asked twice in a row (a double-click, or the bar's Accept and then the Groups
    list's Join) sent two requests: bob joined, and then heard "Could not accept the
    invitation to den: you are in den already". The second waits for the first's answer."""
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("den", ["bob"])
    failed: list = []
    bob.group_failed.connect(lambda *args: failed.append(args))
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        assert bob.accept_invitation("den", key=EVERYONE)
        assert bob.accept_invitation("den", key=EVERYONE)
        assert bob.join_group("den", key=EVERYONE)
    with qtbot.waitSignal(bob.message_acked, timeout=10_000):
        bob.send_group("den", "hi")  # (answered after any second answer would be)
    assert failed == []
    assert not any("Could not" in n for n in notices(bob, EVERYONE))
    # A decline twice likewise (the second was refused: "not invited").
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("attic", ["bob"])
    with qtbot.waitSignal(bob.group_left, timeout=10_000):
        bob.decline_invitation("attic", key=EVERYONE)
        bob.decline_invitation("attic", key=EVERYONE)
    with qtbot.waitSignal(bob.message_acked, timeout=10_000):
        bob.send_group("den", "still here")
    assert failed == []


def test_public_join_leave_and_directory(qtbot, session):
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lounge", [], public=True)
    with qtbot.waitSignal(bob.groups_listed, timeout=10_000):
        bob.list_groups()
    d = bob.directory
    assert d.names() == ["lounge"]
    assert d.data(d.index(0, 0), GroupModel.JoinableRole) is True
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("LOUNGE")
    assert bob.groups.group("lounge").members == ("alice", "bob")
    assert d.data(d.index(0, 0), GroupModel.JoinableRole) is False
    # The leader leaves: bob leads now and is told so (in the second person).
    with qtbot.waitSignal(alice.group_left, timeout=10_000):
        alice.leave_group("lounge")
    qtbot.waitUntil(lambda: bob.groups.group("lounge").leader == "bob")
    qtbot.waitUntil(lambda: "You are the new leader" in notices(bob, group_key("lounge")))
    assert alice.groups.rows() == [] and alice.party == ""
    assert alice.groups.former() == ["lounge"]  # (its history: to read, not to write)
    # Posting after leaving is refused and said in the group's conversation.
    with qtbot.waitSignal(alice.request_failed, timeout=10_000) as failed:
        alice.send_group("lounge", "still here?")
    assert failed.args[1] == "not_member"


def test_a_group_created_on_one_computer_is_listed_on_the_accounts_others(
        qtbot, server, session, tmp_path):
    """The creator's other computer got only the "created" notice, and the group was
    missing from its Groups list (no way to open it or write in it there): a hunt."""
    desktop, laptop = session("alice"), session("alice", tmp_path / "laptop")
    with qtbot.waitSignal(desktop.group_joined, timeout=10_000):
        desktop.create_group("physics", [], public=True)
    qtbot.waitUntil(lambda: laptop.groups.group("physics") is not None, timeout=10_000)
    row = laptop.groups.group("physics")
    assert row.member and row.leader == "alice"
    # ... and it is the party there too: a second `/party invite` on the laptop made a
    # second party (a hunt).
    qtbot.waitUntil(lambda: laptop.party == "physics", timeout=10_000)


def test_the_party_is_the_group_joined_last_after_a_reconnect_and_a_restart(
        qtbot, session, tmp_path):
    """After a reconnect (or a restart) the party was the group *created* last, and `/p`
    went to other people than the group joined last (a hunt)."""
    alice, bob, charlie = session("alice", tmp_path / "home"), session("bob"), \
        session("charlie")
    with qtbot.waitSignal(alice.invitation_received, timeout=10_000):
        bob.create_group("football", ["alice"])
    with qtbot.waitSignal(alice.invitation_received, timeout=10_000):
        charlie.create_group("chess", ["alice"])
    for group in ("chess", "football"):  # (the newer invitation answered first)
        with qtbot.waitSignal(alice.group_joined, timeout=10_000):
            alice.accept_invitation(group)
    assert alice.party == "football"
    with qtbot.waitSignal(alice.reconnect_scheduled, timeout=10_000):
        alice._conn._socket.abort()  # (the Wi-Fi drops for a moment)
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice.reconnect_now()
    assert alice.party == "football"
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    alice.close_store()
    again = session("alice", tmp_path / "home")  # (the app starts again)
    assert again.party == "football"


def own(engine: ClientEngine, key: str, text: str):
    """``(model, item)`` of ``engine``'s own message ``text`` in conversation ``key``."""
    model = engine.conversation(key)
    for item in model.items():
        if item.kind is MessageKind.OWN and item.text == text:
            return model, item
    raise AssertionError(f"no own message {text!r} in {key}")


def test_delivered_to_n_of_m_counts_whom_the_message_went_to_not_todays_members(
        qtbot, session, tmp_path):
    """alice wrote to "lab" while its only other member, bob, was offline: the tooltip said
    "delivered to 0 of 1". Then charlie joined, and the same message, which never went to
    him (the server's own count said 1 recipient), read "delivered to 0 of 2": the total
    was the group's members today. The send's ``ok`` says whom it went to, kept in the
    cache (a restart shows the same)."""
    alice, bob = session("alice", tmp_path / "home"), session("bob")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", [], public=True)
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    qtbot.waitUntil(lambda: alice.groups.group("lab").members == ("alice", "bob"))
    bob.close()  # bob's computer is off
    qtbot.waitUntil(lambda: bob.state is ConnectionState.DISCONNECTED)
    key = group_key("lab")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_group("lab", "anyone there?")
    model, item = own(alice, key, "anyone there?")
    assert item.state is DeliveryState.SENT and item.counts == (0, 0, 1)
    assert model.state_text(item) == "delivered to 0 of 1"

    charlie = session("charlie")
    with qtbot.waitSignal(charlie.group_joined, timeout=10_000):
        charlie.join_group("lab")
    qtbot.waitUntil(lambda: len(alice.groups.group("lab").members) == 3)
    model, item = own(alice, key, "anyone there?")
    assert model.state_text(item) == "delivered to 0 of 1"  # (to bob alone)
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    alice.close_store()
    again = session("alice", tmp_path / "home")  # (the app starts again)
    model, item = own(again, key, "anyone there?")
    assert model.state_text(item) == "delivered to 0 of 1"


def test_delivered_to_n_of_m_of_a_message_sent_from_another_computer(qtbot, session,
                                                                    tmp_path):
    """alice wrote to "lab" from her phone while bob, its only other member, was offline:
    her laptop's tooltip said "delivered to 0 of 1", and "delivered to 0 of 2" once charlie
    had joined (today's members: the laptop never learnt whom it went to), and a broadcast
    from the phone read "sent" on the laptop, not "delivered to 0 of 2"."""
    laptop, bob = session("alice", tmp_path / "laptop"), session("bob")
    charlie = session("charlie")
    with qtbot.waitSignal(laptop.group_joined, timeout=10_000):
        laptop.create_group("lab", [], public=True)
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    qtbot.waitUntil(lambda: laptop.groups.group("lab").members == ("alice", "bob"))
    bob.close()  # bob's computer is off
    qtbot.waitUntil(lambda: bob.state is ConnectionState.DISCONNECTED)
    phone = session("alice", tmp_path / "phone")
    key = group_key("lab")
    laptop.conversation(key)  # (its tab is open)
    laptop.conversation(EVERYONE)
    with qtbot.waitSignal(phone.message_acked, timeout=10_000):
        phone.send_group("lab", "anyone there?")
    with qtbot.waitSignal(phone.message_acked, timeout=10_000):
        phone.send_broadcast("hello all")
    qtbot.waitUntil(lambda: any(i.text == "hello all"
                                for i in laptop.conversation(EVERYONE).items()))
    with qtbot.waitSignal(charlie.group_joined, timeout=10_000):
        charlie.join_group("lab")
    qtbot.waitUntil(lambda: len(laptop.groups.group("lab").members) == 3)
    model, item = own(laptop, key, "anyone there?")
    assert model.state_text(item) == "delivered to 0 of 1"  # (to bob alone)
    model, item = own(laptop, EVERYONE, "hello all")
    assert model.state_text(item) == "delivered to 0 of 2"  # (bob and charlie)


def test_party_invite_creates_a_unique_party(qtbot, session):
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.create_group(party_name("alice"), [], public=True)  # the obvious name is taken
    with qtbot.waitSignal(alice.group_joined, timeout=10_000) as joined, \
            qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.party_invite("bob", key=EVERYONE)
    assert joined.args == ["party-alice-2"] and alice.party == "party-alice-2"
    assert bob.pending_invitation() == "party-alice-2"
    assert party_name("a" * 32) == "party-" + "a" * 26
    assert len(party_name("a" * 32, 4)) == 32


def test_multicast_reaches_exactly_its_recipients(qtbot, server, session):
    alice, bob, charlie = session("alice"), session("bob"), session("charlie")
    dora = ClientEngine()
    with qtbot.waitSignal(dora.login_succeeded, timeout=10_000):
        dora.connect_to(server.host, server.port)
        dora.register("dora", "dora-secret")
    try:
        with qtbot.waitSignals([bob.message_received, charlie.message_received],
                               timeout=10_000):
            alice.send_multicast(["bob", "charlie"], "to you two")
        assert chat(bob, "alice") == [("alice", "to you two")]
        assert bob.conversation("alice").items()[-1].also == ("charlie",)
        assert charlie.conversation("alice").items()[-1].also == ("bob",)
        # The server keeps order: had dora got the multicast, it would come before this.
        with qtbot.waitSignal(dora.message_received, timeout=10_000) as got:
            alice.send_unicast("dora", "only you")
        assert got.args[1].text == "only you"
        assert [k for k in dora.conversation_keys() if chat(dora, k)] == ["alice"]
        assert chat(dora, "alice") == [("alice", "only you")]
    finally:
        dora.close()
        qtbot.waitUntil(lambda: dora.state is ConnectionState.DISCONNECTED)


def test_reply_target_and_users_list(qtbot, session):
    alice, bob = session("alice"), session("bob")
    assert alice.last_private_peer == ""
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "ping")
    assert alice.last_private_peer == "bob" and bob.last_private_peer == "alice"
    with qtbot.waitSignal(alice.users_listed, timeout=10_000) as listed:
        alice.list_users(EVERYONE)
    key, online = listed.args
    assert key == EVERYONE and sorted(e.name for e in online) == ["alice", "bob"]
    text = notices(alice, EVERYONE)[-1]
    assert text.startswith("Online now (2):") and "alice (you)" in text
    assert "from 127.0.0.1:" in text and "Offline: charlie" in text


def test_an_exported_group_conversation_marks_notices_as_nobodys_words(qtbot, session,
                                                                       tmp_path):
    """The export wrote the group's notices as if people had said them ("alice: alice
    left"), the same as a message alice typed that reads so (a groups hunt): a notice is a
    ``*`` line."""
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("lab")
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_group("lab", "alice left\rfor lunch")  # (typed; a lone \r from a client)
    with qtbot.waitSignal(alice.group_left, timeout=10_000):
        alice.leave_group("lab")
    qtbot.waitUntil(lambda: len(bob.store.page(group_key("lab"))) == 4)
    out = tmp_path / "lab.txt"
    job = bob.export_conversation(group_key("lab"), out)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        pass
    lines = [line.split("] ", 1)[1] if line.startswith("[") else line
             for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == ["* bob joined", "alice: alice left", "    for lunch", "* alice left",
                     "* bob is the new leader"], lines


def test_find_matches_notices_as_the_conversation_shows_them(qtbot, session):
    """bob's tab reads "You joined": Ctrl+F "bob joined" found that line (nothing there
    reads so) and "You joined" did not, once the line was older than the loaded rows (the
    cache was searched in the server's words; a hunt)."""
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("lab")
    key = group_key("lab")
    qtbot.waitUntil(lambda: "You joined" in notices(bob, key), timeout=5000)
    joined = next(i.seq for i in bob.conversation(key).items() if i.text == "You joined")
    bob.conversation(key).reset()  # (nothing loaded: the cache alone is searched)
    assert bob.conversation(key).find("bob joined") == []
    assert bob.conversation(key).find("YOU JOINED") == [joined]


def test_a_member_who_left_and_came_back_sees_a_deletion_in_his_group(qtbot, session):
    """bob got alice's "the door code is 4711" in the public group lab, left, and joined
    again. alice then deleted the message for everyone: the server's history gave bob "This
    message was deleted.", but the deletion notice went only to the members since before
    the message, and bob's app, which had the text cached, showed it on (paging back reads
    the cache, so no server page corrected it). The notice now reaches every member who got
    the message, in an earlier membership too."""
    from messenger.protocol import RETRACTED_TEXT

    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", public=True)
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    key = group_key("lab")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_group("lab", "the door code is 4711")
    seq = acked.args[1]
    qtbot.waitUntil(lambda: chat(bob, key) == [("alice", "the door code is 4711")],
                    timeout=10_000)
    with qtbot.waitSignal(bob.group_left, timeout=10_000):
        bob.leave_group("lab")
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    qtbot.waitUntil(lambda: len(alice.groups.group("lab").members) == 2, timeout=10_000)
    assert alice.retract(seq, key)
    qtbot.waitUntil(lambda: chat(alice, key) == [("alice", RETRACTED_TEXT)], timeout=10_000)
    marker = "after the deletion"  # a later message: bob's app is up to date past it
    alice.send_group("lab", marker)
    qtbot.waitUntil(lambda: ("alice", marker) in chat(bob, key), timeout=10_000)
    assert ("alice", "the door code is 4711") not in chat(bob, key)
    assert bob.store.message(seq, key).text == RETRACTED_TEXT


def test_a_message_typed_offline_for_a_dissolved_group_is_not_posted_to_a_new_one(
        qtbot, session, tmp_path):
    """bob's laptop, offline, held a message for the public group "club" (bob and alice).
    Meanwhile the club was dissolved, charlie made a new "club" and bob's phone joined it.
    When the laptop came back, its message for alice's club was posted to charlie's new club,
    to people it was never meant for. Now it fails, saying why, and Retry sends it to the
    new club."""
    alice, charlie = session("alice"), session("charlie")
    laptop, phone = session("bob", tmp_path / "laptop"), session("bob", tmp_path / "phone")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("club", public=True)
    with qtbot.waitSignal(laptop.group_joined, timeout=10_000):
        laptop.join_group("club")
    qtbot.waitUntil(lambda: (g := phone.groups.group("club")) is not None and g.member,
                    timeout=10_000)
    old = laptop.groups.group("club").created
    # the laptop loses the network; bob types to the club there
    laptop._auto_reconnect = False
    laptop._reconnect_timer.stop()
    laptop._conn._socket.abort()
    qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED, timeout=10_000)
    cid = laptop.send_group("club", "for alice's club only")
    assert cid
    # the club ends, charlie makes a new one, bob's phone joins it
    with qtbot.waitSignal(phone.group_left, timeout=10_000):
        phone.leave_group("club")
    with qtbot.waitSignal(alice.group_left, timeout=10_000):
        alice.leave_group("club")
    with qtbot.waitSignal(charlie.group_joined, timeout=10_000):
        charlie.create_group("club", public=True)
    with qtbot.waitSignal(phone.group_joined, timeout=10_000):
        phone.join_group("club")
    laptop._auto_reconnect = True
    with qtbot.waitSignal(laptop.request_failed, timeout=20_000) as failed:
        laptop.reconnect_now()
    assert failed.args[0] == group_key("club")
    assert "dissolved and a new one made with this name" in failed.args[2]
    assert [(i.state, i.error) for i in laptop.store.outbox()] == \
        [("failed", failed.args[2])]
    assert "for alice's club only" not in [t for _, t in chat(charlie, group_key("club"))]
    # Retry: to the club there is now
    qtbot.waitUntil(lambda: laptop.groups.group("club").created != old, timeout=10_000)
    with qtbot.waitSignal(charlie.message_received, timeout=10_000):
        assert laptop.retry(cid)
    assert ("bob", "for alice's club only") in chat(charlie, group_key("club"))
    assert not laptop.store.outbox()


def test_a_group_one_was_removed_from_while_logged_out_counts_no_unread(qtbot, session,
                                                                          tmp_path):
    """alice wrote in "lab" while bob was logged out, then removed him. At bob's next login
    the message came from the server's queue and counted unread: the former group's row
    and the window title said 1, for a group that is no longer his (a group left counts
    nothing unread: its row, the title and a restart all said 0 otherwise)."""
    alice, bob = session("alice"), session("bob", tmp_path / "bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("lab")
    qtbot.waitUntil(lambda: alice.groups.group("lab").members == ("alice", "bob"))
    with qtbot.waitSignal(bob.logged_out, timeout=10_000):
        bob.logout()
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_group("lab", "one")
    alice.remove_from_group("lab", "bob")
    qtbot.waitUntil(lambda: alice.groups.group("lab").members == ("alice",))
    with qtbot.waitSignal(bob.login_succeeded, timeout=10_000):
        bob.login("bob", "bob123")
    qtbot.waitUntil(lambda: "alice removed you" in notices(bob, group_key("lab")))
    assert chat(bob, group_key("lab")) == [("alice", "one")]  # (still there to read)
    assert bob.groups.former() == ["lab"]
    assert bob.unread(group_key("lab")) == 0
    row = bob.groups.row_of("lab")
    assert bob.groups.index(row, 0).data(GroupModel.UnreadRole) == 0


def test_an_invitation_made_while_the_link_was_down_is_announced_at_the_reconnect(
        qtbot, session):
    """Invited while the laptop slept (the app running, its link down): after the reconnect
    the invitation only waited in the yellow bar of a minimized window, with no pop-up and
    no line in Everyone as a live one has. An invitation known before the drop is not
    announced again."""
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("den", ["bob"])
    with qtbot.waitSignal(bob.reconnect_scheduled, timeout=10_000):
        bob._conn._socket.abort()  # (the lid closes)
    bob._reconnect_timer.stop()
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", ["bob"])
    announced = []
    bob.invitation_received.connect(lambda group, by: announced.append((group, by)))
    with qtbot.waitSignal(bob.resumed, timeout=10_000):
        bob.reconnect_now()
    assert announced == [("lab", "alice")]
    assert [t for t in notices(bob, EVERYONE) if "invited you" in t] == [
        "alice invited you to the invite-only group den (1 member).",
        "alice invited you to the invite-only group lab (1 member)."]


def test_an_invite_naming_a_member_invites_the_others_and_says_who_was_in(qtbot, session):
    """The Invite dialog was opened before bob joined; alice then picked bob and charlie:
    the server refused the whole invite ("already in lab: bob") and charlie was not
    invited either, with nothing saying so."""
    alice, bob, charlie = session("alice"), session("bob"), session("charlie")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("lab")
    with qtbot.waitSignal(charlie.invitation_received, timeout=10_000):
        alice.invite_to_group("lab", ["bob", "charlie"], key=group_key("lab"))
    qtbot.waitUntil(lambda: alice.groups.group("lab").invited == ("charlie",))
    said = notices(alice, group_key("lab"))
    assert not any(n.startswith("Could not invite") for n in said)
    assert "bob is in lab already, so was not invited." in said

"""Conversation keying of outgoing and incoming messages (plain rules, no Qt)."""

from __future__ import annotations

from messenger.client.conversations import (
    EVERYONE,
    Placement,
    group_key,
    is_group,
    is_private,
    peer_key,
    place_incoming,
    place_outgoing,
)


def test_unicast_goes_to_the_peer_conversation():
    assert place_outgoing("alice", "unicast", ["Bob"]) == [Placement("bob", "Bob")]
    assert place_incoming("alice", "Bob", "unicast", ["alice"]) == [Placement("bob", "Bob")]


def test_broadcast_goes_to_everyone():
    assert place_outgoing("alice", "broadcast", []) == [Placement(EVERYONE, "Everyone")]
    assert place_incoming("alice", "bob", "broadcast", [])[0].key == EVERYONE


def test_user_named_everyone_does_not_collide():
    assert peer_key("everyone") != EVERYONE


def test_multicast_for_the_sender_lands_in_each_recipient_conversation():
    places = place_outgoing("alice", "multicast", ["bob", "charlie"])
    assert places == [Placement("bob", "bob", ("charlie",)),
                      Placement("charlie", "charlie", ("bob",))]


def test_multicast_for_a_recipient_lands_with_the_sender_marking_the_others():
    places = place_incoming("bob", "alice", "multicast", ["Bob", "charlie", "dave"])
    assert places == [Placement("alice", "alice", ("charlie", "dave"))]


def test_own_message_from_another_session_is_placed_as_outgoing():
    assert place_incoming("alice", "Alice", "unicast", ["bob"]) == [Placement("bob", "bob")]


def test_group_messages_go_to_the_group_conversation():
    assert group_key("Lab") == "#group:lab"
    assert is_group(group_key("lab")) and not is_group(EVERYONE) and not is_group("lab")
    assert is_private("bob") and not is_private(group_key("bob")) and not is_private(EVERYONE)
    assert place_outgoing("alice", "group", ["Lab"]) == [Placement("#group:lab", "Lab")]
    assert place_incoming("alice", "bob", "group", [], "Lab") == [Placement("#group:lab", "Lab")]
    # A system notice sent by oneself (e.g. "alice created the group") is filed the same way.
    assert place_incoming("alice", "alice", "group", [], "lab")[0].key == "#group:lab"


def test_group_and_user_of_the_same_name_do_not_collide():
    assert group_key("bob") != peer_key("bob")
    assert group_key("everyone") != EVERYONE


def test_own_notices_read_in_the_second_person():
    """The server stores one notice text for every member; each app says "You" for its own
    actions (the deleted placeholder read "alice deleted a message" in alice's own app)."""
    from messenger.client.engine import notice_text

    assert notice_text("deleted", "alice deleted a message", "alice", "Alice") == \
        "You deleted a message"
    assert notice_text("left", "alice left", "alice", "alice") == "You left"
    assert notice_text("leader", "bob is the new leader", "bob", "bob") == \
        "You are the new leader"
    assert notice_text("removed", "alice removed bob", "alice", "bob") == "alice removed you"
    assert notice_text("removed", "alice removed bob", "alice", "alice") == "You removed bob"
    assert notice_text("joined", "bob joined", "bob", "alice") == "bob joined"  # not mine
    assert notice_text("left", "something else", "alice", "alice") == "something else"


def test_a_refused_group_request_reads_as_one_sentence_naming_the_action():
    """"Could not invite in team: …" and "Could not remove team: …" (which read as deleting
    the group) name the action now."""
    from messenger.client.engine import group_failure

    assert group_failure("invite", "team", "only the leader (alice) invites to team") == \
        "Could not invite to team: only the leader (alice) invites to team."
    assert group_failure("remove", "team", "charlie is not a member of team.") == \
        "Could not remove from team: charlie is not a member of team."
    assert group_failure("accept", "team", "you have no invitation to team") == \
        "Could not accept the invitation to team: you have no invitation to team."
    assert group_failure("create", "lab", "") == "Could not create lab."


def test_a_refusal_says_once_when_to_try_again():
    """A server's reason that said when to try again got the wait appended again
    ("…; try again in 30 s. Try again in 30 s.", "…, or try again later. Try again in 60
    min."; a hunt): the time goes in once, where the reason leaves room for it."""
    from messenger.client.engine import retry_text

    assert retry_text("too many failed logins: this account is locked for 10 s", 10) == \
        "too many failed logins: this account is locked for 10 s. Try again in 10 s."
    assert retry_text("locked for 300 s", 300) == "locked for 300 s. Try again in 5 min."
    said = "too many failed logins from your address 10.0.0.0/24; try again in 30 s"
    assert retry_text(said, 29.6) == said
    assert retry_text("127.0.0.1 has created 1 accounts within the hour; ask the server's "
                      "owner, or try again later", 3600) == \
        "127.0.0.1 has created 1 accounts within the hour; ask the server's owner, or try " \
        "again in 60 min"
    assert retry_text("the server is full (9 connections); Try again later.", 5) == \
        "the server is full (9 connections); Try again in 5 s."
    assert retry_text("2 login(s) for this name are being checked; try again when they "
                      "are answered", 1.5).count("try again") == 1
    assert retry_text("you are sending faster than 5 messages a second; wait a moment",
                      0.2) == "you are sending faster than 5 messages a second; wait a moment"
    assert retry_text("locked", None) == "locked"


def test_a_refused_multicast_names_the_unknown_accounts():
    """A multicast refused as unknown_user said "the server had no account of that name" in
    the tab of every recipient, those who exist too: it names the ones the server listed
    (as they were typed) and says nobody got it."""
    from messenger.client.engine import send_failure

    to = ["bob", "Chralie", "zed"]
    assert send_failure("unknown_user", "no such user: chralie", "multicast", to) == \
        "the server had no account named Chralie, so nobody got it"
    assert send_failure("unknown_user", "no such user: Chralie, zed", "multicast", to) == \
        "the server had no accounts named Chralie and zed, so nobody got it"
    assert send_failure("unknown_user", "no such user: chralie and 3 more", "multicast",
                        to) == "the server had no account named Chralie, so nobody got it"
    # A unicast, or a reason naming none of them: as before.
    assert send_failure("unknown_user", "no such user: zed", "unicast", ["zed"]) == \
        "the server had no account of that name"
    assert send_failure("unknown_user", "who?", "multicast", to) == \
        "the server had no account of that name"

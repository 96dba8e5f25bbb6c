"""The compose box's command parser: every alias, wrong usage, unknown commands, case."""

from __future__ import annotations

import pytest

from messenger.client.commands import (
    SPECS,
    Action,
    Command,
    help_text,
    looks_like_command,
    multicast_recipients,
    parse_command,
)

PRIVATE = ["/msg", "/unicast", "/w", "/whisper", "/private", "/msgto"]

CASES: list[tuple[str, Command]] = [
    # Plain text and escapes.
    ("hello there", Command(Action.TEXT, text="hello there")),
    ("  padded  ", Command(Action.TEXT, text="padded")),
    ("//not a command", Command(Action.TEXT, text="/not a command")),
    ("a /msg inside", Command(Action.TEXT, text="a /msg inside")),
    # Private messages.
    *[(f"{c} bob hi there", Command(Action.UNICAST, users=("bob",), text="hi there", name=c))
      for c in PRIVATE],
    ("/MSG Bob  two  spaces", Command(Action.UNICAST, users=("Bob",), text="two  spaces",
                                      name="/msg")),
    ("/w bob line one\nline two", Command(Action.UNICAST, users=("bob",),
                                          text="line one\nline two", name="/w")),
    ("@bob hi", Command(Action.UNICAST, users=("bob",), text="hi", name="@")),
    ("@Bob.Smith see you", Command(Action.UNICAST, users=("Bob.Smith",), text="see you",
                                   name="@")),
    ("/r on my way", Command(Action.REPLY, text="on my way", name="/r")),
    ("/R ok", Command(Action.REPLY, text="ok", name="/r")),
    # Multicast and broadcast.
    ("/group bob,charlie lunch?", Command(Action.MULTICAST, users=("bob", "charlie"),
                                          text="lunch?", name="/group")),
    ("/multicast bob, charlie ,,dave x y", Command(Action.MULTICAST,
                                                   users=("bob", "charlie", "dave"),
                                                   text="x y", name="/multicast")),
    ("/group bob hello", Command(Action.MULTICAST, users=("bob",), text="hello",
                                 name="/group")),
    ("/multicast bob,charlie,,dave x", Command(Action.MULTICAST,
                                               users=("bob", "charlie", "dave"), text="x",
                                               name="/multicast")),
    ("/all hi everyone", Command(Action.BROADCAST, text="hi everyone", name="/all")),
    ("/Broadcast hi", Command(Action.BROADCAST, text="hi", name="/broadcast")),
    # Groups.
    ("/create lounge", Command(Action.CREATE, group="lounge", name="/create")),
    ("/creategroup lab bob charlie", Command(Action.CREATE_GROUP, group="lab",
                                             users=("bob", "charlie"), name="/creategroup")),
    ("/CreateGroup lab bob,charlie", Command(Action.CREATE_GROUP, group="lab",
                                             users=("bob", "charlie"), name="/creategroup")),
    ("/join Lounge", Command(Action.JOIN, group="Lounge", name="/join")),
    ("/joingroup lounge", Command(Action.JOIN, group="lounge", name="/joingroup")),
    ("/groupmsg lab the build is green", Command(Action.GROUP_MSG, group="lab",
                                                 text="the build is green", name="/groupmsg")),
    ("/party invite Bob", Command(Action.PARTY_INVITE, users=("Bob",), name="/party")),
    ("/PARTY INVITE bob", Command(Action.PARTY_INVITE, users=("bob",), name="/party")),
    ("/party accept", Command(Action.PARTY_ACCEPT, name="/party")),
    ("/party Decline", Command(Action.PARTY_DECLINE, name="/party")),
    ("/party leave", Command(Action.PARTY_LEAVE, name="/party")),
    ("/party who", Command(Action.PARTY_WHO, name="/party")),
    ("/p see you at 5", Command(Action.PARTY_MSG, text="see you at 5", name="/p")),
    # Information and session.
    *[(c, Command(Action.USERS, name=c)) for c in ("/users", "/who", "/list", "/activeuser")],
    ("/WHO", Command(Action.USERS, name="/who")),
    ("/help", Command(Action.HELP, name="/help")),
    ("/quit", Command(Action.QUIT, name="/quit")),
    ("/exit", Command(Action.QUIT, name="/exit")),
    ("/logout", Command(Action.LOGOUT, name="/logout")),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse(text, expected):
    assert parse_command(text) == expected


USAGE: list[tuple[str, str]] = [
    *[(c, f"Usage: {c} <user> <text>") for c in PRIVATE],
    ("/msg bob", "Usage: /msg <user> <text>"),
    ("/WHISPER bob", "Usage: /whisper <user> <text>"),
    ("@bob", "Usage: @<user> <text>"),
    ("@ bob hi", "Usage: @<user> <text>"),
    ("@", "Usage: @<user> <text>"),
    ("/r", "Usage: /r <text>"),
    ("/group bob", "Usage: /group <user1,user2,...> <text>"),
    ("/multicast , hi", "Usage: /multicast <user1,user2,...> <text>"),
    ("/all", "Usage: /all <text>"),
    ("/broadcast", "Usage: /broadcast <text>"),
    ("/create", "Usage: /create <group>"),
    ("/create two words", "Usage: /create <group>"),
    ("/creategroup lab", "Usage: /creategroup <group> <user> [user...]"),
    ("/join", "Usage: /join <group>"),
    ("/joingroup a b", "Usage: /joingroup <group>"),
    ("/groupmsg lab", "Usage: /groupmsg <group> <text>"),
    ("/party", "Usage: /party invite <user> | accept | decline | leave | who"),
    ("/party invite", "Usage: /party invite <user> | accept | decline | leave | who"),
    ("/party invite a b", "Usage: /party invite <user> | accept | decline | leave | who"),
    ("/party dance", "Usage: /party invite <user> | accept | decline | leave | who"),
    ("/party accept now", "Usage: /party invite <user> | accept | decline | leave | who"),
    ("/p", "Usage: /p <text>"),
    ("/users now", "Usage: /users"),
    ("/help me", "Usage: /help"),
    ("/quit now", "Usage: /quit"),
    ("/logout x", "Usage: /logout"),
]


@pytest.mark.parametrize(("text", "usage"), USAGE, ids=[u[0] for u in USAGE])
def test_wrong_usage_gives_the_usage_line(text, usage):
    cmd = parse_command(text)
    assert cmd.action is Action.USAGE
    assert cmd.error == usage


@pytest.mark.parametrize("text", ["/frobnicate", "/Nope x y", "/", "/ msg bob hi"])
def test_unknown_command_suggests_help(text):
    cmd = parse_command(text)
    assert cmd.action is Action.UNKNOWN
    assert cmd.error.startswith(f"Unknown command {text.split()[0]}.")
    assert "/help" in cmd.error


def test_every_alias_is_recognised_and_listed_by_help():
    text = help_text()
    for spec in SPECS:
        for name in spec.names:
            assert name in text
            if name != "@":
                assert parse_command(name.upper()).action is not Action.UNKNOWN


def test_a_private_message_to_several_names_points_to_multicast():
    """"/msg bob,charlie hi" (IRC's /msg takes a list) and "@bob,charlie hi" opened a tab for
    a person called "bob,charlie" whose message failed: the tab says how to write to
    several people; a name no account can have is refused as such."""
    for text, name in (("/msg bob,charlie hi", "/msg"), ("@bob,charlie hi", "@"),
                       ("/w bob,,charlie, hi", "/w")):
        assert parse_command(text) == Command(
            Action.USAGE, name=name,
            error="To write to several people: /multicast bob,charlie <text>")
    assert parse_command("/msg b@b hi") == Command(
        Action.USAGE, name="/msg",
        error="“b@b” is not a user name (1–32 letters, digits, “_”, “.” or “-”).")
    assert parse_command("@bob;charlie hi").error == \
        "“bob;charlie” is not a user name (1–32 letters, digits, “_”, “.” or “-”)."


def test_user_and_group_names_keep_their_case_for_the_server():
    assert parse_command("/msg ALICE hi").users == ("ALICE",)
    assert parse_command("/join LoUnGe").group == "LoUnGe"


def test_what_is_being_typed_is_a_command_unless_it_is_escaped_text():
    """A command typed in bob's tab ("/msg charlie …") told bob "alice is typing…"; a
    text that only starts with an escaped slash is a message like any other."""
    assert looks_like_command("/msg charlie the party is at 8")
    assert looks_like_command("  /users")
    assert looks_like_command("@charlie hi")
    assert looks_like_command("/")
    assert not looks_like_command("//shrug")
    assert not looks_like_command("see /etc/hosts")
    assert not looks_like_command("hello")


def test_a_multicast_goes_to_each_known_person_once_and_not_to_yourself():
    """"/multicast bob,chralie lunch?" was queued, "Sent to bob, chralie" said, and the
    server refused it all; "bob,BOB,alice" listed bob twice and alice herself. Names are
    checked against the contact list first (None: no account), each counts once, and you
    are left out."""
    accounts = {"bob": "bob", "charlie": "Charlie"}

    def account(name: str) -> str | None:
        return accounts.get(name.casefold())

    assert multicast_recipients(["bob", "BOB", "alice", "charlie"], "alice", account) == \
        (["bob", "Charlie"], "")
    assert multicast_recipients(["bob", "chralie"], "alice", account) == \
        ([], "Not sent: there is no user named “chralie” on this server.")
    assert multicast_recipients(["chralie", "zed", "bob"], "alice", account) == \
        ([], "Not sent: there are no users named “chralie” and “zed” on this server.")
    assert multicast_recipients(["bob", "b@b"], "alice", account)[1] == \
        "Not sent: “b@b” is not a user name (1–32 letters, digits, “_”, “.” or “-”)."
    assert multicast_recipients(["Alice", "alice"], "alice", account) == \
        ([], "Not sent: name someone other than yourself.")

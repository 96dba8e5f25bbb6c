"""Slash commands of the compose box — one pure parser shared by every tab (no Qt).

:func:`parse_command` turns what the user typed into a :class:`Command`; the window then
carries it out through the engine. Command names are case-insensitive; user and group names
are passed on as typed (the server matches them ignoring case). Text that does not start with
``/`` or ``@`` is a :attr:`Action.TEXT` for the current tab; ``//text`` sends ``/text``
literally.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..protocol.names import is_valid_name, name_key


class Action(enum.StrEnum):
    """What a :class:`Command` asks for."""

    TEXT = "text"                    # plain text for the current tab (text)
    UNICAST = "unicast"              # users[0], text
    REPLY = "reply"                  # text, to the last private peer
    MULTICAST = "multicast"          # users, text
    BROADCAST = "broadcast"          # text
    CREATE = "create"                # group (public room)
    CREATE_GROUP = "create_group"    # group, users (invite-only, users invited)
    JOIN = "join"                    # group
    GROUP_MSG = "group_msg"          # group, text
    PARTY_INVITE = "party_invite"    # users[0]
    PARTY_ACCEPT = "party_accept"
    PARTY_DECLINE = "party_decline"
    PARTY_LEAVE = "party_leave"
    PARTY_WHO = "party_who"
    PARTY_MSG = "party_msg"          # text
    USERS = "users"
    HELP = "help"
    QUIT = "quit"
    LOGOUT = "logout"
    USAGE = "usage"                  # wrong usage: ``error`` holds the usage line
    UNKNOWN = "unknown"              # unknown command: ``error`` suggests /help


ANSWERED_LATER = frozenset({
    Action.USERS, Action.CREATE, Action.CREATE_GROUP, Action.JOIN, Action.PARTY_INVITE,
    Action.PARTY_ACCEPT, Action.PARTY_DECLINE, Action.PARTY_LEAVE})
"""Commands answered by the server: their answer (who is online, a group created, an error)
comes later, as a notice in the tab they were typed in (the others answer at once)."""


@dataclass(frozen=True)
class Command:
    """A parsed compose-box entry.

    Attributes:
        action: :class:`Action`.
        users: user names as typed (unicast, multicast, creategroup, party invite).
        group: a group name as typed.
        text: the message text.
        name: the command word as typed, lower-cased, with its ``/`` (``"/msg"``, ``"@"``;
            ``""`` for plain text).
        error: for ``USAGE`` / ``UNKNOWN``: what to tell the user.
    """

    action: Action
    users: tuple[str, ...] = ()
    group: str = ""
    text: str = ""
    name: str = ""
    error: str = ""


@dataclass(frozen=True)
class CommandSpec:
    """One command family: its ``names`` (aliases), ``usage`` line and ``summary``."""

    names: tuple[str, ...]
    usage: str
    summary: str


PRIVATE = CommandSpec(("/msg", "/unicast", "/w", "/whisper", "/private", "/msgto"),
                      "<user> <text>", "send a private message")
AT = CommandSpec(("@",), "@<user> <text>", "send a private message")
REPLY = CommandSpec(("/r",), "<text>", "reply to the last person you messaged privately "
                    "(Ctrl+R opens that conversation)")
MULTICAST = CommandSpec(("/group", "/multicast"), "<user1,user2,...> <text>",
                        "send one message to several people")
BROADCAST = CommandSpec(("/all", "/broadcast"), "<text>", "send a message to everyone")
CREATE = CommandSpec(("/create",), "<group>", "create a public group others can /join")
CREATE_GROUP = CommandSpec(("/creategroup",), "<group> <user> [user...]",
                           "create an invite-only group and invite people")
JOIN = CommandSpec(("/join", "/joingroup"), "<group>", "join a public group (or accept an "
                   "invitation)")
GROUP_MSG = CommandSpec(("/groupmsg",), "<group> <text>", "send a message to a group")
PARTY = CommandSpec(("/party",), "invite <user> | accept | decline | leave | who",
                    "your party: invite (creates one if you have none), answer an "
                    "invitation, leave, list members")
PARTY_MSG = CommandSpec(("/p",), "<text>", "send a message to your party")
USERS = CommandSpec(("/users", "/who", "/list", "/activeuser"), "",
                    "who is online, since when and from where")
HELP = CommandSpec(("/help",), "", "list every command")
QUIT = CommandSpec(("/quit", "/exit"), "", "log out and close the app")
LOGOUT = CommandSpec(("/logout",), "", "log out and show the login window")

SPECS: tuple[CommandSpec, ...] = (PRIVATE, AT, REPLY, MULTICAST, BROADCAST, CREATE,
                                  CREATE_GROUP, JOIN, GROUP_MSG, PARTY, PARTY_MSG, USERS, HELP,
                                  QUIT, LOGOUT)
"""Every command family, in the order ``/help`` lists them."""

_BY_NAME: dict[str, CommandSpec] = {n: s for s in SPECS for n in s.names if n != "@"}


def usage_line(spec: CommandSpec, name: str | None = None) -> str:
    """``"Usage: /msg <user> <text>"`` for ``spec`` (as invoked by ``name``)."""
    if spec is AT:
        return f"Usage: {spec.usage}"
    word = name or spec.names[0]
    return f"Usage: {word} {spec.usage}".rstrip()


def help_text() -> str:
    """What ``/help`` shows: every command with its aliases, arguments and purpose."""
    lines = ["Commands (names are not case-sensitive):"]
    for spec in SPECS:
        if spec is AT:
            lines.append(f"  {spec.usage} — {spec.summary}")
            continue
        names = " ".join(spec.names)
        args = f" {spec.usage}" if spec.usage else ""
        lines.append(f"  {names}{args} — {spec.summary}")
    lines.append("  //text sends “/text” as it is. In Everyone, plain text goes to everyone; "
                 "in a person's or group's tab, to them.")
    return "\n".join(lines)


def _split(rest: str, count: int) -> list[str]:
    """``rest`` split into at most ``count`` words, the last taking the remainder (stripped)."""
    return rest.split(None, count - 1) if rest else []


def _usage(spec: CommandSpec, name: str) -> Command:
    return Command(Action.USAGE, name=name, error=usage_line(spec, name))


_USER_LIST = re.compile(r"([^\s,]+(?:\s*,+\s*[^\s,]+)*),*\s+(\S.*)", re.DOTALL)
"""``user1, user2,user3 text``: names separated by commas (spaces allowed after them)."""


def _names(csv: str) -> tuple[str, ...]:
    return tuple(n for n in (p.strip() for p in csv.split(",")) if n)


NAME_RULE = "1–32 letters, digits, “_”, “.” or “-”"
"""What a user name is made of, as the refusals of a malformed one say it."""


def quoted_list(names: Sequence[str]) -> str:
    """``names`` quoted for a sentence: "“a”", "“a” and “b”", "“a”, “b” and “c”"."""
    quoted = [f"“{n}”" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def multicast_recipients(users: Sequence[str], me: str,
                         account: Callable[[str], str | None]) -> tuple[list[str], str]:
    """Whom a ``/multicast`` to ``users`` goes to, and why it cannot go ("" when it can).

    Each name counts once (ignoring case), spelt as ``account`` gives it (the contact list's
    spelling; None: no account has that name), and ``me`` is left out. Refused before
    anything is queued: a malformed name, names with no account (all listed), or nobody but
    ``me``. (A mistyped name was queued, "Sent to bob, chralie" said, and the server refused
    it all, saying so only in the recipients' tabs: a hunt.)"""
    seen = {name_key(me)} if me else set()
    out: list[str] = []
    malformed: list[str] = []
    unknown: list[str] = []
    for name in users:
        if not is_valid_name(name):
            malformed.append(name)
            continue
        if name_key(name) in seen:
            continue
        seen.add(name_key(name))
        spelt = account(name)
        if spelt is None:
            unknown.append(name)
        else:
            out.append(spelt)
    if malformed:
        return [], f"Not sent: {quoted_list(malformed)} is not a user name ({NAME_RULE})." \
            if len(malformed) == 1 else \
            f"Not sent: {quoted_list(malformed)} are not user names ({NAME_RULE})."
    if unknown:
        there = "there is no user" if len(unknown) == 1 else "there are no users"
        return [], f"Not sent: {there} named {quoted_list(unknown)} on this server."
    if not out:
        return [], "Not sent: name someone other than yourself."
    return out, ""


def _private(user: str, text: str, name: str) -> Command:
    """``/msg user text`` (or ``@user text``, ``name`` the command word); ``user`` must be a
    well-formed name. "bob,charlie" (IRC's /msg takes a list) opened a tab for a person
    called "bob,charlie" whose message failed (a hunt): it points to /multicast instead,
    which shows the recipients each other's names, as a list of private messages would
    not."""
    if "," in user and all(is_valid_name(n) for n in _names(user)):
        return Command(Action.USAGE, name=name, error="To write to several people: "
                       f"/multicast {','.join(_names(user))} <text>")
    if not is_valid_name(user):
        return Command(Action.USAGE, name=name,
                       error=f"“{user}” is not a user name ({NAME_RULE}).")
    return Command(Action.UNICAST, users=(user,), text=text, name=name)


LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")
"""Blank lines at the start of a text."""


def trim_message(text: str) -> str:
    """``text`` as a message: blank lines around it and trailing spaces go; the first
    line's indentation stays when it has several lines (pasted code keeps its shape; it
    was lost here, after the compose box had kept it: a hunt)."""
    trimmed = LEADING_BLANK_LINES.sub("", text).rstrip()
    return trimmed if "\n" in trimmed else trimmed.lstrip()


def looks_like_command(text: str) -> bool:
    """Whether ``text`` (being typed) is a command rather than a message for the tab:
    ``/…`` but not ``//…``, or ``@user …``. Typing one tells nobody "typing…" (what it says
    goes elsewhere, or nowhere)."""
    stripped = text.lstrip()
    return (stripped.startswith("/") and not stripped.startswith("//")) or \
        stripped.startswith("@")


def parse_command(text: str) -> Command:
    """Parse one compose-box entry (see the module docstring and :data:`SPECS`)."""
    stripped = text.strip()
    if stripped.startswith("//"):
        return Command(Action.TEXT, text=stripped[1:])
    if stripped.startswith("@"):
        parts = _split(stripped[1:], 2)
        if len(parts) < 2 or stripped[1:2].isspace():
            return _usage(AT, "@")
        return _private(parts[0], parts[1], "@")
    if not stripped.startswith("/"):
        return Command(Action.TEXT, text=trim_message(text))

    word, *tail = stripped.split(None, 1)
    rest = tail[0].strip() if tail else ""
    name = word.casefold()
    spec = _BY_NAME.get(name)
    if spec is None:
        return Command(Action.UNKNOWN, name=name,
                       error=f"Unknown command {word}. Type /help for the list of commands.")

    if spec is PRIVATE:
        parts = _split(rest, 2)
        if len(parts) < 2:
            return _usage(spec, name)
        return _private(parts[0], parts[1], name)
    if spec in (REPLY, BROADCAST, PARTY_MSG):
        if not rest:
            return _usage(spec, name)
        action = {id(REPLY): Action.REPLY, id(BROADCAST): Action.BROADCAST,
                  id(PARTY_MSG): Action.PARTY_MSG}[id(spec)]
        return Command(action, text=rest, name=name)
    if spec is MULTICAST:
        match = _USER_LIST.match(rest)
        if match is None:
            return _usage(spec, name)
        return Command(Action.MULTICAST, users=_names(match[1]), text=match[2], name=name)
    if spec in (CREATE, JOIN):
        parts = rest.split()
        if len(parts) != 1:
            return _usage(spec, name)
        return Command(Action.CREATE if spec is CREATE else Action.JOIN, group=parts[0],
                       name=name)
    if spec is CREATE_GROUP:
        parts = rest.replace(",", " ").split()
        if len(parts) < 2:
            return _usage(spec, name)
        return Command(Action.CREATE_GROUP, group=parts[0], users=tuple(parts[1:]), name=name)
    if spec is GROUP_MSG:
        parts = _split(rest, 2)
        if len(parts) < 2:
            return _usage(spec, name)
        return Command(Action.GROUP_MSG, group=parts[0], text=parts[1], name=name)
    if spec is PARTY:
        parts = rest.split()
        sub = parts[0].casefold() if parts else ""
        if sub == "invite" and len(parts) == 2:
            return Command(Action.PARTY_INVITE, users=(parts[1],), name=name)
        simple = {"accept": Action.PARTY_ACCEPT, "decline": Action.PARTY_DECLINE,
                  "leave": Action.PARTY_LEAVE, "who": Action.PARTY_WHO}
        if sub in simple and len(parts) == 1:
            return Command(simple[sub], name=name)
        return _usage(spec, name)
    # Commands without arguments.
    if rest:
        return _usage(spec, name)
    action = {id(USERS): Action.USERS, id(HELP): Action.HELP, id(QUIT): Action.QUIT,
              id(LOGOUT): Action.LOGOUT}[id(spec)]
    return Command(action, name=name)

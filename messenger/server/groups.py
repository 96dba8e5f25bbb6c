"""Group rules: membership, invitations, leadership. A plain class, no sockets.

A group has a unique name (user-name rules, unique ignoring case, and none may read like
another's: :func:`name_skeleton`, as for accounts), a leader, joined members in joining order,
pending invitations, and is public or invite-only.

- Create: the creator is leader and first member; invitees get invitations.
- Invite: the leader always; members too in public groups.
- Accept / decline an invitation; join a public group by name (an invite-only group only with
  an invitation, which joining then accepts).
- Leave: a leaving leader hands over to the longest-standing member; the last member leaving
  dissolves the group. The leader removes members.

Limits (``limit_reached``): an account leads at most :data:`MAX_LED_GROUPS` groups, and a
person holds at most :data:`MAX_WAITING_INVITATIONS` invitations not yet answered (one
account could otherwise make groups without end and bury someone in invitations they can
only decline one by one: a security review).

Every method raises :class:`RuleError` with the protocol's error code when a rule forbids the
action, and otherwise changes the group and persists it through the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from messenger.protocol import ErrorCode, GroupInfo, is_valid_name, name_key, name_skeleton

from .store import Store

MAX_LED_GROUPS = 100
"""Groups one account may lead (create, or be handed); more creates get ``limit_reached``."""
MAX_WAITING_INVITATIONS = 50
"""Invitations one person may have waiting for an answer; an invite (or a create) that would
give them more gets ``limit_reached``."""


class RuleError(Exception):
    """A rule refused the action; ``code`` is the protocol error code to report."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Group:
    """One group. ``members`` are canonical user names in joining order; ``invited`` maps an
    invitee's canonical name to who invited them."""

    name: str
    leader: str
    public: bool
    created: float
    members: list[str] = field(default_factory=list)
    invited: dict[str, str] = field(default_factory=dict)
    _keys: tuple[list[str], int, dict[str, None]] | None = field(
        default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def member_keys(self) -> dict[str, None]:
        """The members' keys (case-folded names) in joining order, as dict keys (ordered, and
        ``in`` is a hash look-up). Cached until ``members`` is replaced or grows."""
        cached = self._keys
        if cached is None or cached[0] is not self.members or cached[1] != len(self.members):
            cached = self._keys = (self.members, len(self.members),
                                   dict.fromkeys(name_key(m) for m in self.members))
        return cached[2]

    def is_member(self, user: str) -> bool:
        return name_key(user) in self.member_keys

    def is_invited(self, user: str) -> bool:
        k = name_key(user)
        return any(name_key(m) == k for m in self.invited)

    def info(self, viewer: str = "") -> GroupInfo:
        """The group as the protocol's group object; with ``viewer`` (a user name) invited
        to it, ``invited_by`` names who invited them."""
        by = ""
        if viewer:
            k = name_key(viewer)
            by = next((b for m, b in self.invited.items() if name_key(m) == k), "")
        return GroupInfo(name=self.name, leader=self.leader, members=list(self.members),
                         invited=list(self.invited), public=self.public, created=self.created,
                         invited_by=by)


@dataclass(frozen=True)
class Left:
    """Outcome of a leave: the group after it, the new leader if leadership passed, and
    whether the group was dissolved (no members left)."""

    group: Group
    new_leader: str | None
    dissolved: bool


class Groups:
    """All groups of a server, kept in memory and persisted through ``store`` on each change."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._groups: dict[str, Group] = {}
        # What the groups changed by the store's current request were before it (None: there
        # was no such group), for undo().
        self._undo: dict[str, tuple[Group, str, bool, list[str], dict[str, str]] | None] = {}
        self._undo_request = -1
        for row in store.load_groups():
            group = Group(row.name, row.leader, row.public, row.created, list(row.members),
                          dict(row.invited))
            self._groups[group.key] = group

    # ------------------------------------------------------------------ queries

    def get(self, name: str) -> Group:
        """The group named ``name`` (ignoring case). Raises RuleError(unknown_group)."""
        group = self._groups.get(name_key(name)) if isinstance(name, str) else None
        if group is None:
            raise RuleError(ErrorCode.UNKNOWN_GROUP, f"no such group: {str(name)[:40]}")
        return group

    def like(self, name: str) -> Group | None:
        """Another group whose name reads like ``name`` (the same :func:`name_skeleton`:
        ``Iab`` and ``1ab`` next to ``lab``), not the same name ignoring case, or None."""
        skeleton = name_skeleton(name)
        key = name_key(name)
        for group in self._groups.values():
            if group.key != key and name_skeleton(group.name) == skeleton:
                return group
        return None

    def member_group(self, user: str, name: str) -> Group:
        """The group, provided ``user`` is a member. Raises unknown_group / not_member."""
        group = self.get(name)
        if not group.is_member(user):
            raise RuleError(ErrorCode.NOT_MEMBER, f"you are not a member of {group.name}")
        return group

    def of_user(self, user: str) -> list[Group]:
        """Groups ``user`` belongs to or is invited to, by name."""
        return sorted((g for g in self._groups.values()
                       if g.is_member(user) or g.is_invited(user)), key=lambda g: g.key)

    def visible_to(self, user: str) -> list[Group]:
        """Groups of :meth:`of_user` plus every public group, by name."""
        return sorted((g for g in self._groups.values()
                       if g.public or g.is_member(user) or g.is_invited(user)),
                      key=lambda g: g.key)

    # ------------------------------------------------------------------ changes

    def create(self, creator: str, name: str, invitees: list[str], public: bool) -> Group:
        """Create a group led by ``creator``; ``invitees`` are canonical, existing names."""
        if not is_valid_name(name):
            raise RuleError(ErrorCode.INVALID_NAME,
                             "a group name has 1-32 characters: letters, digits, _ . -")
        if name_key(name) in self._groups:
            raise RuleError(ErrorCode.NAME_TAKEN, f"a group named {name!r} exists already")
        like = self.like(name)
        if like is not None:
            raise RuleError(ErrorCode.NAME_TAKEN,
                             f"the name {name!r} looks too much like {like.name!r}, an "
                             "existing group's: pick another name")
        me = name_key(creator)
        if sum(1 for g in self._groups.values() if name_key(g.leader) == me) >= MAX_LED_GROUPS:
            raise RuleError(ErrorCode.LIMIT_REACHED,
                             f"you lead {MAX_LED_GROUPS} groups, the most one account may; "
                             "leave or hand over one first")
        self._check_waiting([u for u in invitees if name_key(u) != me])
        group = Group(name, creator, public, self._clock(), [creator])
        self._before_change(group.key)
        for user in invitees:
            if name_key(user) != name_key(creator):
                group.invited[user] = creator
        self._groups[group.key] = group
        self._store.save_group(group)
        return group

    def invite(self, actor: str, name: str, users: list[str]) -> tuple[Group, list[str]]:
        """Invite canonical ``users``; return the group and who was newly invited. Members
        among ``users`` are skipped (one may have joined while the inviter's picker was
        open; the others are still invited); ``already_member`` only when all of them are."""
        group = self.member_group(actor, name)
        if not group.public and name_key(group.leader) != name_key(actor):
            raise RuleError(ErrorCode.NOT_LEADER,
                             f"only the leader ({group.leader}) invites to {group.name}")
        members = [u for u in users if group.is_member(u)]
        if members and len(members) == len(users):
            raise RuleError(ErrorCode.ALREADY_MEMBER,
                             f"already in {group.name}: {', '.join(members)}")
        new = [u for u in users if not group.is_member(u) and not group.is_invited(u)]
        self._check_waiting(new)
        self._before_change(group.key)
        for user in new:
            group.invited[user] = actor
        if new:
            self._store.save_group(group)
        return group, new

    def _check_waiting(self, users: list[str]) -> None:
        """Raise ``limit_reached`` when one of ``users`` (to be invited) already has
        :data:`MAX_WAITING_INVITATIONS` invitations waiting for an answer."""
        if not users:
            return
        keys = {name_key(u): u for u in users}
        waiting = dict.fromkeys(keys, 0)
        for g in self._groups.values():
            for invitee in g.invited:
                k = name_key(invitee)
                if k in waiting:
                    waiting[k] += 1
        full = [keys[k] for k, n in waiting.items() if n >= MAX_WAITING_INVITATIONS]
        if full:
            raise RuleError(ErrorCode.LIMIT_REACHED,
                             f"{', '.join(full)} already {'has' if len(full) == 1 else 'have'} "
                             f"{MAX_WAITING_INVITATIONS} invitations waiting for an answer; "
                             "nothing was done")

    def accept(self, user: str, name: str) -> Group:
        group = self.get(name)
        if group.is_member(user):
            raise RuleError(ErrorCode.ALREADY_MEMBER, f"you are in {group.name} already")
        self._before_change(group.key)
        self._take_invitation(group, user)
        group.members.append(user)
        self._store.save_group(group)
        return group

    def decline(self, user: str, name: str) -> Group:
        group = self.get(name)
        self._before_change(group.key)
        self._take_invitation(group, user)
        self._store.save_group(group)
        return group

    def join(self, user: str, name: str) -> Group:
        group = self.get(name)
        if group.is_member(user):
            raise RuleError(ErrorCode.ALREADY_MEMBER, f"you are in {group.name} already")
        self._before_change(group.key)
        if group.is_invited(user):
            self._take_invitation(group, user)
        elif not group.public:
            raise RuleError(ErrorCode.NOT_INVITED,
                             f"{group.name} is invite-only: ask its leader {group.leader}")
        group.members.append(user)
        self._store.save_group(group)
        return group

    def leave(self, user: str, name: str) -> Left:
        group = self.member_group(user, name)
        return self._drop_member(group, user)

    def remove(self, actor: str, name: str, user: str) -> Left:
        group = self.member_group(actor, name)
        if name_key(group.leader) != name_key(actor):
            raise RuleError(ErrorCode.NOT_LEADER,
                             f"only the leader ({group.leader}) removes members")
        if name_key(user) == name_key(actor):
            raise RuleError(ErrorCode.BAD_REQUEST, "to remove yourself, leave the group")
        if not group.is_member(user):
            raise RuleError(ErrorCode.NOT_MEMBER, f"{user} is not a member of {group.name}")
        return self._drop_member(group, user)

    def undo(self) -> None:
        """The store's current request failed and its writes were undone
        (:meth:`Store.abort_request`): put the groups it changed back as they were, so memory
        and database agree again (a group created by a request answered ``internal`` was
        there until the restart, and its name taken)."""
        if self._undo_request != self._store.requests:
            return  # (changed by earlier requests, which succeeded)
        for key, before in self._undo.items():
            if before is None:
                self._groups.pop(key, None)
            else:
                group, group.leader, group.public, group.members, group.invited = before
                self._groups[key] = group
        self._undo = {}

    # ------------------------------------------------------------------ internals

    def _before_change(self, key: str) -> None:
        """Keep what group ``key`` is now (or that there is none), the first time the store's
        current request changes it, for :meth:`undo`."""
        if self._undo_request != self._store.requests:
            self._undo_request = self._store.requests
            self._undo = {}
        if key not in self._undo:
            g = self._groups.get(key)
            self._undo[key] = None if g is None else (
                g, g.leader, g.public, list(g.members), dict(g.invited))

    def _take_invitation(self, group: Group, user: str) -> None:
        k = name_key(user)
        for invitee in list(group.invited):
            if name_key(invitee) == k:
                del group.invited[invitee]
                return
        raise RuleError(ErrorCode.NOT_INVITED, f"you have no invitation to {group.name}")

    def _drop_member(self, group: Group, user: str) -> Left:
        k = name_key(user)
        self._before_change(group.key)
        group.members = [m for m in group.members if name_key(m) != k]
        if not group.members:
            del self._groups[group.key]
            self._store.delete_group(group.key)
            return Left(group, None, True)
        new_leader = None
        if name_key(group.leader) == k:
            group.leader = new_leader = group.members[0]
        self._store.save_group(group)
        return Left(group, new_leader, False)

"""The app at office scale: 300 accounts on one server, 40 groups, a busy Everyone. One
user's window (offscreen) and protocol clients (WireClient) that make the load: presence
churn, many conversations with unread counts, broadcasts in bursts.

The tests count work per event (frames sent, store syncs, member lists recomputed, rows
measured), not time: what a user feels as a window that stutters or falls behind once the
office is busy, and that grows with the size of the office or the length of the day."""

from __future__ import annotations

import pytest
from helpers.wire import connect_as

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE, group_key
from messenger.client.engine import ClientEngine
from messenger.client.models import (
    ASIDE_PAGE,
    CheckableProxyModel,
    MembersModel,
    RosterModel,
)
from messenger.gui.conversation import FOLLOWED_ROWS
from messenger.gui.delegates import BubbleDelegate, MemberDelegate, RosterDelegate
from messenger.gui.groups import GroupConversationWidget, InviteDialog
from messenger.gui.main_window import MainWindow
from messenger.protocol import Ok, Send
from messenger.server import core

N_ACCOUNTS = 300


# ---------------------------------------------------------------------------------- set-up


def add_accounts(server, n: int = N_ACCOUNTS) -> list[str]:
    """``n`` accounts user000… (password ``<name>pw``), straight into the server's store."""
    core = server.server
    names = [f"user{i:03d}" for i in range(n)]
    for name in names:
        core.store.create_account(name, core.passwords.hash(f"{name}pw"))
    core.store.commit()
    return names


def make_groups(server, names: list[str], n_groups: int = 40, size: int = 60,
                exclude: tuple[str, ...] = ()) -> list[str]:
    """``n_groups`` public groups team00… of ``size`` members each (alice in all of them,
    nobody of ``exclude`` in any), made through the server's own group rules."""
    core = server.server.core
    pool = [n for n in names if n not in exclude]
    made = []
    for g in range(n_groups):
        name = f"team{g:02d}"
        leader = pool[g % len(pool)]
        core.groups.create(leader, name, [], True)
        members = dict.fromkeys(pool[(g * 7 + i) % len(pool)] for i in range(size))
        for member in [*members, "alice"]:
            if member != leader:
                core.groups.join(member, name)
        made.append(name)
    server.server.store.commit()
    return made


@pytest.fixture
def office(make_server):
    """A server with the demo accounts and 300 more; no send rate limit (the load is ours)."""
    server = make_server(demo=True, max_send_rate=0)
    return server, add_accounts(server)


def alice_in_the_background(qtbot, open_window, groups: list[str]):
    """alice's window with a tab open for each of ``groups`` (her groups, all of them),
    minimized: messages to her count as unread."""
    alice = open_window("alice")
    qtbot.waitUntil(lambda: len(alice.engine.groups.names()) == len(groups))
    for g in groups:
        alice.open_group(g)
    alice.showMinimized()
    qtbot.waitUntil(lambda: not alice._window_active())
    return alice


@pytest.fixture
def server(office):
    """The office's server, for the GUI fixtures (``open_window``)."""
    return office[0]


class Counting:
    """Counts calls of ``obj.name`` (an instance's or a class's attribute), forwarding each
    to the real one; ``monkeypatch`` puts it back."""

    def __init__(self, monkeypatch, obj, name: str, *, method: bool = False) -> None:
        self.calls = 0
        self.by_arg: dict[str, int] = {}
        real = getattr(obj, name)
        if method:
            def wrapper(this, *args, **kwargs):
                self.calls += 1
                return real(this, *args, **kwargs)
        else:
            def wrapper(*args, **kwargs):
                self.calls += 1
                if args:  # (by the first argument: a str itself, else its type's name)
                    kind = args[0] if isinstance(args[0], str) else type(args[0]).__name__
                    self.by_arg[kind] = self.by_arg.get(kind, 0) + 1
                return real(*args, **kwargs)
        monkeypatch.setattr(obj, name, wrapper)


def broadcast(clients, per_client: int, tag: str) -> int:
    """Every client of ``clients`` sends ``per_client`` broadcasts at once (pipelined, no
    waiting for the answers); the number sent."""
    for c in clients:
        for i in range(per_client):
            c.send(Send(id=c.next_id(), client_msg_id=f"{tag}-{i}", scope="broadcast",
                        text=f"{tag} {i}", to=[]))
    return len(clients) * per_client


# ---------------------------------------------------------------------------------- tests


def test_reading_a_busy_everyone_sends_a_read_and_syncs_the_disk_once_per_burst(
        qtbot, office, open_window, monkeypatch):
    """The window in front, on Everyone, at the newest message: a burst of 60 broadcasts
    (the office's morning greetings) is read as it comes. Each message made its own
    ``read`` receipt, its own ``ping`` (to learn the read arrived), its own ``delivered``,
    an fsync of the local store (``sync``: synchronous=FULL) and four ``meta`` writes
    (the unconfirmed reads, twice); in the background the same burst costs one sync and one
    ``delivered``. With broadcasts every few ms the window spends its time in fsync."""
    server, _names = office
    alice = open_window("alice")
    alice.tabs.setCurrentWidget(alice.conversation_widget(EVERYONE))
    alice.activateWindow()
    qtbot.waitUntil(alice._window_active)
    assert alice.conversation_widget(EVERYONE).at_latest
    sent = Counting(monkeypatch, alice.engine._conn, "send")
    syncs = Counting(monkeypatch, alice.engine.store, "sync")
    metas = Counting(monkeypatch, alice.engine.store, "set_meta")
    bob = connect_as(qtbot, server, "bob", "bob123")
    n = broadcast([bob], 60, "morning")
    model = alice.engine.conversation(EVERYONE)
    qtbot.waitUntil(lambda: sum(1 for it in model.items() if it.text.startswith("morning"))
                    == n, timeout=20_000)
    qtbot.waitUntil(lambda: alice.engine.unread(EVERYONE) == 0)
    # All read (no badge), as it should be.
    assert alice.engine.unread(EVERYONE) == 0
    # The work per burst: a handful, not one of each per message.
    assert sent.by_arg.get("Read", 0) <= 5, sent.by_arg
    assert sent.by_arg.get("Ping", 0) <= 5, sent.by_arg
    assert sent.by_arg.get("Delivered", 0) <= 5, sent.by_arg
    assert syncs.calls <= 5, f"{syncs.calls} fsyncs of the local store for {n} messages"
    assert metas.calls <= 10, f"{metas.calls} meta writes for {n} messages"


def test_a_presence_change_does_not_recompute_member_panels_of_groups_it_is_not_in(
        qtbot, office, open_window, monkeypatch):
    """Ten group tabs open (60 members each). Someone who is in none of those groups logs
    in and out: every open group's member panel was recomputed twice per change (the
    roster's dataChanged and rowsMoved), each a roster look-up (a copy) per member: with 40
    tabs of a 300-person all-staff group, 24,000 look-ups per login anywhere, and the 9:00
    logins (or a server restart) freeze the window for tens of seconds."""
    server, names = office
    outsider = names[-1]
    groups = make_groups(server, names, n_groups=10, exclude=(outsider,))
    alice = open_window("alice")
    qtbot.waitUntil(lambda: len(alice.engine.groups.names()) == 10)
    for g in groups:
        alice.open_group(g)
    computed = Counting(monkeypatch, MembersModel, "_compute", method=True)
    roster = alice.engine.roster
    for _ in range(5):
        c = connect_as(qtbot, server, outsider, f"{outsider}pw")
        qtbot.waitUntil(lambda: roster.contact(outsider).online)
        c.close()
        qtbot.waitUntil(lambda: not roster.contact(outsider).online)
    # 10 presence changes of a person in no open group: no member panel changes.
    assert computed.calls == 0, \
        f"{computed.calls} member-list recomputations for 10 presence changes of an outsider"


def test_a_private_message_does_not_recompute_every_group_panel_and_header(
        qtbot, office, open_window, monkeypatch):
    """The window in the background, ten group tabs open. 40 colleagues write alice a
    private message each: every message (a roster unread count changing) recomputed each
    open group's member panel and wrote each group tab's header again ("60 members, 3
    online": a roster look-up per member), though no membership or presence changed."""
    server, names = office
    writers = names[-40:]
    groups = make_groups(server, names, n_groups=10, exclude=tuple(writers))
    alice = alice_in_the_background(qtbot, open_window, groups)
    clients = [connect_as(qtbot, server, n, f"{n}pw") for n in writers]
    qtbot.waitUntil(lambda: alice.engine.roster.online_count() >= len(writers))
    computed = Counting(monkeypatch, MembersModel, "_compute", method=True)
    headers = Counting(monkeypatch, alice, "status_text")
    for c in clients:
        c.send(Send(id=c.next_id(), client_msg_id="hi", scope="unicast", text="hi alice",
                    to=["alice"]))
    qtbot.waitUntil(lambda: all(alice.engine.unread(n) == 1 for n in writers),
                    timeout=20_000)
    group_headers = {k: v for k, v in headers.by_arg.items() if k != EVERYONE}
    assert not group_headers, f"group tab headers rewritten for 40 private messages from " \
        f"people in none of the groups: {group_headers}"
    assert computed.calls == 0, \
        f"{computed.calls} member-list recomputations for 40 private messages"


def test_a_group_message_rewrites_only_its_own_tab_header(
        qtbot, office, open_window, monkeypatch):
    """A message in one group (its unread count changes) wrote every open tab's header
    again, and recomputed every open group's member panel: in a busy office each group
    message costs a roster look-up per member of every open group."""
    server, names = office
    groups = make_groups(server, names, n_groups=10)
    alice = alice_in_the_background(qtbot, open_window, groups)
    leader = server.server.core.groups.get(groups[0]).leader
    c = connect_as(qtbot, server, leader, f"{leader}pw")
    computed = Counting(monkeypatch, MembersModel, "_compute", method=True)
    headers = Counting(monkeypatch, alice, "status_text")
    for i in range(10):
        c.send(Send(id=c.next_id(), client_msg_id=f"g{i}", scope="group", text=f"note {i}",
                    to=[groups[0]]))
    key = group_key(groups[0])
    qtbot.waitUntil(lambda: alice.engine.unread(key) == 10, timeout=20_000)
    # At most its own tab, once per message; no member panel (nobody joined or left).
    assert headers.calls <= 10, f"{headers.calls} tab headers written for 10 messages"
    assert computed.calls == 0, \
        f"{computed.calls} member-list recomputations for 10 messages in one group"


def test_a_message_in_another_group_does_not_redo_the_open_group_tabs_panels(
        qtbot, office, open_window, monkeypatch):
    """Ten group tabs open, messages in ten other groups: each of those groups' unread
    count changing made every open group tab do its member panel's texts and buttons
    again ("Members (60)", "Public · led by …", Invite…, Leave, Remove: three look-ups of
    its group in the whole group list each): with 40 tabs and 300 groups, every message
    in any group cost tens of thousands of name comparisons, though no open tab changed."""
    server, names = office
    groups = make_groups(server, names, n_groups=20)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: len(alice.engine.groups.names()) == len(groups))
    for g in groups[:10]:
        alice.open_group(g)
    alice.showMinimized()  # (the messages stay unread)
    qtbot.waitUntil(lambda: not alice._window_active())
    others = groups[10:]
    core = server.server.core
    clients = {g: connect_as(qtbot, server, core.groups.get(g).leader,
                             f"{core.groups.get(g).leader}pw") for g in others}
    panels = Counting(monkeypatch, GroupConversationWidget, "_update", method=True)
    for g, c in clients.items():
        c.send(Send(id=c.next_id(), client_msg_id="hi", scope="group", text="hi all",
                    to=[g]))
    qtbot.waitUntil(lambda: all(alice.engine.unread(group_key(g)) == 1 for g in others),
                    timeout=20_000)
    assert panels.calls == 0, \
        f"{panels.calls} group tab panels redone for 10 messages in groups not open"


def test_a_members_login_does_not_measure_every_row_of_the_member_panel_again(
        qtbot, office, open_window, monkeypatch):
    """A 200-person group's tab in front, its member panel showing. Each member who logged
    in or out (their row's presence dot changing) made the panel's list lay out all of its
    rows again, asking the delegate for each row's size: 200 measurements per login, and at
    9:00 when everyone comes in, 40,000 for one group. The rows are all one line high: one
    measurement does."""
    server, names = office
    group = make_groups(server, names, n_groups=1, size=199)[0]
    members = server.server.core.groups.get(group).members
    measured = Counting(monkeypatch, MemberDelegate, "sizeHint", method=True)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: group in alice.engine.groups.names())
    widget = alice.open_group(group)
    alice.tabs.setCurrentWidget(widget)
    qtbot.waitUntil(lambda: widget.members.rowCount() == len(members))
    assert widget.member_panel.isVisible() and len(members) == 200
    widget.members_view.doItemsLayout()  # (the first layout, due once shown)
    measured.calls = 0
    roster = alice.engine.roster
    comers = [m for m in members if m != "alice"][-10:]
    clients = []
    for name in comers:
        clients.append(connect_as(qtbot, server, name, f"{name}pw"))
        qtbot.waitUntil(lambda name=name: roster.contact(name).online)
    shown = [widget.members.member(r) for r in range(widget.members.rowCount())]
    assert sum(m.online for m in shown) == len(comers) + 1  # (and alice)
    widget.members_view.doItemsLayout()  # (any layout still due happens now)
    assert measured.calls <= 2 * len(comers), \
        f"{measured.calls} member rows measured for {len(comers)} logins"


def test_a_login_does_not_measure_every_row_of_the_contact_list_again(
        qtbot, office, open_window, monkeypatch):
    """The contact list of an office of 300 (at 1,000 the same, three times over): each
    colleague who logged in or out (their row's dot, and their row moving among the online
    ones) made the list lay out all of its rows again, asking the delegate for each row's
    size, about 2,000 measurements per login at 1,000 accounts, twice over at 9:00. The
    rows are all one line high at the list's font: one measurement does."""
    server, names = office
    measured = Counting(monkeypatch, RosterDelegate, "sizeHint", method=True)
    alice = open_window("alice")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.rowCount() > N_ACCOUNTS)
    alice.roster_view.doItemsLayout()  # (the first layout, due once shown)
    measured.calls = 0
    comers = names[-10:]  # (last by name: each moves up to the online ones)
    clients = []
    for name in comers:
        clients.append(connect_as(qtbot, server, name, f"{name}pw"))
        qtbot.waitUntil(lambda name=name: roster.contact(name).online)
    alice.roster_view.doItemsLayout()  # (any layout still due happens now)
    assert measured.calls <= 2 * len(comers), \
        f"{measured.calls} contact rows measured for {len(comers)} logins"
    shown = [alice.contacts_proxy.index(r, 0).data(RosterModel.NameRole)
             for r in range(alice.contacts_proxy.rowCount())]
    assert shown == roster.names()  # (online first, in place)


def test_logins_while_the_invite_dialog_is_open_do_not_sort_its_whole_list_again(
        qtbot, office, open_window, monkeypatch):
    """Invite… open on a group, 300 accounts listed by name: each colleague who logged in
    (a roster row moving up among the online ones) made the list's filter take the move as
    a new layout of the whole roster and sort and filter every account again, about 6,000
    name look-ups per login here; with 1,000 accounts a quarter of a second each, and the
    window froze through the 9:00 logins while someone was picking people to invite. The
    list shows no presence: it stays as it is, in name order."""
    server, names = office
    group = make_groups(server, names, n_groups=1, size=10)[0]
    alice = open_window("alice")
    qtbot.waitUntil(lambda: group in alice.engine.groups.names())
    looked = Counting(monkeypatch, CheckableProxyModel, "data", method=True)
    dialog = InviteDialog(alice.engine, group, alice)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    shown = dialog.picker.visible_names()
    assert len(shown) > 250 and shown == sorted(shown, key=str.casefold)
    dialog.picker.set_checked([shown[-1], shown[0]])
    dialog.view.doItemsLayout()  # (the first layout, due once shown, not counted below)
    relaid: list[object] = []
    dialog.picker.filter.layoutChanged.connect(lambda *_args: relaid.append(1))
    looked.calls = 0
    roster = alice.engine.roster
    clients = []
    for name in shown[-10:]:  # (the last ones by name: each moves to the top of the roster)
        clients.append(connect_as(qtbot, server, name, f"{name}pw"))
        qtbot.waitUntil(lambda name=name: roster.contact(name).online)
    assert not relaid, f"the invite list laid out anew {len(relaid)} times for 10 logins"
    assert looked.calls < 1_000, f"{looked.calls} look-ups in the invite list for 10 logins"
    assert dialog.picker.visible_names() == shown
    assert dialog.picker.checked() == [shown[0], shown[-1]]  # (as listed)


def test_each_new_message_in_a_busy_everyone_does_not_measure_every_row_again(
        qtbot, office, open_window, monkeypatch):
    """Everyone open at the newest message all day: each message that comes makes the list
    ask every row's size again (about 6 µs a row, see docs/performance.md), and the rows
    never go (what came live stays in the model). The cost of one message grows with
    every message of the day, without end: 375 sizes for one message after 350, 10,000
    after 10,000."""
    server, names = office
    alice = open_window("alice")
    widget = alice.conversation_widget(EVERYONE)
    alice.tabs.setCurrentWidget(widget)
    model = alice.engine.conversation(EVERYONE)
    senders = [connect_as(qtbot, server, n, f"{n}pw") for n in names[:6]]
    came: list[str] = []  # (the model keeps only the newest rows while the tab follows them)
    alice.engine.message_received.connect(lambda key, item: came.append(key))
    measured = Counting(monkeypatch, BubbleDelegate, "_known_height", method=True)
    costs = {}
    bar = widget.view.verticalScrollBar()
    for per_client in (10, 100):
        want = len(came) + broadcast(senders, per_client, f"day{per_client}")
        qtbot.waitUntil(lambda want=want: len(came) >= want, timeout=30_000)
        # (the burst laid out and scrolled to: the end timer ran, the bar is at its end)
        qtbot.waitUntil(lambda: not widget._to_end.isActive() and bar.value() == bar.maximum())
        measured.calls = 0
        before = len(came)
        broadcast(senders[:1], 1, f"one{per_client}")
        qtbot.waitUntil(lambda before=before: len(came) == before + 1)
        qtbot.waitUntil(lambda: measured.calls > 0 and not widget._to_end.isActive())
        costs[before] = measured.calls
    small, large = sorted(costs)
    assert widget.at_latest
    assert model.rowCount() <= FOLLOWED_ROWS < model.rowCount() + model.aside_count()
    # One message should cost about the same however many came before it.
    assert costs[large] <= 2 * costs[small] + 20, \
        f"sizes asked for one new message, by messages already there: {costs}"


def test_what_a_busy_tab_set_aside_comes_back_when_scrolled_up_or_searched(
        qtbot, office, open_window):
    """The rows a tab following a busy Everyone set aside are not lost: scrolled up, the
    whole morning is there again in order, and Ctrl+F goes to a message set aside."""
    server, _names = office
    alice = open_window("alice")
    widget = alice.conversation_widget(EVERYONE)
    alice.tabs.setCurrentWidget(widget)
    model = alice.engine.conversation(EVERYONE)
    bob = connect_as(qtbot, server, "bob", "bob123")
    n = broadcast([bob], 3 * FOLLOWED_ROWS, "morning")
    qtbot.waitUntil(lambda: any(i.text == f"morning {n - 1}" for i in model.items()),
                    timeout=20_000)
    assert model.rowCount() <= FOLLOWED_ROWS and model.aside_count() > 0
    # Ctrl+F "morning 100": a match set aside, brought back and shown.
    widget.open_find()
    widget.find_edit.setText("morning 100")
    qtbot.waitUntil(lambda: len(widget.matches) == 1)
    widget.find_step(1)
    row = model.row_of_seq(widget.matches[0])
    assert row is not None and model.item(row).text == "morning 100"
    assert not widget.at_latest  # (reading it: nothing goes aside meanwhile)
    # Scrolled up to the top, a page at a time: every message of the morning, in order.
    bar = widget.view.verticalScrollBar()
    while model.aside_count():
        rows = model.rowCount()
        bar.setValue(bar.minimum())
        qtbot.waitUntil(lambda rows=rows: model.rowCount() > rows)
    morning = [i.text for i in model.items() if i.text.startswith("morning")]
    assert morning == [f"morning {i}" for i in range(n)]



def test_a_tab_following_the_end_through_a_big_catch_up_keeps_only_the_newest_rows(
        qtbot, office, monkeypatch):
    """alice's laptop goes away right after she logged in, before the app had any message of
    Everyone; meanwhile bob writes her 200 messages and 2,000 broadcasts. Back online, the
    newest page of Everyone (asked for by the empty tab) came in between two pieces of the
    server's replay, and every broadcast of the later pieces went in above it, in seq
    order. The tab, although it followed the end all along, kept each of them as a row
    (2,000–3,500 rows after a 14,000-message catch-up), laid out again at every turn of the
    catch-up. Now it keeps the newest :data:`FOLLOWED_ROWS` (a page more at
    most), and scrolled up to the top, the older ones come back."""
    server, _names = office
    engine = ClientEngine(offline_grace_ms=0)
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # the link breaks: away until the burst is stored
    engine._reconnect_timer.stop()
    window = MainWindow(engine)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    widget = window.conversation_widget(EVERYONE)
    window.tabs.setCurrentWidget(widget)
    model = engine.conversation(EVERYONE)
    assert widget.at_latest and model.oldest_seq() is None
    bob = connect_as(qtbot, server, "bob", "bob123")
    # The replay goes in pieces (the next once the last drained): first alice's own.
    monkeypatch.setattr(core, "REPLAY_ROWS", 200)
    for i in range(200):
        bob.send(Send(id=bob.next_id(), client_msg_id=f"to-alice-{i}", scope="unicast",
                      text=f"to alice {i}", to=["alice"]))
    n = broadcast([bob], 2000, "away")
    assert isinstance(bob.reply(bob.next_id() - 1, timeout=30_000), Ok)  # (all stored)
    above_the_end = []  # (rows that went in above the newest ones: the case at hand)
    model.rowsInserted.connect(lambda parent, first, last: above_the_end.append(first) if
                               0 < first and last + 1 < model.rowCount() else None)
    try:
        assert engine.reconnect_now()
        qtbot.waitUntil(lambda: len(model.find("away")) == n, timeout=60_000)
        qtbot.waitUntil(lambda: not widget._to_end.isActive())
        assert len(above_the_end) > FOLLOWED_ROWS
        assert widget.at_latest
        assert model.rowCount() <= FOLLOWED_ROWS + ASIDE_PAGE, \
            f"{model.rowCount()} rows kept while following the end"
        # Scrolled up to the top: the older messages come back, a page at a time.
        bar = widget.view.verticalScrollBar()
        rows = model.rowCount()
        bar.setValue(bar.minimum())
        qtbot.waitUntil(lambda: model.rowCount() > rows)
        assert not widget.at_latest
    finally:
        window.close()
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)

"""Hunt: multicast and broadcast semantics, against a real in-process server (engines, and
real app windows through the GUI tests' open_window fixture)."""

from __future__ import annotations

import sys
from pathlib import Path

from messenger.client.conversations import EVERYONE
from messenger.client.engine import ClientEngine
from messenger.client.models import DeliveryState, MessageKind


def login(qtbot, engine: ClientEngine, server, user: str, password: str | None = None) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login(user, password or f"{user}123")


def own(engine, key):
    return [i for i in engine.conversation(key).items() if i.kind is MessageKind.OWN]


def other(engine, key):
    return [i for i in engine.conversation(key).items() if i.kind is MessageKind.OTHER]


def test_multicast_with_a_mistyped_name_says_which_name_in_the_real_recipients_tab(
        qtbot, server, make_engine):
    alice = make_engine()
    login(qtbot, alice, server, "alice")
    with qtbot.waitSignal(alice.request_failed, timeout=10_000):
        alice.send_multicast(["bob", "chralie"], "lunch?")
    (item,) = own(alice, "bob")
    assert item.state is DeliveryState.FAILED
    # bob exists: the reason shown in bob's tab must name the unknown one
    assert "chralie" in item.error, item.error


def test_export_of_a_conversation_marks_a_multicast(qtbot, server, make_engine, tmp_path):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server, "alice")
    login(qtbot, bob, server, "bob")
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_multicast(["bob", "charlie"], "party at mine, don't tell dave")
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_unicast("bob", "just for you")
    out = tmp_path / "alice.txt"
    job = bob.export_conversation("alice", out)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        pass
    lines = out.read_text().splitlines()
    multi = [ln for ln in lines if "party at mine" in ln]
    assert multi and "charlie" in multi[0], lines


sys.path.insert(0, str(Path(__file__).parent))
from conftest import gui_conftest  # noqa: E402

texts, type_line = gui_conftest.texts, gui_conftest.type_line


def test_slash_multicast_with_a_mistyped_name_is_not_reported_as_sent(qtbot, open_window):
    """alice types "/multicast bob,chralie lunch?" in Everyone. The server refuses the whole
    message (chralie has no account): nothing reaches bob. Everyone, where she typed it, must
    not go on saying "Sent to bob, chralie" with nothing about the refusal (which lands only
    in two tabs that are not open, one of them for a person who does not exist)."""
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000, raising=False):
        type_line(qtbot, alice, "/multicast bob,chralie lunch?", EVERYONE)
    shown = texts(alice, EVERYONE, MessageKind.SYSTEM) + texts(alice, EVERYONE,
                                                                  MessageKind.ERROR)
    status = alice.statusBar().currentMessage()
    assert not [t for t in shown if t.startswith("Sent to")], (shown, status)
    # and what tells her it failed names the unknown person
    assert "chralie" in status or any("chralie" in t for t in shown), (shown, status)


def test_msg_with_several_comma_separated_names(qtbot, open_window):
    """IRC's /msg takes "nick1,nick2": alice types "/msg bob,charlie hi" in Everyone. Either
    both get it, or she is told to use /multicast; not a tab for a person called
    "bob,charlie" with a failed message saying there is no such account."""
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000, raising=False):
        type_line(qtbot, alice, "/msg bob,charlie hi", EVERYONE)
    keys = [alice.tabs.widget(i).key for i in range(alice.tabs.count())
            if hasattr(alice.tabs.widget(i), "key")]
    errors = texts(alice, EVERYONE, MessageKind.ERROR)
    assert "bob,charlie" not in keys, (keys, errors)

"""The client engine against a server that sends what no correct server sends (found by a
fuzzing helper): frames are written to the engine's connection from the real server's side,
past the server's rules, or handed to the engine's decisions directly."""

from __future__ import annotations

import json
import struct

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListView, QStyleOptionViewItem

from messenger.client.engine import ClientEngine, _Request, login_name
from messenger.client.localstore import store_path
from messenger.client.models import ChatItem, ConversationModel, MessageKind, local_time
from messenger.protocol import Message, Ok

HEADER = struct.Struct(">I")


def frame(obj: dict) -> bytes:
    payload = json.dumps(obj).encode()
    return HEADER.pack(len(payload)) + payload


def message(seq: int, **fields) -> dict:
    return {"type": "message", "seq": seq, "ts": 1_700_000_000.0, "sender": "bob",
            "scope": "unicast", "to": ["alice"], "text": f"m{seq}",
            "client_msg_id": f"c{seq}", **fields}


@pytest.fixture
def alice(qtbot, server, tmp_path):
    engine = ClientEngine(data_dir=tmp_path / "data")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    (conn,) = server.server._conns.values()
    engine.inject = lambda *frames: conn.socket.write(b"".join(frame(f) for f in frames))
    yield engine
    engine.close()


def test_numbers_sqlite_cannot_hold_are_ignored(qtbot, alice):
    """A seq, receipt id or count of 2^63 or more raised OverflowError into Qt at the first
    query (and the rest of the frame was lost), and seqs 0 and -5 were cached: such frames
    are refused by the codec now, a ``read`` keeps its other seqs, and the next message comes
    as usual."""
    with qtbot.capture_exceptions() as raised:
        with qtbot.waitSignal(alice.message_received, timeout=5000) as got:
            alice.inject(message(2**63), message(0), message(-5),
                         message(5, notice="deleted", replaces=2**70),
                         {"type": "receipt", "rid": 1, "seq": 2**70, "user": "bob",
                          "state": "read", "ts": 1.0},
                         {"type": "read", "seqs": [3, 2**64]},
                         message(7, text="after them"))
    assert not raised
    assert got.args[1].text == "after them"
    assert alice.store.message(7) is not None
    assert alice.store.message(0) is None and alice.store.message(-5) is None  # (seqs are 1+)


def test_absurd_timestamps_are_not_cached(qtbot, alice):
    """``ts`` 1e18 was cached as it came, and formatting it raised in the view at every
    start: a time the app cannot show becomes the local clock's."""
    with qtbot.capture_exceptions() as raised:
        with qtbot.waitSignal(alice.message_received, timeout=5000):
            alice.inject(message(8, ts=1e18, edited=-1e308))
    assert not raised
    cached = alice.store.message(8)
    assert 0 < cached.ts < 2**33 and (cached.edited is None or 0 <= cached.edited < 2**33)


def test_a_cached_absurd_timestamp_does_not_break_the_view(qtbot):
    """A cache written before the check above: the bubble still measures, its tooltip too."""
    from messenger.gui.delegates import BubbleDelegate

    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "old", ts=1e18, seq=1))
    model.append(ChatItem(MessageKind.OTHER, "bob", "older", ts=-1e308, seq=2))
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    delegate = BubbleDelegate(view)
    with qtbot.capture_exceptions() as raised:
        for row in range(2):
            assert delegate.sizeHint(QStyleOptionViewItem(), model.index(row, 0)).height() > 0
            assert model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
    assert not raised
    assert local_time(1e308).tm_year == local_time(0).tm_year


def test_the_login_answer_cannot_move_the_local_store(tmp_path):
    """The ``ok`` of a login named the account, and that name became the cache's file name:
    ``"../../../escaped"`` put the cache outside the data folder. Only the server's spelling
    of the same valid name is taken; the file name is made safe as well."""
    assert login_name("alice", "../../../escaped") == "alice"
    assert login_name("alice", "bob") == "alice"  # (nor another account)
    assert login_name("alice", "Alice") == "Alice"
    assert login_name("alice", None) == "alice"
    path = store_path(tmp_path, "127.0.0.1", 5555, "../../../escaped")
    assert path.parent == tmp_path / "accounts" / "127.0.0.1_5555"
    assert store_path(tmp_path, "h", 1, "Alice") == tmp_path / "accounts" / "h_1" / "alice.db"


def test_a_catch_up_page_that_does_not_move_on_is_not_asked_again(qtbot, alice):
    """A page after seq 100 that ends at 50 and says "more" made the app ask for the same
    page again at once, for ever: it stops there now."""
    req = _Request("history", key="bob", mode="resume", after=100)
    alice._resuming += 1
    alice._catching_up.add("bob")
    page = Ok(id=0, more=True, messages=[Message(
        seq=50, ts=1_700_000_000.0, sender="bob", scope="unicast", text="m50",
        client_msg_id="c50", to=["alice"])])
    asked = len([r for r in alice._requests.values() if r.kind == "history"])
    alice._on_history(req, page)
    assert len([r for r in alice._requests.values() if r.kind == "history"]) == asked
    assert "bob" not in alice._catching_up


def test_a_page_outside_what_was_asked_for_does_not_reach_the_cache(qtbot, alice):
    """An older page (before 300) that held 1e9, 200 twice and 0 was prepended as it came
    ([200, 1e9, 300, 100] in the window) and cached; the first page's highest seq would have
    become the resume cursor, past real messages. Only what was asked for is kept, in order."""
    def msg(seq: int) -> Message:
        return Message(seq=seq, ts=1_700_000_000.0, sender="bob", scope="unicast",
                       text=f"m{seq}", client_msg_id=f"c{seq}", to=["alice"])

    model = alice.conversation("bob")
    req = _Request("history", key="bob", mode="older", before=300)
    alice._history_busy.add("bob")
    alice._on_history(req, Ok(id=0, more=False, messages=[
        msg(200), msg(1_000_000_000), msg(200), msg(100), msg(0)]))
    assert [i.seq for i in model.items() if i.kind is MessageKind.OTHER] == [100, 200]
    assert alice.store.message(1_000_000_000) is None and alice.store.message(0) is None
    resume = _Request("history", key="bob", mode="resume", after=250)
    alice._resuming += 1
    alice._catching_up.add("bob")
    alice._on_history(resume, Ok(id=0, more=False, messages=[msg(120), msg(260)]))
    assert alice.store.message(120) is None and alice.store.message(260) is not None
    assert alice.store.get_meta("resume:bob") == "260"


def test_a_megabyte_of_error_text_is_cut(qtbot, alice):
    """An unsolicited error with a 1 MB reason became a 1 MB notice line (and log line)."""
    from messenger.client.conversations import EVERYONE

    with qtbot.waitSignal(alice.request_failed, timeout=5000) as failed:
        alice.inject({"type": "error", "code": "internal", "message": "x" * 1_000_000})
    assert len(failed.args[2]) == 501 and failed.args[2].endswith("…")
    notice = alice.conversation(EVERYONE).items()[-1].text
    assert notice.startswith("Server error: xxx") and len(notice) < 600


def test_a_resume_offset_past_the_file_is_not_shown(qtbot, alice, server, tmp_path):
    """A ``transfer_accepted`` offset past the file's size (the server let one through)
    became the card's progress: "461168601842739 %"."""
    from helpers.wire import connect_as

    from messenger.client.conversations import peer_key
    from messenger.client.transfers import TransferController, TransferPrefs, TransferState

    bob = connect_as(qtbot, server, "bob", "bob123")  # (online while it is referenced)
    qtbot.waitUntil(lambda: alice.roster.contact("bob").online)
    controller = TransferController(alice, TransferPrefs(download_dir=tmp_path / "dl"))
    src = tmp_path / "clip.bin"
    src.write_bytes(b"x" * 1000)
    assert controller.send_file(peer_key("bob"), src) is None
    (key,) = [t.key for t in controller.model.transfers()]
    qtbot.waitUntil(lambda: controller.get(key).state is TransferState.WAITING, timeout=5000)
    with qtbot.waitSignal(alice.transfer_accepted, timeout=5000):
        alice.inject({"type": "transfer_accepted", "transfer_id": controller.get(key).transfer_id,
                      "user": "bob", "endpoints": [{"host": "127.0.0.1", "port": 9}],
                      "fingerprint": ":".join(["AB"] * 32), "offset": 2**62})
    t = controller.get(key)
    assert t.state is TransferState.CONNECTING
    assert 0 <= t.done <= t.size == 1000
    controller.close()
    bob.close()

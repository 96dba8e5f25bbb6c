"""The client engine against a real in-process server over TLS on 127.0.0.1."""

from __future__ import annotations

import datetime
import json
import logging
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

import messenger.server.core as server_core
from messenger.client.connection import ConnectionState, version_mismatch_message
from messenger.client.conversations import EVERYONE, peer_key
from messenger.client.engine import ClientEngine
from messenger.client.models import DeliveryState, MessageKind
from messenger.client.pins import PinStore
from messenger.protocol import PROTOCOL_VERSION
from messenger.protocol.fingerprint import pem_fingerprint

WRONG_FP = ":".join(["00"] * 32)


@pytest.fixture
def make_engine(qtbot):
    engines: list[ClientEngine] = []

    def factory(**kwargs) -> ClientEngine:
        engine = ClientEngine(**kwargs)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


def login(qtbot, engine: ClientEngine, server, user: str, password: str) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000) as blocker:
        engine.connect_to(server.host, server.port)
        engine.login(user, password)
    assert blocker.args == [user]
    assert engine.state is ConnectionState.LOGGED_IN


def own_items(engine: ClientEngine, key: str):
    return [i for i in engine.conversation(key).items() if i.kind is MessageKind.OWN]


def test_login_pins_the_certificate_and_fills_the_roster(qtbot, server, make_engine):
    engine = make_engine()
    with qtbot.waitSignal(engine.fingerprint_pinned, timeout=10_000) as pinned:
        login(qtbot, engine, server, "alice", "alice123")
    assert pinned.args == [server.fingerprint]
    assert PinStore().get(server.host, server.port) == server.fingerprint
    assert engine.roster.names() == ["bob", "charlie"]  # own name left out, all offline
    notices = engine.conversation(EVERYONE).items()
    assert notices[-1].kind is MessageKind.SYSTEM and "alice" in notices[-1].text

    second = make_engine()
    with qtbot.waitSignal(second.fingerprint_verified, timeout=10_000) as verified:
        login(qtbot, second, server, "bob", "bob123")
    assert verified.args == [server.fingerprint]
    qtbot.waitUntil(lambda: engine.roster.contact("bob").online)
    assert engine.roster.names()[0] == "bob"


def test_wrong_password_is_refused(qtbot, server, make_engine):
    engine = make_engine()
    with qtbot.waitSignal(engine.login_failed, timeout=10_000) as blocker:
        engine.connect_to(server.host, server.port)
        engine.login("alice", "wrong-password")
    assert blocker.args[0] == "bad_credentials"
    assert engine.state is ConnectionState.CONNECTED
    # The same connection can try again.
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.login("alice", "alice123")


def test_a_password_typed_in_the_user_name_box_is_not_written_to_the_app_log(
        qtbot, server, make_engine, caplog):
    """The server logs a name with no account as "a name with no account" (it may be a
    password typed in the wrong field), but the app's own log (messenger.log, INFO, a file
    people attach to bug reports) said "login as Tr0ub4dor.3" and "login as Tr0ub4dor.3
    refused: bad_credentials": the password in plain text. The name is logged once the
    server accepts it."""
    caplog.set_level(logging.INFO, logger="messenger")
    secret = "Tr0ub4dor.3"  # (a valid user name: the login dialog sends it)
    engine = make_engine()
    with qtbot.waitSignal(engine.login_failed, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login(secret, "alice123")
    assert [r.getMessage() for r in caplog.records if secret in r.getMessage()] == []
    assert any("login refused: bad_credentials" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.login("alice", "alice123")
    assert any(r.getMessage().endswith(" as alice") for r in caplog.records)


def test_register_then_name_taken(qtbot, server, make_engine):
    engine = make_engine()
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000) as blocker:
        engine.connect_to(server.host, server.port)
        engine.register("Zoe", "zoe-secret")
    assert blocker.args == ["Zoe"]
    other = make_engine()
    with qtbot.waitSignal(other.login_failed, timeout=10_000) as failed:
        other.connect_to(server.host, server.port)
        other.register("zoe", "another-secret")
    assert failed.args[0] == "name_taken"


def test_unicast_round_trip_with_ack_delivery_and_unread(qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    login(qtbot, bob, server, "bob", "bob123")
    with qtbot.waitSignal(bob.message_received, timeout=10_000) as received, \
            qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        cmid = alice.send_unicast("bob", "hello bob")
    key, item = received.args
    assert key == "alice"
    assert (item.sender, item.text, item.kind) == ("alice", "hello bob", MessageKind.OTHER)
    assert acked.args[0] == cmid and acked.args[1] == item.seq
    own = next(i for i in alice.conversation(peer_key("bob")).items() if i.client_msg_id == cmid)
    assert (own.kind, own.state, own.seq) == (MessageKind.OWN, DeliveryState.SENT, item.seq)
    assert bob.unread("alice") == 1
    assert bob.roster.contact("alice").unread == 1
    bob.mark_read("alice")
    assert bob.roster.contact("alice").unread == 0


def test_broadcast_and_multicast(qtbot, server, make_engine):
    alice, bob, charlie = make_engine(), make_engine(), make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    login(qtbot, bob, server, "bob", "bob123")
    login(qtbot, charlie, server, "charlie", "charlie123")
    with qtbot.waitSignals([bob.message_received, charlie.message_received], timeout=10_000):
        alice.send_broadcast("hi all")
    for engine in (bob, charlie):
        texts = [i.text for i in engine.conversation(EVERYONE).items()
                 if i.kind is MessageKind.OTHER]
        assert texts == ["hi all"]
    qtbot.waitUntil(lambda: own_items(alice, EVERYONE)[-1].state is DeliveryState.SENT)
    assert [i.text for i in alice.conversation(EVERYONE).items()].count("hi all") == 1

    with qtbot.waitSignal(charlie.message_received, timeout=10_000) as got, \
            qtbot.waitSignal(alice.message_received, timeout=10_000), \
            qtbot.waitSignal(bob.message_acked, timeout=10_000):
        bob.send_multicast(["alice", "charlie"], "to you two")
    key, item = got.args
    assert key == "bob" and item.also == ("alice",)
    qtbot.waitUntil(lambda: own_items(bob, "charlie")[-1].state is DeliveryState.SENT)
    assert own_items(bob, "alice")[-1].also == ("charlie",)
    assert own_items(bob, "charlie")[-1].also == ("alice",)


def test_unknown_user_error_lands_in_that_conversation(qtbot, server, make_engine):
    alice = make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    with qtbot.waitSignal(alice.request_failed, timeout=10_000) as failed:
        alice.send_unicast("nobody", "are you there?")
    assert failed.args[0] == "nobody" and failed.args[1] == "unknown_user"
    (item,) = alice.conversation("nobody").items()  # failed, and no notice line besides
    assert item.state is DeliveryState.FAILED
    assert item.error == "the server had no account of that name"


def test_multicast_with_an_unknown_name_says_which_in_every_tab(qtbot, server, make_engine):
    """alice multicast "lunch?" to bob and "chralie" (a typo): the server refused it all.
    The failed copy in bob's tab said "the server had no account of that name", though bob
    has one; the server's "no such user: chralie" was dropped. It names the unknown one
    now, and says that nobody got it."""
    alice = make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    with qtbot.waitSignal(alice.request_failed, timeout=10_000):
        alice.send_multicast(["bob", "chralie"], "lunch?")
    for key in ("bob", "chralie"):
        (item,) = own_items(alice, key)
        assert item.state is DeliveryState.FAILED
        assert item.error == "the server had no account named chralie, so nobody got it"


def test_offline_message_is_delivered_once_at_next_login(qtbot, server, make_engine,
                                                         tmp_path):
    alice = make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_unicast("charlie", "while you were away")
    charlie = make_engine()
    with qtbot.waitSignal(charlie.message_received, timeout=10_000) as got:
        login(qtbot, charlie, server, "charlie", "charlie123")
    assert got.args[1].text == "while you were away"
    # charlie acknowledged it with `delivered` (also when logging out at once: before, the
    # logout went first and the server ignored the `delivered` after it): a second login,
    # from another device (an empty cache, which would show a redelivery), gets nothing.
    with qtbot.waitSignal(charlie.logged_out, timeout=10_000):
        charlie.logout()
    again = make_engine(data_dir=tmp_path / "other-device")
    with qtbot.assertNotEmitted(again.message_received):
        login(qtbot, again, server, "charlie", "charlie123")
        with qtbot.waitSignal(again.message_acked, timeout=10_000):  # a full round trip
            again.send_unicast("alice", "back")
    assert own_items(again, "alice")[-1].text == "back"


def test_changed_certificate_is_refused(qtbot, server, make_engine):
    PinStore().pin(server.host, server.port, WRONG_FP)
    engine = make_engine()
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000) as failed, \
            qtbot.assertNotEmitted(engine.login_succeeded):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    code, message = failed.args
    assert code == "certificate_changed"
    joined = message.replace("\n", "")  # (each fingerprint on two lines of its own)
    assert "certificate changed" in message and WRONG_FP in joined
    assert server.fingerprint in joined and "Forget the pinned key" in message
    assert engine.state is ConnectionState.DISCONNECTED
    assert PinStore().get(server.host, server.port) == WRONG_FP  # never silently re-pinned


def test_pin_survives_a_restart_of_the_same_server(qtbot, make_server, tmp_path, make_engine):
    """The server restarts on its data dir: it keeps its certificate, so a new app (the pin
    is on disk) logs in without a certificate question or a refusal."""
    first = make_server(demo=True, data_dir=tmp_path / "srv")
    port = first.port  # (the restart below binds it again)
    engine = make_engine()
    login(qtbot, engine, first, "alice", "alice123")
    pinned = PinStore().get(first.host, first.port)
    assert pinned == first.fingerprint
    engine.logout()
    first.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=10_000)
    again = make_server(data_dir=tmp_path / "srv", port=port)
    assert again.fingerprint == pinned
    fresh = make_engine()
    unknown: list = []
    fresh.fingerprint_unknown.connect(unknown.append)
    with qtbot.assertNotEmitted(fresh.connection_failed):
        login(qtbot, fresh, again, "alice", "alice123")
    assert unknown == [] and PinStore().get(again.host, again.port) == pinned


def renew_on_the_same_key(data_dir: Path) -> None:
    """The operator renews ``data_dir``'s certificate on its key (``server.key``), as a CA's
    90-day certificate or a self-signed one made anew from the same key would be."""
    key = serialization.load_pem_private_key((data_dir / "server.key").read_bytes(), None)
    old = x509.load_pem_x509_certificate((data_dir / "server.crt").read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(old.issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .sign(key, hashes.SHA256()))
    (data_dir / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def certificate_of(server) -> str:
    """The fingerprint of ``server``'s whole certificate (what older apps pinned)."""
    return pem_fingerprint((server.data_dir / "server.crt").read_bytes())


def test_a_certificate_renewed_on_the_same_key_is_accepted_and_keeps_the_history(
        qtbot, make_server, make_engine, tmp_path, caplog):
    """The operator renewed the server's certificate on its key: every app said "the
    server's certificate changed … this may be an attack" and refused it, and after "Forget
    the pinned certificate" the app kept its history under another folder (the pin was the
    certificate's). The key is pinned now, as SSH pins a host key: the renewed certificate
    is accepted without a word to the user (a line in the log), in the same history."""
    caplog.set_level(logging.INFO, logger="messenger.client.connection")
    server = make_server(demo=True, data_dir=tmp_path / "srv")
    alice, bob = make_engine(data_dir=tmp_path / "app"), make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    login(qtbot, bob, server, "bob", "bob123")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "before the renewal")
    path, home, certificate = alice.store.path, alice.home, certificate_of(server)
    server.close()
    qtbot.waitUntil(lambda: not alice.logged_in and not bob.logged_in, timeout=20_000)
    renew_on_the_same_key(server.data_dir)
    with qtbot.assertNotEmitted(alice.connection_failed):
        again = make_server(data_dir=server.data_dir, port=server.port)
        alice.reconnect_now()
        qtbot.waitUntil(lambda: alice.logged_in, timeout=20_000)
    assert certificate_of(again) != certificate  # (a new certificate)
    assert again.fingerprint == server.fingerprint  # (on the same key)
    assert alice.store.path == path and alice.home == home
    assert "presents a new certificate" in caplog.text
    fresh = make_engine(data_dir=tmp_path / "app")  # (the next start of the app)
    with qtbot.assertNotEmitted(fresh.connection_failed), \
            qtbot.waitSignal(fresh.fingerprint_verified, timeout=10_000) as verified:
        login(qtbot, fresh, again, "alice", "alice123")
    assert verified.args == [server.fingerprint]
    assert fresh.store.path == path
    texts = [i.text for i in fresh.conversation(peer_key("bob")).items()]
    assert "before the renewal" in texts
    assert PinStore().get(again.host, again.port) == server.fingerprint


def test_a_new_key_is_still_refused(qtbot, make_server, make_engine, tmp_path):
    """A certificate on another key (the server made anew, or someone in between) is
    refused as before: "certificate changed", the pinned and the new key fingerprint."""
    server = make_server(demo=True, data_dir=tmp_path / "srv")
    engine = make_engine()
    login(qtbot, engine, server, "alice", "alice123")
    engine.close()
    server.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=10_000)
    for name in ("server.crt", "server.key"):
        (server.data_dir / name).unlink()
    again = make_server(data_dir=server.data_dir, port=server.port)
    assert again.fingerprint != server.fingerprint
    fresh = make_engine()
    with qtbot.waitSignal(fresh.connection_failed, timeout=10_000) as failed, \
            qtbot.assertNotEmitted(fresh.login_succeeded):
        fresh.connect_to(again.host, again.port)
        fresh.login("alice", "alice123")
    code, message = failed.args
    joined = message.replace("\n", "")
    assert code == "certificate_changed" and "certificate changed" in message
    assert server.fingerprint in joined and again.fingerprint in joined
    assert PinStore().get(again.host, again.port) == server.fingerprint


def test_an_older_apps_certificate_pin_becomes_a_key_pin(qtbot, make_server, make_engine,
                                                          tmp_path):
    """known_servers.json and servers.json written by an app that pinned the certificate:
    the next connection finds the pin (no question, no warning) and pins the key in its
    place, and the history folder kept under the certificate stays the account's, also
    when the server is reached by another name; a renewal on the same key is accepted
    from then on."""
    server = make_server(demo=True, data_dir=tmp_path / "srv")
    certificate = certificate_of(server)
    port, app = server.port, tmp_path / "app"
    alice, bob = make_engine(data_dir=app), make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    login(qtbot, bob, server, "bob", "bob123")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "kept by an older app")
    path = alice.store.path
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED, timeout=10_000)
    PinStore().path.write_text(json.dumps({f"127.0.0.1:{port}": certificate}),
                               encoding="utf-8")
    (app / "accounts" / "servers.json").write_text(
        json.dumps({certificate: ["127.0.0.1", port]}), encoding="utf-8")
    unknown: list = []
    older = make_engine(data_dir=app)
    older.fingerprint_unknown.connect(unknown.append)
    with qtbot.assertNotEmitted(older.connection_failed):
        login(qtbot, older, server, "alice", "alice123")
    assert unknown == [] and older.store.path == path
    assert PinStore().get("127.0.0.1", port) == server.fingerprint  # (the key's now)
    homes = json.loads((app / "accounts" / "servers.json").read_text(encoding="utf-8"))
    assert homes == {server.fingerprint: ["127.0.0.1", port]}
    older.close()
    server.close()
    qtbot.waitUntil(lambda: older.state is ConnectionState.DISCONNECTED, timeout=10_000)
    renew_on_the_same_key(server.data_dir)
    again = make_server(data_dir=server.data_dir, port=port)
    renewed = make_engine(data_dir=app)
    with qtbot.assertNotEmitted(renewed.connection_failed):
        login(qtbot, renewed, again, "alice", "alice123")
    by_name = make_engine(data_dir=app)  # (the same server by another name)
    by_name.connect_to("localhost", port)
    with qtbot.waitSignal(by_name.login_succeeded, timeout=10_000):
        by_name.login("alice", "alice123")
    for engine in (renewed, by_name):
        assert engine.store.path == path
        texts = [i.text for i in engine.conversation(peer_key("bob")).items()]
        assert "kept by an older app" in texts


def test_unreachable_server_gives_a_clear_error(qtbot, make_engine):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine()
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000) as failed:
        engine.connect_to("127.0.0.1", port)
    assert failed.args[0] == "unreachable"
    assert "Cannot reach the server" in failed.args[1] and str(port) in failed.args[1]


def test_a_corrupt_pin_file_refuses_every_server_before_any_password(qtbot, server,
                                                                    make_engine):
    PinStore().path.parent.mkdir(parents=True, exist_ok=True)
    PinStore().path.write_text("{garbage", encoding="utf-8")
    engine = make_engine()
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000) as failed, \
            qtbot.assertNotEmitted(engine.login_succeeded):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    code, message = failed.args
    assert code == "pin_file" and "cannot be read" in message
    assert PinStore().path.read_text(encoding="utf-8") == "{garbage"  # not overwritten


def test_closing_while_still_connecting_is_immediate(qtbot, make_engine):
    """Logging out or quitting while a connect is under way (a server that took the TCP
    connection but says nothing) ends at once, not when the connect finishes."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        engine = make_engine()
        engine.connect_to("127.0.0.1", listener.getsockname()[1])
        qtbot.waitUntil(lambda: engine.state is ConnectionState.CONNECTING)
        accepted, _ = listener.accept()  # TCP is up; no TLS answer comes
        engine.logout()
        assert engine.state is ConnectionState.DISCONNECTED
        accepted.close()
    finally:
        listener.close()


def test_a_new_server_is_trusted_only_when_the_user_says_so(qtbot, server, make_engine):
    """``ask_first_use`` (the desktop app): a first connection waits, sending nothing, not
    even ``hello`` (so no password), until the user trusts the fingerprint; refused, nothing
    is pinned; trusted, it is pinned and the login goes on."""
    engine = make_engine(ask_first_use=True)
    with qtbot.waitSignal(engine.fingerprint_unknown, timeout=10_000) as asked:
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    assert asked.args == [server.fingerprint]
    assert engine.state is ConnectionState.CONNECTING and not engine._conn.server_hello
    assert PinStore().get(server.host, server.port) is None
    with qtbot.waitSignal(engine.connection_failed, timeout=5000) as refused:
        engine.refuse_server()
    assert refused.args[0] == "untrusted" and "nothing was sent" in refused.args[1]
    assert PinStore().get(server.host, server.port) is None
    assert engine.state is ConnectionState.DISCONNECTED
    with qtbot.waitSignal(engine.fingerprint_unknown, timeout=10_000):  # asked again
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        assert engine.trust_server()
    assert PinStore().get(server.host, server.port) == server.fingerprint
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)
    again = make_engine(ask_first_use=True)  # pinned now: no question
    with qtbot.waitSignal(again.login_succeeded, timeout=10_000), \
            qtbot.assertNotEmitted(again.fingerprint_unknown):
        again.connect_to(server.host, server.port)
        again.login("alice", "alice123")


def test_a_reconnect_to_a_server_no_longer_pinned_stops_instead_of_waiting(
        qtbot, server, make_engine):
    """The pin file was moved away during a session: an automatic reconnect has nobody to
    ask, so it stops and says why (before, it waited for an answer for ever)."""
    engine = make_engine(ask_first_use=True)
    with qtbot.waitSignal(engine.fingerprint_unknown, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.trust_server(server.fingerprint)
    PinStore().path.unlink()
    asked: list = []  # (the whole way, the reconnect's handshake included)
    engine.fingerprint_unknown.connect(asked.append)
    with qtbot.waitSignal(engine.reconnecting, timeout=10_000):
        engine._conn._socket.abort()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED
                    and not engine.auto_reconnect, timeout=10_000)
    assert asked == []
    notices = [i.text for i in engine.conversation(EVERYONE).items()]
    assert any("no longer pinned" in t for t in notices)


def test_a_server_updated_to_another_protocol_version_stops_the_reconnects(
        qtbot, server, make_engine, monkeypatch):
    """The server was updated to another protocol version while the app was logged in: the
    app reconnected for ever ("Retrying in 30 s", every 30 s) and no retry could help. It
    stops at the first ``version_mismatch``, keeps the server's pin (a Messenger server),
    and says why in Everyone."""
    engine = make_engine()
    login(qtbot, engine, server, "alice", "alice123")
    monkeypatch.setattr(server_core, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)  # (updated)
    failures: list = []
    engine.connection_failed.connect(lambda code, message: failures.append(code))
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000,
                          check_params_cb=lambda code, _: code == "version_mismatch"):
        engine._conn._socket.abort()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)
    assert not engine.auto_reconnect and not engine._reconnect_timer.isActive()
    assert failures == ["closed", "version_mismatch"]
    assert PinStore().get(server.host, server.port) == server.fingerprint
    last = engine.conversation(EVERYONE).items()[-1].text
    assert last.startswith("Stopped reconnecting: ") and "update the app" in last
    assert "refused this app's protocol version" in last and "log in again" in last


@pytest.mark.parametrize("server_version, words", [
    (PROTOCOL_VERSION + 1, "is newer than this app"),
    (PROTOCOL_VERSION - 1, "is older than this app"),
])
def test_a_server_hello_of_another_version_says_which_side_is_older(server_version, words):
    """A server's ``hello`` of another version read "Update the app or the server": the
    user could not tell which of the two to update."""
    text = version_mismatch_message("chat.example:5555", server_version)
    assert words in text and str(server_version) in text
    assert ("Update the app." in text) == (server_version > PROTOCOL_VERSION)
    assert ("update the server" in text) == (server_version < PROTOCOL_VERSION)


def test_the_servers_login_timeout_after_a_refused_login_is_no_error(qtbot, make_server,
                                                                     make_engine):
    """A refused password, then the user takes a while: the server closes the connection
    without a login (login_timeout). No "Server error" line; the next login reconnects."""
    server = make_server(demo=True, login_timeout=1.5, idle_timeout=6.0)
    engine = make_engine()
    with qtbot.waitSignal(engine.login_failed, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "wrong")
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=5000)
    assert not [i for i in engine.conversation(EVERYONE).items() if "Server error" in i.text]
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.login("alice", "alice123")


def test_a_session_ended_by_a_password_change_keeps_no_message_for_later(
        qtbot, server, make_engine, tmp_path):
    """The session ended for good (the password was changed on another computer): a message
    typed into its window was kept in the outbox and went out as the account at its next
    login on that computer, typed by whoever sat down there next (a hunt). Refused, and said
    where it was typed."""
    lab, home = make_engine(data_dir=tmp_path / "lab"), make_engine(data_dir=tmp_path / "home")
    login(qtbot, lab, server, "alice", "alice123")
    login(qtbot, home, server, "alice", "alice123")
    with qtbot.waitSignal(lab.request_failed, timeout=10_000,
                          check_params_cb=lambda key, code, message: code == "password_changed"):
        assert home.change_password("alice123", "new-secret")
    qtbot.waitUntil(lambda: lab.state is ConnectionState.DISCONNECTED, timeout=10_000)
    assert lab.store is not None  # (still open: the window may show what it holds)
    assert not lab.send_unicast("bob", "I quit the course")
    assert not lab.store.outbox()
    assert "Not sent: you are logged out" in lab.conversation(peer_key("bob")).items()[-1].text


def test_a_logout_ends_with_logged_out_when_the_server_stops_before_answering(qtbot, server,
                                                                               make_engine):
    """Log out just as the server was stopped (its answer never came): the logout still
    ended with ``logged_out`` (before, only ``connection_failed`` came, so whoever waited
    for the end of the logout waited forever), and the engine did not reconnect."""
    alice = make_engine()
    login(qtbot, alice, server, "alice", "alice123")
    with qtbot.waitSignal(alice.logged_out, timeout=10_000):
        alice.logout()
        server.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED, timeout=10_000)
    assert not alice.logged_in
    assert not alice._reconnect_timer.isActive()

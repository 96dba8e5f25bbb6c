from helpers.wire import connect_as

from messenger.protocol import Message, Ok


def test_unicast_smoke(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ack = alice.send_text("unicast", "hi bob", ["BOB"])
    assert isinstance(ack, Ok) and ack.seq
    msg = bob.wait_for(lambda f: isinstance(f, Message))
    assert msg.sender == "alice" and msg.text == "hi bob" and msg.to == ["bob"]

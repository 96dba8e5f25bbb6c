"""Which address a server's local stores and settings are kept under (ServerHomes): the
same server typed by name, by IP or at a new DHCP address is one, by its certificate."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from messenger.client.serverhomes import ServerHomes
from messenger.gui.settings import adopt_account_settings, load_read_receipts

FP1, FP2 = "AA:01", "BB:02"


def test_the_first_address_a_certificate_is_met_at_is_its_home():
    homes = ServerHomes()
    assert homes.home("127.0.0.1", 5555, FP1) == ("127.0.0.1", 5555) and homes.changed
    homes.changed = False
    assert homes.home("Lab-Server", 5555, FP1) == ("127.0.0.1", 5555)  # (by name)
    assert homes.home("10.0.0.7", 6000, FP1) == ("127.0.0.1", 5555)  # (new address)
    assert not homes.changed


def test_two_servers_have_two_homes_and_a_new_server_at_an_old_address_takes_it_over():
    """A second server is another home; one whose certificate is met at the first's home
    (the address went to it, its new certificate accepted after the warning) owns that
    address from then on, and the first one's next home is where it is reached then (two
    servers never share a store)."""
    homes = ServerHomes()
    assert homes.home("10.0.0.5", 5555, FP1) == ("10.0.0.5", 5555)
    assert homes.home("chat.lab", 6000, FP2) == ("chat.lab", 6000)
    assert homes.home("10.0.0.5", 5555, FP2) == ("chat.lab", 6000)  # (known: its home)
    assert homes.home("10.0.0.5", 5555, "CC:03") == ("10.0.0.5", 5555)  # (a new one there)
    assert homes.home("10.0.0.9", 5555, FP1) == ("10.0.0.9", 5555)
    assert homes.as_dict() == {"CC:03": ("10.0.0.5", 5555), FP2: ("chat.lab", 6000),
                               FP1: ("10.0.0.9", 5555)}


def test_a_new_server_at_the_home_of_one_that_moved_gets_a_home_of_its_own():
    """The server whose home the address is was met at another address since (pinned
    there: it moved): a new server at its old address gets a home of its own (the address
    typed with its key's first digits), and the first keeps its home and stores (the new
    one took them over: the messages typed offline for the first one's people went to the
    new one's; a hunt). Pinned nowhere else, or when the stores there are the new key's
    server's (the same database on a new key), it is taken over as before."""
    moved, new = "AB:12:" + "00:" * 29 + "01", "CD:34:" + "00:" * 29 + "02"
    homes = ServerHomes({moved: ("10.0.0.5", 5555)})
    pins = [("10.0.0.5", 5555, new), ("10.0.0.7", 5555, moved)]
    assert homes.home("10.0.0.5", 5555, new, pins=pins) == ("10.0.0.5~cd340000", 5555)
    assert homes.home("10.0.0.5", 5555, new) == ("10.0.0.5~cd340000", 5555)  # (kept)
    assert homes.home("10.0.0.7", 5555, moved) == ("10.0.0.5", 5555)
    rekeyed = ServerHomes({moved: ("10.0.0.5", 5555)})  # (its stores: the same server)
    assert rekeyed.home("10.0.0.5", 5555, new, pins=pins,
                        same_database=lambda address: True) == ("10.0.0.5", 5555)
    alone = ServerHomes({moved: ("10.0.0.5", 5555)})
    assert alone.home("10.0.0.5", 5555, new, pins=pins[:1]) == ("10.0.0.5", 5555)
    assert alone.as_dict() == {new: ("10.0.0.5", 5555)}


def test_a_server_on_a_new_key_keeps_the_home_whose_stores_name_its_database():
    """The same server on a new key (its certificate made again), met by another name than
    its home's: the home whose stores name its ``hello.instance`` is the new key's (a new
    home was made at the name typed, and the old one's unsent messages and choices were
    left behind; a hunt). Stores of another database leave the rules as they were."""
    homes = ServerHomes({FP1: ("127.0.0.1", 5555), FP2: ("chat.lab", 6000)})
    ours = {("127.0.0.1", 5555)}
    assert homes.home("localhost", 5555, "CC:03",
                      same_database=lambda address: address in ours) == ("127.0.0.1", 5555)
    assert homes.as_dict() == {"CC:03": ("127.0.0.1", 5555), FP2: ("chat.lab", 6000)}
    assert homes.home("10.0.0.9", 7000, "DD:04",
                      same_database=lambda address: False) == ("10.0.0.9", 7000)


def test_without_a_certificate_the_address_typed_is_the_home():
    homes = ServerHomes()
    assert homes.home("Chat.Lab", 5555, None) == ("chat.lab", 5555) and not homes.changed


def test_the_map_is_kept_in_a_file(tmp_path):
    path = tmp_path / "accounts" / "servers.json"
    homes = ServerHomes()
    homes.home("127.0.0.1", 5555, FP1)
    homes.save(path)
    assert not homes.changed
    assert ServerHomes.load(path).home("localhost", 5555, FP1) == ("127.0.0.1", 5555)
    assert ServerHomes.load(tmp_path / "missing.json").as_dict() == {}
    assert [p.name for p in path.parent.iterdir()] == ["servers.json"]


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_map_is_set_aside_not_overwritten(tmp_path, content):
    """An empty map (a power loss before its rename was synced) or a damaged one was taken
    as empty, and overwritten by the next login's: the homes it held were lost for good."""
    path = tmp_path / "servers.json"
    path.write_bytes(content)
    homes = ServerHomes.load(path)
    assert homes.as_dict() == {} and homes.writable
    assert homes.set_aside is not None and homes.set_aside.read_bytes() == content
    assert homes.set_aside.name.startswith("servers.json.damaged-")
    assert not path.exists()


def test_a_map_that_cannot_be_read_is_left_alone(tmp_path):
    """Not damaged but unreadable (an I/O error; here a folder of that name): it is left as
    it is, never overwritten, and this login's homes are the addresses typed."""
    path = tmp_path / "servers.json"
    path.mkdir()
    homes = ServerHomes.load(path)
    assert not homes.writable and homes.set_aside is None
    assert homes.home("localhost", 5555, FP2) == ("localhost", 5555)
    with pytest.raises(OSError):
        homes.save(path)
    assert path.is_dir() and not (tmp_path / "servers.tmp").exists()


def test_a_lost_map_is_rebuilt_from_the_pins_and_the_stores_written_last():
    """Each certificate's home is the address pinned to it whose stores were written last
    (a home's stores are the ones in use); an address without stores is nobody's home."""
    homes = ServerHomes({"CC:03": ("10.0.0.9", 5555)})
    homes.recover([("127.0.0.1", 5555, FP1), ("localhost", 5555, FP1),
                   ("Chat.Lab", 6000, FP2), ("10.0.0.7", 6000, FP2),
                   ("10.0.0.9", 5555, "CC:03"), ("10.0.0.8", 5555, "DD:04")],
                  {("127.0.0.1", 5555): 100.0, ("localhost", 5555): 50.0,
                   ("chat.lab", 6000): 10.0, ("10.0.0.9", 5555): 1.0})
    assert homes.changed
    assert homes.as_dict() == {FP1: ("127.0.0.1", 5555), FP2: ("chat.lab", 6000),
                               "CC:03": ("10.0.0.9", 5555)}
    assert homes.home("localhost", 5555, FP1) == ("127.0.0.1", 5555)


def test_a_lost_map_gives_a_server_its_own_home_back_before_the_address_it_shares():
    """A server whose home was one of its own (a new server at the old address of one that
    moved) gets it back: the stores at the address are the other server's, even when they
    were written later."""
    new = "CD:34:" + "00:" * 29 + "02"
    homes = ServerHomes()
    homes.recover([("10.0.0.5", 5555, new)],
                  {("10.0.0.5", 5555): 100.0, ("10.0.0.5~cd340000", 5555): 10.0})
    assert homes.as_dict() == {new: ("10.0.0.5~cd340000", 5555)}


def test_the_choices_kept_under_an_address_of_the_same_server_move_to_its_home(tmp_path):
    """Those kept under the home already win; the old address keeps nothing."""
    s = QSettings(str(tmp_path / "messenger.ini"), QSettings.Format.IniFormat)
    s.setValue("session/alice@localhost:5555/privacy_read_receipts", False)
    s.setValue("session/alice@localhost:5555/tabs", ["alice\tbob"])
    s.setValue("session/alice@127.0.0.1:5555/tabs", ["alice\tcarol"])
    s.setValue("session/bob@localhost:5555/tabs", ["bob\talice"])
    adopt_account_settings("alice", ("localhost", 5555), ("127.0.0.1", 5555), s)
    assert load_read_receipts(s, ("alice", "127.0.0.1", 5555)) is False
    assert s.value("session/alice@127.0.0.1:5555/tabs") in (["alice\tcarol"], "alice\tcarol")
    assert not s.contains("session/alice@localhost:5555/tabs")
    assert s.contains("session/bob@localhost:5555/tabs")  # (another account's)


def test_a_home_kept_under_an_older_apps_certificate_becomes_its_keys():
    """An app before the key pin kept the home under the certificate's fingerprint (FP1);
    met again with that certificate, on key FP2, the home stays and is the key's from then
    on (a certificate renewed on that key keeps it)."""
    homes = ServerHomes({FP1: ("127.0.0.1", 5555)})
    assert homes.home("localhost", 5555, FP2, FP1) == ("127.0.0.1", 5555) and homes.changed
    assert homes.as_dict() == {FP2: ("127.0.0.1", 5555)}
    assert homes.home("localhost", 5555, FP2, "CC:03") == ("127.0.0.1", 5555)  # (renewed)

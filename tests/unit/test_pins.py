"""Trust on first use: the pin store of server certificate fingerprints."""

from __future__ import annotations

import json

import pytest

from messenger import paths
from messenger.client.pins import (
    PIN_FILE_NAME,
    PinFileError,
    PinStore,
    PinVerdict,
    mismatch_message,
    normalize_fingerprint,
    server_address,
    server_key,
    two_lines,
)

FP_A = ":".join(["AB"] * 32)
FP_B = ":".join(["CD"] * 32)


def test_default_file_lives_in_config_dir():
    assert PinStore().path == paths.config_dir() / PIN_FILE_NAME


def test_first_use_pins_then_matches(tmp_path):
    store = PinStore(tmp_path / "pins.json")
    first = store.verify("Example.org", 5555, FP_A)
    assert first.verdict is PinVerdict.UNKNOWN and first.pinned is None
    assert json.loads((tmp_path / "pins.json").read_text()) == {"example.org:5555": FP_A}
    again = store.verify("example.org", 5555, FP_A.lower())
    assert again.verdict is PinVerdict.MATCH
    assert again.pinned == FP_A


def test_changed_certificate_is_a_mismatch_and_keeps_the_old_pin(tmp_path):
    store = PinStore(tmp_path / "pins.json")
    store.pin("host", 1, FP_A)
    result = store.verify("host", 1, FP_B)
    assert result.verdict is PinVerdict.MISMATCH
    assert (result.pinned, result.presented) == (FP_A, FP_B)
    assert store.get("host", 1) == FP_A


def test_pins_are_per_host_and_port(tmp_path):
    store = PinStore(tmp_path / "pins.json")
    store.pin("host", 1, FP_A)
    assert store.check("host", 2, FP_B).verdict is PinVerdict.UNKNOWN
    assert store.check("other", 1, FP_B).verdict is PinVerdict.UNKNOWN


def test_remove_forgets_the_pin(tmp_path):
    store = PinStore(tmp_path / "pins.json")
    store.pin("host", 1, FP_A)
    assert store.remove("host", 1)
    assert not store.remove("host", 1)
    assert store.verify("host", 1, FP_B).verdict is PinVerdict.UNKNOWN


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_an_unreadable_file_trusts_nothing_and_is_not_overwritten(tmp_path, caplog, content):
    """A corrupt pin file is not "no pins" (every certificate a first use) and a new pin
    does not replace it (losing every other pin): both refuse, saying what to do."""
    path = tmp_path / "pins.json"
    path.write_text(content)
    store = PinStore(path)
    with pytest.raises(PinFileError) as refused:
        store.verify("host", 1, FP_A)
    assert str(path) in str(refused.value) and "move it away" in str(refused.value)
    with pytest.raises(PinFileError):
        store.pin("host", 1, FP_A)
    assert path.read_text() == content
    assert "pin file" in caplog.text


def test_key_and_fingerprint_normalisation():
    assert server_key("::1", 5) == "[::1]:5"
    assert server_key(" LocalHost ", 5) == "localhost:5"
    assert normalize_fingerprint(FP_A.replace(":", "").lower()) == FP_A
    with pytest.raises(ValueError):
        normalize_fingerprint("AB:CD")


def test_an_ipv6_address_is_written_with_brackets():
    """"::1:41279" is itself an IPv6 address: the app's messages wrote a server on ::1 so
    (the trust question, "You did not trust…", "Cannot reach…"). One formatter brackets an
    IPv6 literal and keeps names as typed."""
    assert server_address("::1", 41279) == "[::1]:41279"
    assert server_address("[fe80::1]", 5) == "[fe80::1]:5"
    assert server_address("Chat.Example", 5555) == "Chat.Example:5555"
    assert server_address("192.0.2.7", 5555) == "192.0.2.7:5555"


def test_mismatch_message_explains():
    text = mismatch_message("host", 1, FP_A, FP_B)
    assert "certificate changed" in text
    # Each fingerprint on two lines of its own (no space to wrap at: it was cut off).
    assert f"\n{two_lines(FP_A)}\n" in text and f"\n{two_lines(FP_B)}\n" in text
    assert max(map(len, two_lines(FP_A).splitlines())) <= 48
    assert "attack" in text and "Forget the pinned key" in text


def test_every_pin_is_listed_with_its_address(tmp_path):
    """What a lost map of server homes is rebuilt from (ServerHomes.recover)."""
    store = PinStore(tmp_path / "pins.json")
    store.pin("Example.org", 5555, FP_A)
    store.pin("::1", 6000, FP_B)
    assert sorted(store.entries()) == [("::1", 6000, FP_B), ("example.org", 5555, FP_A)]


def test_the_addresses_a_certificate_is_pinned_under_are_found(tmp_path):
    """What the trust question says of a certificate already trusted under another name or
    address (the server's LAN name, then its IP address)."""
    store = PinStore(tmp_path / "pins.json")
    store.pin("chat.example", 5555, FP_A)
    store.pin("::1", 5555, FP_A)
    store.pin("other.example", 5555, FP_B)
    assert store.addresses_of(FP_A.lower().replace(":", "")) == ["[::1]:5555",
                                                                  "chat.example:5555"]
    assert store.addresses_of(":".join(["EF"] * 32)) == []


def test_a_pin_is_written_durably(tmp_path, monkeypatch):
    """A pin was written to a temporary file and renamed over the old one with no sync: a
    power loss soon after could leave an empty known_servers.json, which trusts no server
    until it is repaired. The new file is synced before the rename and the folder after
    (``paths.write_durably``, shared with the map of server homes)."""
    import os

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name the synced files")
    monkeypatch.setattr(os, "fsync", fsync)
    store = PinStore(tmp_path / "pins.json")
    store.pin("chat.example", 5555, FP_A)
    assert synced == [str(tmp_path / "pins.tmp"), str(tmp_path)]
    assert store.get("chat.example", 5555) == FP_A
    assert not (tmp_path / "pins.tmp").exists()


def test_an_older_apps_certificate_pin_matches_its_certificate_and_becomes_the_key_pin(
        tmp_path):
    """known_servers.json of an app that pinned the whole certificate (FP_A) and now sees
    that certificate, on the key FP_B: a match (no "certificate changed"), and the key is
    pinned in its place; another certificate on an unknown key is a mismatch."""
    store = PinStore(tmp_path / "pins.json")
    store.pin("example.org", 5555, FP_A)
    other = ":".join(["EF"] * 32)
    assert store.check("example.org", 5555, other, certificate=other).verdict \
        is PinVerdict.MISMATCH
    result = store.verify("example.org", 5555, FP_B, certificate=FP_A)
    assert result.verdict is PinVerdict.MATCH and result.legacy
    assert store.get("example.org", 5555) == FP_B
    again = store.verify("example.org", 5555, FP_B, certificate=other)  # (renewed)
    assert again.verdict is PinVerdict.MATCH and not again.legacy
    assert store.addresses_of(FP_B) == ["example.org:5555"]


def test_the_key_fingerprint_stays_when_the_certificate_is_renewed():
    """The pin is the SHA-256 of the certificate's SubjectPublicKeyInfo: a certificate made
    anew on the same key has another certificate fingerprint and the same key one."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from messenger.protocol.fingerprint import cert_fingerprint, key_fingerprint, make_identity

    first = make_identity("server")
    key = serialization.load_pem_private_key(first.key_pem, None)
    old = x509.load_pem_x509_certificate(first.cert_pem)
    now = datetime.datetime.now(datetime.UTC)
    renewed = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(old.issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90))
               .sign(key, hashes.SHA256())).public_bytes(serialization.Encoding.DER)
    old_der = old.public_bytes(serialization.Encoding.DER)
    assert cert_fingerprint(renewed) != cert_fingerprint(old_der) == first.fingerprint
    assert key_fingerprint(renewed) == key_fingerprint(old_der)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key_fingerprint(renewed) == cert_fingerprint(spki)  # (the SPKI's SHA-256)
    assert len(key_fingerprint(renewed)) == 95

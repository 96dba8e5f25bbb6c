"""The receiver's ``.part`` file: one receiver at a time (a second copy of the app receiving
the same file into the same folder truncated and interleaved the first one's bytes, and
both reported the file complete and verified)."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from messenger.transfer.endpoint import PartBusyError, PartFile

DATA = bytes(range(256)) * 64  # 16 KiB
SHA = hashlib.sha256(DATA).hexdigest()


def test_a_second_receiver_of_the_same_part_file_is_refused_and_the_first_completes(tmp_path):
    part = tmp_path / "partial" / "abc.part"
    first = PartFile(part, len(DATA), SHA, 4096)
    assert first.open() == 0  # nothing yet
    first.write(DATA[:6000])  # creates and locks it
    first._file.flush()

    second = PartFile(part, len(DATA), SHA, 4096)
    with pytest.raises(PartBusyError) as refused:
        second.open()  # it would truncate to what it hashed and write from there
    assert "another copy of Messenger" in refused.value.strerror
    assert part.stat().st_size == 6000  # untouched
    with pytest.raises(PartBusyError):
        PartFile(part, len(DATA), SHA, 4096).write(b"x")  # nor by creating it anew

    first.write(DATA[6000:])
    path, digest = first.finish(tmp_path / "Downloads", "file.bin")
    assert digest == SHA and path is not None and path.read_bytes() == DATA

    third = PartFile(part, len(DATA), SHA, 4096)  # the lock went with the first receiver
    assert third.open() == 0
    third.write(DATA)
    assert third.finish(tmp_path / "Downloads", "file.bin")[0].name == "file (1).bin"


def test_a_resumed_part_file_is_locked_while_open_and_free_once_closed(tmp_path):
    part = tmp_path / "abc.part"
    part.write_bytes(DATA[:5000])
    first = PartFile(part, len(DATA), SHA, 4096)
    assert first.open() == 5000
    with pytest.raises(PartBusyError):
        PartFile(part, len(DATA), SHA, 4096).open()
    first.close()  # kept for a later resume, and no longer held
    again = PartFile(part, len(DATA), SHA, 4096)
    assert again.open() == 5000
    again.close()


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW (Windows)")
@pytest.mark.parametrize("held", [0, 6000])
def test_a_part_file_that_is_a_symbolic_link_is_not_written_through(tmp_path, held):
    """A symbolic link planted where the ``.part`` file goes (by another local user with
    write access to the partial folder): the received bytes were written, and the file it
    pointed to truncated, through it. Now the receive fails and the target is untouched."""
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(DATA[:held] if held else b"precious")
    before = target.read_bytes()
    part = tmp_path / "partial" / "abc.part"
    part.parent.mkdir()
    part.symlink_to(target)
    receiver = PartFile(part, len(DATA), SHA, 4096)
    with pytest.raises(OSError) as refused:
        receiver.open()
        receiver.write(DATA)
    assert refused.value.errno == errno.ELOOP
    assert target.read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="symbolic links (POSIX)")
def test_a_partial_folder_that_is_a_symbolic_link_is_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "partial").symlink_to(elsewhere)
    receiver = PartFile(tmp_path / "partial" / "abc.part", len(DATA), SHA, 4096)
    with pytest.raises(OSError) as refused:
        receiver.open()
    assert refused.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        receiver.write(DATA)
    assert list(elsewhere.iterdir()) == []


def test_a_part_file_deleted_under_it_is_copied_out_and_a_failed_copy_leaves_nothing(
        tmp_path, monkeypatch):
    """Its folder deleted while it was written (Downloads cleaned up): the bytes, in the
    open file, are copied out under the real name; a copy that fails (a full disk) leaves
    no part of them under that name, which would look whole (a review)."""
    import shutil

    from messenger.transfer import endpoint

    for fails in (False, True):
        part = tmp_path / f"run{fails}" / ".partial" / "abc.part"
        pf = PartFile(part, len(DATA), SHA, 4096)
        pf.write(DATA)
        shutil.rmtree(part.parent.parent)  # the download folder, .partial and all
        downloads = part.parent.parent
        if not fails:
            path, digest = pf.finish(downloads, "film.bin")
            assert digest == SHA and path.read_bytes() == DATA
            continue

        def full_disk(src, dst, length=0):
            dst.write(DATA[:1000])
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(endpoint.shutil, "copyfileobj", full_disk)
        with pytest.raises(OSError):
            pf.finish(downloads, "film.bin")
        assert list(downloads.iterdir()) == []

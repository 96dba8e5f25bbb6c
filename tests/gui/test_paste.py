"""Paste into the compose box: a screenshot (an image) is saved as a PNG and offered to the
peer like a dropped file, files copied in a file manager are offered, text is typed."""

from __future__ import annotations

import os
import struct
import time
import zlib

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QMimeData, QUrl
from PySide6.QtGui import QColor, QImage

from messenger import paths
from messenger.gui.conversation import PASTED_IMAGE_UNREADABLE, save_pasted_image
from messenger.gui.widgets import MessageTextEdit


def paste(tab, mime: QMimeData) -> None:
    tab.compose.insertFromMimeData(mime)  # what Ctrl+V does with the clipboard's data


def test_a_pasted_screenshot_is_offered_to_the_peer(qtbot, open_window):
    bob_window = open_window("bob")
    window = open_window("alice")
    qtbot.waitUntil(lambda: window.engine.roster.contact("bob").online)
    tab = window.open_conversation("bob")
    image = QImage(64, 48, QImage.Format.Format_RGB32)
    image.fill(QColor("teal"))
    mime = QMimeData()
    mime.setImageData(image)
    assert tab.compose.canInsertFromMimeData(mime)
    with qtbot.waitSignal(bob_window.transfers.transfer_added, timeout=10_000) as added:
        paste(tab, mime)
    assert tab.compose.toPlainText() == ""  # sent, not typed
    offer = bob_window.transfers.get(added.args[0])
    assert offer.name.startswith("pasted-") and offer.name.endswith(".png")
    saved = paths.pasted_dir() / offer.name
    assert QImage(str(saved)).size() == image.size()


def test_pasted_files_are_offered_and_pasted_text_is_typed(qtbot, open_window, tmp_path):
    window = open_window("alice")
    tab = window.open_conversation("bob")
    offered: list[list[str]] = []
    tab.files_dropped.connect(lambda key, p: offered.append(p))
    report = tmp_path / "report.txt"
    report.write_text("numbers")
    files = QMimeData()
    files.setUrls([QUrl.fromLocalFile(str(report))])
    paste(tab, files)
    assert offered == [[str(report)]] and tab.compose.toPlainText() == ""
    link = QMimeData()
    link.setUrls([QUrl("https://example.org/page")])
    link.setText("https://example.org/page")
    paste(tab, link)  # a web link is text
    text = QMimeData()
    text.setText(" and more")
    paste(tab, text)
    assert tab.compose.toPlainText() == "https://example.org/page and more"
    assert offered == [[str(report)]]


def test_pasted_images_older_than_a_month_are_removed_with_the_next_paste(qapp, tmp_path):
    old, recent, other = (tmp_path / "pasted-20250101-100000.png",
                          tmp_path / "pasted-20261201-100000.png", tmp_path / "notes.png")
    for path in (old, recent, other):
        path.write_bytes(b"png")
    month = 31 * 86400
    os.utime(old, (time.time() - month, time.time() - month))
    os.utime(other, (time.time() - month, time.time() - month))
    image = QImage(8, 8, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    saved = save_pasted_image(image, tmp_path)
    assert saved.exists() and recent.exists() and other.exists()  # only old pasted ones go
    assert not old.exists()


def test_pasting_spreadsheet_cells_types_their_text_instead_of_sending_a_picture(
        qtbot, open_window):
    """Cells copied in LibreOffice Calc or Excel (or a paragraph copied in Word) reach the
    clipboard as text, HTML *and* a picture of them. Pasted into the compose box, the app
    takes the picture, saves it as pasted-….png and offers it to the peer at once, with no
    question; the text the user meant to type is nowhere. Text that comes with a picture
    should be typed (only a clipboard that holds just an image — a screenshot — is a file
    to send)."""
    window = open_window("alice")
    tab = window.open_conversation("bob")
    offered: list[list[str]] = []
    tab.files_dropped.connect(lambda _key, p: offered.append(p))
    cells = QMimeData()
    cells.setText("Q1\t120\nQ2\t135")
    cells.setHtml("<table><tr><td>Q1</td><td>120</td></tr>"
                  "<tr><td>Q2</td><td>135</td></tr></table>")
    picture = QImage(120, 40, QImage.Format.Format_RGB32)
    picture.fill(QColor("white"))
    cells.setImageData(picture)  # (what office suites add to copied cells)
    tab.compose.insertFromMimeData(cells)  # what Ctrl+V does with the clipboard's data
    assert offered == [], "the copied cells were sent to bob as a picture"
    assert tab.compose.toPlainText() == "Q1\t120\nQ2\t135"


def test_pasted_markdown_or_html_only_arrives_as_the_text_that_was_copied(qtbot, open_window):
    """A note copied from a Markdown editor (the clipboard offers text/markdown first, then
    the same text as text/plain) was pasted into the message box as formatted text: "**Do
    not** merge" showed in bold as "Do not merge", the list's "- " markers and the code's
    backticks vanished, and that — not what was copied — is what bob got. The box is plain
    text: what was copied is what is typed, with no hidden formatting. A clipboard holding
    only HTML (some web pages' Copy buttons) pasted nothing at all, silently; its text is
    typed."""
    window = open_window("alice")
    tab = window.open_conversation("bob")
    note = "**Do not** merge `main` yet:\n\n- tests fail\n- docs missing"
    copied = QMimeData()
    copied.setData("text/markdown", QByteArray(note.encode()))
    copied.setText(note)
    assert copied.formats()[0] == "text/markdown"  # (as such an editor offers it)
    tab.compose.insertFromMimeData(copied)  # what Ctrl+V does with the clipboard's data
    assert tab.compose.toPlainText() == note
    assert all(not fragment.charFormat().font().bold()
               for fragment in _fragments(tab.compose.document()))  # no hidden markup
    tab.compose.clear()
    web = QMimeData()
    web.setHtml("<p>Room <b>2.14</b> at&nbsp;10</p>")
    assert tab.compose.canInsertFromMimeData(web)
    tab.compose.insertFromMimeData(web)
    assert tab.compose.toPlainText() == "Room 2.14 at 10"
    edit = MessageTextEdit("New text")  # (the Edit… and "Message several people" boxes)
    edit.insertFromMimeData(copied)
    assert edit.toPlainText() == note


def _fragments(document):
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            yield it.fragment()
            it += 1
        block = block.next()


class _OtherAppsPicture(QMimeData):
    """A picture another app put on the system clipboard as PNG bytes: Qt decodes it when
    asked for the image (as the xcb, Wayland and Windows clipboards do)."""

    def __init__(self, png: bytes) -> None:
        super().__init__()
        self._png = png

    def formats(self) -> list[str]:
        return ["image/png", "application/x-qt-image"]

    def hasFormat(self, mime: str) -> bool:
        return mime in self.formats()

    def retrieveData(self, mime: str, _type):
        return QImage.fromData(self._png) if mime == "application/x-qt-image" else self._png


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` × ``height`` (a small picture, its size rewritten)."""
    image = QImage(1, 1, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    png = bytearray(data.data())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(png[24:29])
    png[12:29] = header
    png[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(png)


@pytest.mark.qt_log_ignore("Rejecting image as it exceeds the current allocation limit")
def test_a_picture_too_big_to_read_says_so_when_pasted(qtbot, open_window):
    """A 20000 × 20000 scan copied in an image editor, pasted into the message box: Qt will
    not read a picture over 256 MB, so the clipboard's image came out empty and Ctrl+V did
    nothing at all — nothing typed, nothing sent, no word why. The tab now says the picture
    could not be read and how to send it (as a file)."""
    window = open_window("alice")
    tab = window.open_conversation("bob")
    offered: list[list[str]] = []
    tab.files_dropped.connect(lambda _key, p: offered.append(p))
    scan = _OtherAppsPicture(_png_claiming(20000, 20000))
    assert scan.hasImage() and tab.compose.canInsertFromMimeData(scan)
    tab.compose.insertFromMimeData(scan)  # what Ctrl+V does with the clipboard's data
    assert offered == [] and tab.compose.toPlainText() == ""
    assert tab.error_bar.isVisibleTo(tab), "the paste did nothing, and said nothing"
    assert tab.error_label.text() == PASTED_IMAGE_UNREADABLE

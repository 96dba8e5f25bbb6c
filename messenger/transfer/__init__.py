"""Peer-to-peer file transfer over one UDP socket: QUIC (qh3) + a small protocol of ours.

Layers, each usable alone:

* :mod:`.protocol` — pure decisions: stream framing, sender/receiver state machines, safe file
  names, offer checks (no I/O);
* :mod:`.endpoint` — :class:`TransferEndpoint`: QUIC connections, demultiplexing, ``.part``
  files and SHA-256 checks, fed datagrams and the time (no sockets, no clock);
* :mod:`.engine` — :class:`TransferEngine`: the Qt edge, one ``QUdpSocket`` in a worker
  ``QThread``, signals for progress/finished/failed/cancelled.

QtCore and QtNetwork only; nothing here imports the server, the client or the GUI.
"""

from .endpoint import Settings, TransferEndpoint, remove_part
from .engine import ANY_HOST, ReceiveTicket, TransferEngine
from .protocol import (
    FILE_CHANGED,
    SECRET_SIZE,
    UNREACHABLE,
    AppError,
    FileChangedError,
    FileVersion,
    Offer,
    check_offer,
    file_version,
    format_size,
    format_sizes,
    part_stem,
    safe_filename,
    same_content,
    send_error_text,
)

__all__ = [
    "ANY_HOST",
    "FILE_CHANGED",
    "SECRET_SIZE",
    "UNREACHABLE",
    "AppError",
    "FileChangedError",
    "FileVersion",
    "Offer",
    "ReceiveTicket",
    "Settings",
    "TransferEndpoint",
    "TransferEngine",
    "check_offer",
    "file_version",
    "format_size",
    "format_sizes",
    "part_stem",
    "remove_part",
    "safe_filename",
    "same_content",
    "send_error_text",
]

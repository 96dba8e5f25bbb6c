"""The desktop's notification service (freedesktop Desktop Notifications,
``org.freedesktop.Notifications`` on the session bus), wired thinly with QtDBus.

https://specifications.freedesktop.org/notification-spec/latest/ — ``Notify`` shows a pop-up
and returns its id (``replaces_id`` replaces an earlier one in place), ``CloseNotification``
takes one away; the service's ``ActionInvoked(id, action)`` says which pop-up was clicked
(action ``"default"``) and ``NotificationClosed(id, reason)`` that one is gone. Which pop-up
is about what, and where a notice goes, is decided in
:class:`messenger.client.notify.DesktopNotices`.

The calls go out from a thread of their own (:class:`_Caller`), never from the window's:
a hung service froze the window up to 2 s per pop-up. PySide6 6.11 cannot send the
protocol's ``uint32`` arguments (``replaces_id``, ``CloseNotification``'s id) in an
asynchronous call: ``QDBusMessage.setArguments``, ``QDBusConnection.asyncCall`` and
``QDBusAbstractInterface.asyncCall`` take Python ints, which go as ``int32`` (``int16``
through ``QDBusArgument <<``), and services reject them; PySide6 has no ``QVariant`` to type
them. Only an introspected :class:`QDBusInterface`'s own methods, called with
``Q_ARG("uint", …)``, type them right, and those block: so they block the caller's thread,
whose answer (the pop-up's id) comes back to the window as :attr:`DesktopNotifications.shown`.
"""

from __future__ import annotations

import html
import itertools
import logging
import os

from PySide6.QtCore import (
    Q_ARG,
    Q_RETURN_ARG,
    SLOT,
    QMetaObject,
    QObject,
    Qt,
    QThread,
    Signal,
    Slot,
)
from PySide6.QtDBus import QDBusConnection, QDBusInterface

from ..client.notify import DEFAULT_ACTION

log = logging.getLogger("messenger.gui.desktop_notifications")

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
APP_NAME = "Messenger"
ICON_NAME = "messenger"
"""The themed icon name (resources/icons/messenger.svg installed as "messenger", README)."""
DESKTOP_ENTRY = "messenger"
"""The desktop entry (resources/messenger.desktop) the desktop groups our pop-ups under."""
CALL_TIMEOUT_MS = 2000


def session_bus() -> QDBusConnection | None:
    """The user's session bus, when the environment names one (a Linux or BSD desktop
    session); None elsewhere (Windows, macOS, a console), where the tray icon pops up."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    bus = QDBusConnection.sessionBus()
    return bus if bus.isConnected() else None


def service_body(text: str, markup: bool) -> str:
    """A pop-up's body as the service must get it: escaped where it reads markup
    (capability ``body-markup``: "Tom & Jerry" showed nothing, "<b>" turned text bold),
    as it is where it does not (it would show "&amp;")."""
    return html.escape(text, quote=False) if markup else text


class _Caller(QObject):
    """The calls to the service, made in :class:`DesktopNotifications`' thread (they
    block it, not the window): queued there in order, each ``notify`` answered by
    :attr:`shown`."""

    shown = Signal(int, int)
    """``(request, id)``: request ``request``'s pop-up has id ``id`` (0: none)."""

    def __init__(self, bus: QDBusConnection) -> None:
        super().__init__()
        self._bus = bus
        self._iface: QDBusInterface | None = None
        self._markup = False

    @Slot(int, str, str, int)
    def notify(self, request: int, summary: str, body: str, replaces: int) -> None:
        """Show a pop-up; :attr:`shown` says its id."""
        self.shown.emit(request, self._notify(summary, body, replaces))

    def _notify(self, summary: str, body: str, replaces: int) -> int:
        iface = self._interface()
        if iface is None:
            return 0
        hints = {"desktop-entry": DESKTOP_ENTRY, "category": "im.received"}
        try:
            nid = QMetaObject.invokeMethod(
                iface, "Notify", Qt.ConnectionType.DirectConnection, Q_RETURN_ARG("uint"),
                Q_ARG(str, APP_NAME), Q_ARG("uint", replaces), Q_ARG(str, ICON_NAME),
                Q_ARG(str, summary), Q_ARG(str, service_body(body, self._markup)),
                Q_ARG("QStringList", [DEFAULT_ACTION, "Open"]), Q_ARG("QVariantMap", hints),
                Q_ARG(int, -1))
        except RuntimeError:
            nid = 0
        if not nid:
            log.warning("the notification service did not show a pop-up: %s",
                        iface.lastError().message())
            self._drop_interface()  # (introspected again next time: it may have restarted)
            return 0
        return int(nid)

    @Slot(int)
    def close(self, nid: int) -> None:
        """Take pop-up ``nid`` away."""
        iface = self._interface()
        if iface is None:
            return
        try:
            QMetaObject.invokeMethod(iface, "CloseNotification",
                                     Qt.ConnectionType.DirectConnection, Q_ARG("uint", nid))
        except RuntimeError:
            log.debug("could not close pop-up %d: %s", nid, iface.lastError().message())

    def _drop_interface(self) -> None:
        if self._iface is not None:
            self._iface.deleteLater()
            self._iface = None

    def _interface(self) -> QDBusInterface | None:
        if self._iface is not None:
            return self._iface
        # (introspection and GetCapabilities are calls to the service too: they block
        # this thread, not the window's)
        iface = QDBusInterface(SERVICE, PATH, INTERFACE, self._bus, self)
        iface.setTimeout(CALL_TIMEOUT_MS)
        meta = iface.metaObject()
        if not iface.isValid() or meta.indexOfMethod(
                "Notify(QString,uint,QString,QString,QString,QStringList,QVariantMap,int)") < 0:
            log.warning("no usable notification service: %s", iface.lastError().message())
            iface.deleteLater()
            return None
        caps = iface.call("GetCapabilities")
        args = caps.arguments()
        self._markup = bool(args) and "body-markup" in (args[0] or [])
        self._iface = iface
        return iface


class DesktopNotifications(QObject):
    """The notification service on ``bus`` (None: no bus, never available). Its calls
    do not block the caller: :meth:`notify` returns at once, and :attr:`shown` brings
    the pop-up's id when the service answers.

    Signals:
        shown(int, int): ``(request, id)``: the pop-up asked for by :meth:`notify`'s
            ``request`` has id ``id``, or 0 when the service refused or did not answer.
        action_invoked(int, str): ``(id, action)``, a pop-up's action was invoked
            (``"default"``: the pop-up was clicked). Any app's pop-up: check the id.
        closed(int): pop-up ``id`` is gone.
    """

    shown = Signal(int, int)
    action_invoked = Signal(int, str)
    closed = Signal(int)
    _notify_call = Signal(int, str, str, int)
    _close_call = Signal(int)

    def __init__(self, bus: QDBusConnection | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._thread: QThread | None = None
        self._caller: _Caller | None = None
        self._requests = itertools.count(1)
        self._pending: set[int] = set()
        if bus is not None:
            bus.connect(SERVICE, PATH, INTERFACE, "ActionInvoked", self,
                        SLOT("_on_action_invoked(uint,QString)"))
            bus.connect(SERVICE, PATH, INTERFACE, "NotificationClosed", self,
                        SLOT("_on_closed(uint,uint)"))

    def available(self) -> bool:
        """Whether the bus has the service (running, or started on the first call)."""
        if self._bus is None or not self._bus.isConnected():
            return False
        bus = self._bus.interface()  # (the bus itself answers these, not the service)
        registered = bus.isServiceRegistered(SERVICE)
        if registered.isValid() and registered.value():
            return True
        names = bus.activatableServiceNames()
        return names.isValid() and SERVICE in (names.value() or [])

    def notify(self, summary: str, body: str, *, replaces: int = 0) -> int:
        """Ask for a pop-up (replacing pop-up ``replaces``, if not 0); the request's
        number, which :attr:`shown` names with the pop-up's id (0 at once: no bus)."""
        if not self._start():
            return 0
        request = next(self._requests)
        self._pending.add(request)
        self._notify_call.emit(request, summary, body, replaces)
        return request

    def pending(self) -> int:
        """How many pop-ups asked for the service has not answered yet."""
        return len(self._pending)

    def close(self, nid: int) -> None:
        """Take pop-up ``nid`` away (it was read)."""
        if self._start():
            self._close_call.emit(nid)

    def stop(self) -> None:
        """End the calls' thread (after the call it is in, if any: at most the timeout)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
            self._caller = None  # (its thread is over: deleted here)

    def _start(self) -> bool:
        if self._thread is not None:
            return True
        if self._bus is None:
            return False
        self._thread = QThread(self)
        self._thread.setObjectName("desktop notifications")
        self._caller = caller = _Caller(self._bus)
        caller.moveToThread(self._thread)
        # (queued: the slots run in the thread, one after the other)
        self._notify_call.connect(caller.notify, Qt.ConnectionType.QueuedConnection)
        self._close_call.connect(caller.close, Qt.ConnectionType.QueuedConnection)
        caller.shown.connect(self._on_shown, Qt.ConnectionType.QueuedConnection)
        self._thread.start()
        return True

    @Slot(int, int)
    def _on_shown(self, request: int, nid: int) -> None:
        self._pending.discard(request)
        self.shown.emit(request, nid)

    @Slot("uint", str)
    def _on_action_invoked(self, nid: int, action: str) -> None:
        self.action_invoked.emit(int(nid), action)

    @Slot("uint", "uint")
    def _on_closed(self, nid: int, _reason: int) -> None:
        self.closed.emit(int(nid))

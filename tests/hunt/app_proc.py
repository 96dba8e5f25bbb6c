"""An app engine in a process of its own, to be killed with SIGKILL: logs in as argv[2] on
127.0.0.1:argv[1] with data dir argv[3], then types messages (private to bob, multicast to
bob+charlie, in group lab, to Everyone) one every ms, printing "typed <text>" once each is in
the outbox and "acked <cmid>" at each ack. Run until killed."""

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTimer

from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff

app = QCoreApplication(sys.argv)
port, user, data_dir = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
engine = ClientEngine(backoff=Backoff(0.05, 0.4), data_dir=data_dir)
n = 0


def tick() -> None:
    global n
    kind = ("uni", "multi", "group", "all")[n % 4]
    text = f"{user} {kind} {n:04d}"
    if kind == "uni":
        engine.send_unicast("bob", text)
    elif kind == "multi":
        engine.send_multicast(["bob", "charlie"], text)
    elif kind == "group":
        engine.send_group("lab", text)
    else:
        engine.send_broadcast(text)
    print("typed", text, flush=True)
    n += 1


timer = QTimer()
timer.timeout.connect(tick)
engine.login_succeeded.connect(lambda _: timer.start(1))
engine.message_acked.connect(lambda cmid, seq, ts: print("acked", cmid, flush=True))
engine.connect_to("127.0.0.1", port)
engine.login(user, f"{user}123")
app.exec()

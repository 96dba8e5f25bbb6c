import pytest
import shiboken6

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff


@pytest.fixture
def make_engine(qtbot):
    engines: list[ClientEngine] = []

    def factory(**kwargs) -> ClientEngine:
        kwargs.setdefault("backoff", Backoff(0.05, 0.3))
        kwargs.setdefault("offline_grace_ms", 0)
        engine = ClientEngine(**kwargs)
        engines.append(engine)
        return engine

    yield factory
    engines = [e for e in engines if shiboken6.isValid(e)]
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


# The GUI fixtures of tests/gui (open_window and helpers), loaded by path.
import importlib.util as _ilu  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

_spec = _ilu.spec_from_file_location(
    "hunt_gui_conftest", _Path(__file__).parents[1] / "gui" / "conftest.py")
gui_conftest = _ilu.module_from_spec(_spec)
_spec.loader.exec_module(gui_conftest)
open_window = gui_conftest.open_window

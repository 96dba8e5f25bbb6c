"""Count calls of a function as the modules that imported it see it: for tests that check how
much work an operation does (its algorithm), not how long it takes."""

from __future__ import annotations

from types import ModuleType

import pytest


class CallCounter:
    """Counts the calls it forwards to ``func``; :attr:`calls` is the running total."""

    def __init__(self, func) -> None:
        self.func = func
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.func(*args, **kwargs)


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str, *modules: ModuleType) -> CallCounter:
    """Replace ``name`` in each of ``modules`` by one :class:`CallCounter` (undone at the
    end of the test by ``monkeypatch``)."""
    counter = CallCounter(getattr(modules[0], name))
    for module in modules:
        monkeypatch.setattr(module, name, counter)
    return counter

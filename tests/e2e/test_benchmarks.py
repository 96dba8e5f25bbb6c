"""End to end: the benchmarks of issue 4 run (a small workload; their figures are not timed).

``benchmarks/load.py`` and ``benchmarks/history.py`` were run by hand only: a protocol or
store change that broke them (a refused login, a renamed column) went unseen until the next
performance run, and docs/performance.md's commands no longer worked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def bench_env(tmp_path: Path) -> dict[str, str]:
    """This checkout's code, no display, and a home of the test's own."""
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen",
               HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("MESSENGER_HOME", None)
    return env


def test_the_load_benchmark_drives_the_server_and_counts_every_message(tmp_path):
    """load.py starts ``messenger --server`` (storage and TLS on) and drives protocol clients:
    every message of each phase is acked, received, and none is lost."""
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "load.py"), "--clients", "4",
         "--duration", "0.3", "--warmup", "0.1", "--rates", "100", "--group-size", "4",
         "--fan-senders", "2", "--skip-ngircd", "--json", str(out)],
        cwd=tmp_path, env=bench_env(tmp_path), capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    ours = json.loads(out.read_text())["messenger"]
    assert ours["errors"] == {}
    sat, opened = ours["per_n"]["4"]["sat"], ours["per_n"]["4"]["open"]["100"]
    for phase in (sat, opened, ours["fan"]):
        assert phase["received"] > 0 and phase["acked"] > 0 and phase["lost"] == 0
    assert ours["fan"]["received"] >= 3 * ours["fan"]["sent"] * 0.9  # (3 others each)
    assert "unicast msgs/s at saturation" in done.stdout
    assert "ngircd: skipped (--skip-ngircd)" in done.stdout


def test_the_history_benchmark_opens_a_conversation_offscreen(tmp_path):
    """history.py fills a conversation into the app's cache and times opening it, scrolling
    and finding in it."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "history.py"), "--messages", "3000",
         "--runs", "1", "--find-back", "100", "--deep", "500", "--unread", "50"],
        cwd=tmp_path, env=bench_env(tmp_path), capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    for figure in ("filled 3,000 messages", "open a 3,000-message conversation:",
                   "scroll to the top", "find the oldest message, 2,999 back",
                   "open with 50 unread"):
        assert figure in done.stdout, done.stdout


def test_the_server_store_benchmark_times_the_queries_of_a_login(tmp_path):
    """server_store.py builds a server database and times the store queries of a login and
    of history paging (on a tiny one here: its figures are not checked)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "server_store.py"), "--messages", "5000",
         "--db", str(tmp_path / "server.db")],
        cwd=tmp_path, env=bench_env(tmp_path), capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    for figure in ("conversations (new device)", "login catch-up: ack the replay, counts",
                   "history everyone before mid"):
        assert figure in done.stdout, done.stdout

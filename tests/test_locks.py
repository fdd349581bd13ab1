"""Taking turns and keeping secrets, quickly: the server's lifecycle lock, the count state's lock,
a server found without its pid file, and URIs whose credentials never show.

The many-processes versions (eight commands at once, two loads at once, kill -9) are in
``tests/test_concurrency.py`` (slow).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loaders.schema import Dataset, ReadReport, empty_videos
from tests.conftest import REPO, make_settings
from ytgraph.cli import app
from ytgraph.config import Settings
from ytgraph.db.connect import Connection, managed_server
from ytgraph.db.graph import Graph
from ytgraph.errors import BusyError
from ytgraph.ingest.load import load
from ytgraph.ingest.state import StateStore

SECRET = "Sup3rSecretPassw0rd"


def command(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``ytgraph ARGS`` in a process of its own, with no Neo4j settings but ``env``."""
    base = {"PATH": os.environ["PATH"], "HOME": str(cwd), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "ytgraph.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--uri", f"bolt://neo4j:{SECRET}@127.0.0.1:1", "stats"], {}, "***@127.0.0.1:1"),
        (["stats"], {"NEO4J_URI": f"neo4j://admin:{SECRET}@localhost"}, "***@localhost"),
        (["--uri", f"bolt://{SECRET}@127.0.0.1:1", "stats"], {}, "carries credentials"),
        (["--uri", "http://127.0.0.1:7474", "stats"], {}, "is not a Bolt URI"),
        (["--uri", "127.0.0.1:7687", "stats"], {}, "is not a Bolt URI"),
    ],
)
def test_a_bad_uri_is_one_line_and_never_shows_the_password(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    done = command(*args, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ytgraph: "), done.stderr
    assert says in lines[0]
    assert SECRET not in done.stderr + done.stdout


def test_commands_wait_while_another_starts_or_stops_the_server(
    neo4j_conn: Connection,
) -> None:
    server = managed_server(make_settings().neo4j)
    said: list[str] = []
    result: list[float] = []
    with server.lifecycle():
        other = threading.Thread(target=lambda: result.append(server.start(echo=said.append)))
        other.start()
        time.sleep(1.5)
        assert other.is_alive() and not result  # it waits for the holder, it does not go ahead
    other.join(60)
    assert result == [0.0]  # then finds the server running and leaves it be
    assert len(said) == 1 and "waiting for another ytgraph" in said[0]


def test_a_running_server_keeps_its_conf(neo4j_conn: Connection) -> None:
    server = managed_server(make_settings().neo4j)
    conf = server.home / "conf" / "neo4j.conf"
    before = (conf.stat().st_ino, conf.stat().st_mtime_ns, server.pid())
    assert server.start(echo=print) == 0.0
    assert server.start(echo=print) == 0.0
    assert (conf.stat().st_ino, conf.stat().st_mtime_ns, server.pid()) == before


def test_a_server_is_found_and_adopted_without_its_pid_file(
    neo4j_conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_settings()
    server = managed_server(s.neo4j)
    pid = int(server.pid_file.read_text())
    server.pid_file.unlink()
    try:
        assert server.pid() == pid
        monkeypatch.setenv("YTGRAPH_NEO4J__BOLT_PORT", str(s.neo4j.bolt_port))
        monkeypatch.setenv("YTGRAPH_NEO4J__HTTP_PORT", str(s.neo4j.http_port))
        monkeypatch.setenv("YTGRAPH_NEO4J__HOME", s.neo4j.home)
        result = CliRunner().invoke(app, ["neo4j", "status", "--json"])
        assert result.exit_code == 0, result.output
        assert server.start(echo=print) == 0.0
        assert int(server.pid_file.read_text()) == pid  # adopted: written back
    finally:
        if not server.pid_file.exists():
            server.pid_file.write_text(f"{pid}\n")


def test_the_count_state_is_one_loads_at_a_time(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    said: list[str] = []
    with store.locked(0):
        busy = rf"another load \(pid {os.getpid()}\) holds"
        with pytest.raises(BusyError, match=busy), store.locked(0):
            pass
        t0 = time.monotonic()
        with pytest.raises(BusyError, match=r"after 0\.5s"), store.locked(0.5, echo=said.append):
            pass
        assert time.monotonic() - t0 >= 0.5
    assert len(said) == 1 and "waiting for another load" in said[0]
    with store.locked(0):  # free again once the holder lets go
        pass


def events(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 10, size=n)],
            "video_id": [f"v{i}" for i in rng.integers(0, 12, size=n)],
            "timestamp": rng.integers(0, 3 * 86400, size=n).astype("int64"),
            "event": ["watch"] * n,
            "watch_seconds": rng.integers(1, 600, size=n).astype(float),
            "rating": [np.nan] * n,
        }
    )


def test_a_load_cleans_up_after_a_killed_one(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    stray = state / "pending.0123abcd.tmp"
    stray.mkdir(parents=True)
    (stray / "events.parquet").write_bytes(b"half")
    e = events(80, 1)
    load(Dataset(e, empty_videos(), ReadReport(read=80, accepted=80)), settings, graph, state)
    assert sorted(p.name for p in state.iterdir()) == ["current", "load.lock"]


def test_a_load_or_reset_is_refused_while_another_holds_the_state(
    graph: Graph, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_settings()
    monkeypatch.setenv("YTGRAPH_NEO4J__BOLT_PORT", str(s.neo4j.bolt_port))
    monkeypatch.setenv("YTGRAPH_NEO4J__HTTP_PORT", str(s.neo4j.http_port))
    monkeypatch.setenv("YTGRAPH_NEO4J__HOME", s.neo4j.home)
    monkeypatch.setenv("YTGRAPH_NEO4J__HEAP", s.neo4j.heap)
    monkeypatch.setenv("YTGRAPH_NEO4J__PAGECACHE", s.neo4j.pagecache)
    monkeypatch.setenv("YTGRAPH_LOAD__LOCK_TIMEOUT_S", "0")
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    file = tmp_path / "events.csv"
    events(50, 2).to_csv(file, index=False)
    with StateStore(state).locked(0):
        loaded = CliRunner().invoke(app, ["-q", "load", str(file), "--state-dir", str(state)])
        wiped = CliRunner().invoke(app, ["-q", "reset", "--yes", "--state-dir", str(state)])
    for result in (loaded, wiped):
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "another load" in lines[0], result.stderr
    records, _, _ = graph.driver.execute_query("MATCH (n) RETURN count(n) AS n")
    assert records[0]["n"] == 0

"""Many ``ytgraph`` processes at once, and a load killed part-way, against a managed server of its own.

Real processes throughout: each command is ``python -m ytgraph.cli`` in a subprocess, the server is
a managed Neo4j with a fresh home (``YTGRAPH_TEST_CONC_HOME``, ports ``YTGRAPH_TEST_CONC_BOLT_PORT``
/ ``..._HTTP_PORT``), and a load is stopped with SIGKILL at named points (``tests/crashpoint.py``).
What is compared is computed independently: the graph's RELATED lists and counts and the count
state after one clean load of all events.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import pandas as pd
import pytest

from ytgraph.config import cache_dir
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.state import StateStore

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("YTGRAPH_TEST_CONC_HOME", str(cache_dir() / "home" / "conc")))
BOLT = int(os.environ.get("YTGRAPH_TEST_CONC_BOLT_PORT", "18687"))
HTTP = int(os.environ.get("YTGRAPH_TEST_CONC_HTTP_PORT", "18474"))
READERS = 8


@dataclass
class Done:
    """A finished command."""

    code: int
    out: str
    err: str


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of every command: this suite's server, and nothing of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEO4J_", "YTGRAPH_")) or k in ("YTGRAPH_CACHE", "YTGRAPH_JAVA")
    }
    env.update(
        PYTHONPATH=str(REPO),
        YTGRAPH_NEO4J__HOME=str(HOME),
        YTGRAPH_NEO4J__BOLT_PORT=str(BOLT),
        YTGRAPH_NEO4J__HTTP_PORT=str(HTTP),
        YTGRAPH_NEO4J__HEAP="512m",
        YTGRAPH_NEO4J__PAGECACHE="128m",
        YTGRAPH_PROFILE="paper",
    )
    env.update(extra)
    return env


def spawn(
    args: list[str], cwd: Path, module: str = "ytgraph.cli", **env: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=cli_env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> Done:
    out, err = proc.communicate(timeout=timeout)
    return Done(proc.returncode, out, err)


def ytgraph(*args: str, cwd: Path, **env: str) -> Done:
    return finish(spawn(list(args), cwd, **env))


def home_processes() -> dict[int, int]:
    """{pid: process group} of every live process running a Neo4j of this suite's home."""
    marks = {f"-Dbasedir={HOME}".encode(), f"--home-dir={HOME}".encode()}
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            argv = set((proc / "cmdline").read_bytes().split(b"\0"))
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if argv & marks and fields[0] != "Z":
                found[int(proc.name)] = int(fields[2])
    return found


def kill_home_processes() -> None:
    """Make sure no server of this home is left, whatever state a failed test left it in."""
    for pid in home_processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while home_processes() and time.monotonic() < deadline:
        time.sleep(0.2)


class CommandLines:
    """Every command line seen in the process list while it runs (sampled every few ms)."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    with contextlib.suppress(OSError):
                        self.seen.add((proc / "cmdline").read_bytes())
            time.sleep(0.02)

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """A fresh, stopped home for this suite's server; every process of it is gone afterwards."""
    kill_home_processes()
    shutil.rmtree(HOME, ignore_errors=True)
    yield HOME
    kill_home_processes()


def pid_file() -> Path:
    return HOME / "run" / "ytgraph-server.pid"


def readers(cwd: Path, n: int = READERS) -> list[Done]:
    """``n`` processes running ``ytgraph stats --json`` at once."""
    procs = [spawn(["stats", "--json"], cwd) for _ in range(n)]
    return [finish(p) for p in procs]


def test_commands_at_once_start_one_server_and_never_show_the_password(
    home: Path, tmp_path: Path
) -> None:
    with CommandLines() as ps:
        done = readers(tmp_path)
    for d in done:
        assert d.code == 0, d.err
        assert json.loads(d.out)["nodes"] is not None
        assert "Traceback" not in d.err
    errs = "".join(d.err for d in done)
    assert errs.count("started the managed Neo4j") == 1, errs
    assert "configuration changed" not in errs
    # The password was set without ever appearing in the process list (the sampler did see the
    # admin tool that set it, so it was looking at the right moment).
    password = (HOME / "password").read_text().strip()
    assert any(b"set-initial-password" in c for c in ps.seen)
    assert not any(password.encode() in c for c in ps.seen)
    groups = set(home_processes().values())
    assert groups == {int(pid_file().read_text())}


def test_readers_at_once_never_restart_or_rewrite(home: Path, tmp_path: Path) -> None:
    conf = HOME / "conf" / "neo4j.conf"
    before = (pid_file().read_text(), conf.stat().st_ino, conf.stat().st_mtime_ns)
    for _ in range(2):
        done = readers(tmp_path)
        errs = "".join(d.err for d in done)
        assert [d.code for d in done] == [0] * READERS, errs
        assert "configuration changed" not in errs and "started" not in errs, errs
    after = (pid_file().read_text(), conf.stat().st_ino, conf.stat().st_mtime_ns)
    assert after == before  # the same server, and its conf never rewritten
    status = ytgraph("neo4j", "status", "--json", cwd=tmp_path)
    assert status.code == 0 and json.loads(status.out)["provider"] == "managed", status.err


# -- loads ---------------------------------------------------------------------------------------
@dataclass
class World:
    """Two user-disjoint halves of one generated world, and what one clean load of both gives."""

    all: Path
    a: Path
    b: Path
    expected: tuple[str, str]


def _query(q: str) -> list[list[Any]]:
    password = (HOME / "password").read_text().strip()
    with neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{BOLT}", auth=("neo4j", password)) as d:
        records, _, _ = d.execute_query(q)
    return [r.values() for r in records]


def graph_digest() -> str:
    """A hash of what readers see: the current RELATED lists, the video counts, the users'
    WATCHED aggregates and the relationships by type (staged lists and videos left out)."""
    queries = [
        "MATCH (a:Video)-[r:RELATED]->(b:Video) WHERE r.gen = a.rgen RETURN a.video_id, "
        "b.video_id, r.rank, r.cooccurrences, round(r.score, 9) ORDER BY a.video_id, r.rank",
        "MATCH (v:Video) WHERE v.staged IS NULL RETURN v.video_id, v.sessions ORDER BY v.video_id",
        "MATCH (u:User)-[w:WATCHED]->(v:Video) RETURN u.user_id, v.video_id, w.count, "
        "w.long_watches ORDER BY u.user_id, v.video_id",
        "MATCH (a)-[r]->() WHERE type(r) <> 'RELATED' OR r.gen = a.rgen "
        "RETURN type(r) AS t, count(*) ORDER BY t",
    ]
    h = hashlib.sha256()
    for q in queries:
        h.update(json.dumps(_query(q)).encode())
    return h.hexdigest()


def leftovers() -> int:
    """RELATED edges that are not their source's current list, plus staged videos: what a load
    stopped half-way leaves, invisible to readers, until the next load cleans it up."""
    (edges,) = _query("MATCH (a:Video)-[r:RELATED]->() WHERE r.gen <> a.rgen RETURN count(r)")
    (videos,) = _query("MATCH (v:Video) WHERE v.staged IS NOT NULL RETURN count(v)")
    return int(edges[0]) + int(videos[0])


def state_digest(state: Path) -> str:
    """A hash of the count state's content (its events, c_i, c_ij and R), not of its id."""
    store = StateStore(state)
    assert not [p.name for p in state.iterdir() if p.name.startswith(("pending", "previous"))]
    s = store.read(store.current)
    assert s.covisits is not None
    events = s.events.sort_values(list(s.events.columns)).reset_index(drop=True)
    related = s.related.sort_values(["src", "rank"]).reset_index(drop=True)
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(events, index=False).to_numpy().tobytes())
    h.update(
        json.dumps(
            sorted(zip(s.covisits.videos.tolist(), s.covisits.counts.tolist(), strict=True))
        ).encode()
    )
    h.update(str(int(s.covisits.pairs.nnz)).encode() + str(int(s.covisits.pairs.sum())).encode())
    h.update(related[["src", "dst", "rank", "cooccurrences"]].to_json().encode())
    return h.hexdigest()


def load(cwd: Path, events: Path, state: Path, **env: str) -> Done:
    done = ytgraph("load", str(events), "--state-dir", str(state), cwd=cwd, **env)
    assert done.code == 0, done.err
    return done


def reset(cwd: Path, state: Path) -> None:
    done = ytgraph("reset", "--yes", "--state-dir", str(state), cwd=cwd)
    assert done.code == 0, done.err


@pytest.fixture(scope="module")
def world(home: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world")
    events, _ = generate_world(GenerateConfig(users=300, videos=300, days=7, seed=11))
    users = sorted(events["user_id"].unique())
    half = set(users[: len(users) // 2])
    paths = {}
    for name, part in (
        ("all", events),
        ("a", events[events["user_id"].isin(half)]),
        ("b", events[~events["user_id"].isin(half)]),
    ):
        paths[name] = root / f"{name}.csv"
        part.to_csv(paths[name], index=False)
    state = root / "state-all"
    reset(root, state)
    load(root, paths["all"], state)
    return World(paths["all"], paths["a"], paths["b"], (graph_digest(), state_digest(state)))


@contextlib.contextmanager
def holding_the_load_lock(state: Path) -> Iterator[None]:
    """Hold the count state's lock from this process, as a running load would."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "load.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def wait_for(text: str, files: list[Path], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(text in f.read_text() for f in files):
            return True
        time.sleep(0.1)
    return False


def test_two_loads_at_once_are_each_applied_once(world: World, tmp_path: Path) -> None:
    state = tmp_path / "state"
    reset(tmp_path, state)
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    procs = []
    with holding_the_load_lock(state):
        for part, log in zip((world.a, world.b), logs, strict=True):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "ytgraph.cli",
                        "load",
                        str(part),
                        "--state-dir",
                        str(state),
                    ],
                    cwd=tmp_path,
                    env=cli_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log.open("w"),
                )
            )
        both_waited = wait_for("waiting for another load", logs)
    codes = [p.wait(timeout=240) for p in procs]
    errs = [log.read_text() for log in logs]
    assert codes == [0, 0], errs
    assert both_waited, errs
    assert (graph_digest(), state_digest(state)) == world.expected


def stopped_at(
    point: str, events: Path, state: Path, cwd: Path, **env: str
) -> subprocess.Popen[str]:
    """A ``load`` of ``events`` that has reached ``point`` (tests/crashpoint.py) and waits there."""
    marker = cwd / f"reached-{point}"
    proc = spawn(
        [point, str(marker), "load", str(events), "--state-dir", str(state)],
        cwd,
        module="tests.crashpoint",
        **env,
    )
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), finish(proc).err
    return proc


def test_a_load_killed_at_any_point_then_rerun_equals_a_clean_load(
    world: World, tmp_path: Path
) -> None:
    """Each killed run is the rerun of the one before: it must first repair what that one left."""
    state = tmp_path / "state"
    reset(tmp_path, state)
    load(tmp_path, world.a, state)
    only_a = graph_digest()
    parts = {"YTGRAPH_LOAD__PART_SIZE": "200"}  # several parts to stage
    for point in ("write_pending", "staged", "transaction", "prune", "promote"):
        proc = stopped_at(point, world.b, state, tmp_path, **parts)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        if point == "write_pending":  # killed while writing its pending state: half a folder
            assert list(state.glob("pending.*.tmp"))
        elif point in ("staged", "transaction"):  # lists staged, none switched to
            assert graph_digest() == only_a and leftovers() > 0
        elif point == "prune":  # switched: readers see the load; the old edges are still there
            assert graph_digest() == world.expected[0] and leftovers() > 0
        else:  # killed after the commit, before the count state caught up
            assert graph_digest() == world.expected[0] and (state / "pending").is_dir()
    done = load(tmp_path, world.b, state)
    assert re.search(r"(?m)^0 new events", done.out)  # the last killed run had committed them
    assert (graph_digest(), state_digest(state)) == world.expected
    assert leftovers() == 0


def test_a_server_killed_inside_a_load_then_rerun_equals_a_clean_load(
    world: World, tmp_path: Path
) -> None:
    """kill -9 of the Neo4j JVM while a load's transaction is open: nothing of it commits, and
    the rerun (which starts the server again and lets it recover) finishes the load."""
    state = tmp_path / "state"
    reset(tmp_path, state)
    load(tmp_path, world.a, state)
    only_a = graph_digest()
    proc = stopped_at("transaction", world.b, state, tmp_path)
    kill_home_processes()  # the server dies with the transaction open
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    started = ytgraph("neo4j", "start", cwd=tmp_path)  # it recovers its store
    assert started.code == 0, started.err
    assert graph_digest() == only_a  # nothing of the open transaction survived
    done = load(tmp_path, world.b, state)
    assert re.search(r"(?m)^[1-9][\d,]* new events", done.out)  # the killed one committed none
    assert (graph_digest(), state_digest(state)) == world.expected
    assert leftovers() == 0


def test_a_bulk_first_load_killed_then_rerun_equals_a_clean_load(
    world: World, tmp_path: Path
) -> None:
    """A first load through neo4j-admin import, killed with the server stopped before the import,
    then (the rerun) after the import but before the meta node records it: the next run imports
    again and the graph and count state equal those of one clean driver load."""
    state = tmp_path / "state"
    reset(tmp_path, state)
    bulk = {"YTGRAPH_LOAD__BULK_IMPORT_MIN_EVENTS": "0"}
    for point in ("bulk_import", "bulk_meta"):
        proc = stopped_at(point, world.all, state, tmp_path, **bulk)
        if point == "bulk_import":
            assert not home_processes()  # stopped for the import
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert (state / "bulk-import.json").exists()
    done = load(tmp_path, world.all, state, **bulk)
    assert "neo4j-admin database import" in done.err
    assert not (state / "bulk-import.json").exists()
    assert (graph_digest(), state_digest(state)) == world.expected


def test_stop_and_status_find_a_server_whose_pid_file_is_gone(home: Path, tmp_path: Path) -> None:
    started = ytgraph("neo4j", "start", cwd=tmp_path)  # running already, unless run alone
    assert started.code == 0 and home_processes(), started.err
    pid_file().unlink()
    status = ytgraph("neo4j", "status", cwd=tmp_path)
    assert status.code == 0, status.err
    stop = ytgraph("neo4j", "stop", cwd=tmp_path)
    assert stop.code == 0 and "Neo4j stopped" in stop.out, stop.out + stop.err
    assert not home_processes()

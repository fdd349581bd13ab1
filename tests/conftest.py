"""Shared fixtures: one real Neo4j for the whole run, an empty database for every test.

The server comes from the same resolver the CLI uses. Without NEO4J_URI it is a managed server with a
home and ports of its own (so a test run never touches the demo's graph). When no server can be had
the graph tests fail, they do not skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ytgraph.config import Settings, cache_dir, load_settings
from ytgraph.db.connect import Connection, resolve
from ytgraph.db.graph import Graph

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The public data sets, read in place (``YTGRAPH_DATA``, default ../shared/data)."""
    return Path(os.environ.get("YTGRAPH_DATA", REPO.parent / "shared" / "data"))


def make_settings(tmp: Path | None = None) -> Settings:
    """The paper profile: the hand-worked worlds of the graph tests were computed with the paper's
    settings (two hops, 10 edges per hop, a 30-day decay, ...). Tests of the defaults say so."""
    s = load_settings(
        env={k: v for k, v in os.environ.items() if k.startswith("NEO4J_")}, profile="paper"
    )
    if not s.neo4j.uri:
        s.neo4j.bolt_port = int(os.environ.get("YTGRAPH_TEST_BOLT_PORT", "17687"))
        s.neo4j.http_port = int(os.environ.get("YTGRAPH_TEST_HTTP_PORT", "17474"))
        s.neo4j.heap, s.neo4j.pagecache = "1g", "512m"
        s.neo4j.home = os.environ.get("YTGRAPH_TEST_HOME", str(cache_dir() / "home" / "test"))
    if tmp is not None:
        s.load.state_dir = str(tmp / "state")
    return s


@pytest.fixture(scope="session")
def neo4j_conn() -> Iterator[Connection]:
    s = make_settings()
    conn = resolve(s.neo4j, containers=True)
    yield conn
    conn.close()
    if conn.started and conn.server is not None and not os.environ.get("YTGRAPH_TEST_KEEP_SERVER"):
        conn.server.stop()


def wipe(graph: Graph) -> None:
    """Delete every node and relationship (Community has one user database: we empty it)."""
    graph.run_autocommit("wipe")


@pytest.fixture
def graph(neo4j_conn: Connection) -> Graph:
    g = Graph(neo4j_conn.driver, neo4j_conn.database)
    wipe(g)
    g.run_script("schema")
    return g


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def point_at_test_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI's server is the test server, its state folder and working folder this test's own."""
    s = make_settings()
    if not s.neo4j.uri:
        monkeypatch.setenv("YTGRAPH_NEO4J__BOLT_PORT", str(s.neo4j.bolt_port))
        monkeypatch.setenv("YTGRAPH_NEO4J__HTTP_PORT", str(s.neo4j.http_port))
        monkeypatch.setenv("YTGRAPH_NEO4J__HOME", s.neo4j.home)
        monkeypatch.setenv("YTGRAPH_NEO4J__HEAP", s.neo4j.heap)
        monkeypatch.setenv("YTGRAPH_NEO4J__PAGECACHE", s.neo4j.pagecache)
    monkeypatch.setenv("YTGRAPH_LOAD__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli_env(
    neo4j_conn: Connection, graph: Graph, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Graph:
    """Point the CLI at the test server with a state folder of this test's own."""
    point_at_test_server(monkeypatch, tmp_path)
    # The CLI tests' hand-worked expectations use the paper's settings, as make_settings does.
    monkeypatch.setenv("YTGRAPH_PROFILE", "paper")
    return graph


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """For mistakes that must fail before any server is needed (should one get through, it meets
    the test server, never the default one). Returns the working folder."""
    point_at_test_server(monkeypatch, tmp_path)
    return tmp_path

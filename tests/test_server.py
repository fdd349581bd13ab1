"""The foundation: a real Neo4j 5.x with auth on, found by the one resolver, Browser served."""

from __future__ import annotations

import json
import os
import socket
import stat
import urllib.request
from pathlib import Path

import neo4j
import pytest
from neo4j.exceptions import AuthError
from typer.testing import CliRunner

from tests.conftest import make_settings
from ytgraph.cli import app
from ytgraph.config import Neo4jSettings
from ytgraph.db.connect import Connection, resolve
from ytgraph.db.graph import Graph
from ytgraph.db.server import ManagedServer, find_java
from ytgraph.errors import ServerError


def test_connects_and_is_neo4j_5(neo4j_conn: Connection) -> None:
    records, _, _ = neo4j_conn.driver.execute_query("RETURN 40 + 2 AS answer")
    assert records[0]["answer"] == 42
    version = neo4j_conn.version()
    assert version.split(".")[0] == "5", version


def test_wrong_password_is_rejected(neo4j_conn: Connection) -> None:
    driver = neo4j.GraphDatabase.driver(neo4j_conn.uri, auth=(neo4j_conn.user, "not-the-password"))
    with pytest.raises(AuthError):
        driver.verify_connectivity()
    driver.close()
    bad = Neo4jSettings(uri=neo4j_conn.uri, user=neo4j_conn.user, password="not-the-password")
    with pytest.raises(ServerError, match="refused the credentials"):
        resolve(bad, echo=None)


def test_schema_applies_twice(graph: Graph) -> None:
    graph.run_script("schema")
    graph.run_script("schema")
    records, _, _ = graph.driver.execute_query(
        "SHOW CONSTRAINTS YIELD name RETURN collect(name) AS n"
    )
    assert {"video_id", "user_id", "channel_id", "meta_key"} <= set(records[0]["n"])


def test_browser_page_answers_200(neo4j_conn: Connection) -> None:
    assert neo4j_conn.browser_url
    with urllib.request.urlopen(neo4j_conn.browser_url, timeout=10) as response:
        assert response.status == 200
        assert b"Neo4j Browser" in response.read()


def test_managed_password_file_is_private(neo4j_conn: Connection) -> None:
    if neo4j_conn.provider != "managed":
        pytest.fail("this run is meant to use the managed server (NEO4J_URI is set)")
    assert neo4j_conn.password_file is not None
    mode = stat.S_IMODE(Path(neo4j_conn.password_file).stat().st_mode)
    assert mode == 0o600
    assert len(Path(neo4j_conn.password_file).read_text().strip()) >= 16


def test_status_json_for_scripts(neo4j_conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_settings()
    monkeypatch.setenv("YTGRAPH_NEO4J__BOLT_PORT", str(s.neo4j.bolt_port))
    monkeypatch.setenv("YTGRAPH_NEO4J__HTTP_PORT", str(s.neo4j.http_port))
    monkeypatch.setenv("YTGRAPH_NEO4J__HOME", s.neo4j.home)
    result = CliRunner().invoke(app, ["neo4j", "status", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert set(info) == {"provider", "uri", "browser_url", "version", "user", "password_file"}
    assert info["provider"] == "managed"
    assert info["uri"] == f"bolt://127.0.0.1:{s.neo4j.bolt_port}"
    assert info["browser_url"] == f"http://127.0.0.1:{s.neo4j.http_port}/browser/"
    assert info["version"].startswith("5.26")


def test_start_on_a_taken_port_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        monkeypatch.setenv("YTGRAPH_NEO4J__BOLT_PORT", str(taken))
        monkeypatch.setenv("YTGRAPH_NEO4J__HTTP_PORT", str(taken + 1 if taken < 65000 else 1025))
        monkeypatch.setenv("YTGRAPH_NEO4J__HOME", str(tmp_path / "home"))
        result = CliRunner().invoke(app, ["neo4j", "start"])
    assert result.exit_code == 1
    assert f"Bolt port {taken} is taken" in result.stderr
    assert "Traceback" not in result.output


def test_no_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("YTGRAPH_JAVA", raising=False)
    with pytest.raises(ServerError, match="no Java found"):
        find_java()


def test_status_when_stopped_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTGRAPH_NEO4J__HOME", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("NEO4J_URI", raising=False)
    result = CliRunner().invoke(app, ["neo4j", "status"])
    assert result.exit_code == 1
    assert "not running" in result.stderr


def test_server_conf_is_loopback_with_auth(neo4j_conn: Connection) -> None:
    if neo4j_conn.server is None:
        pytest.fail("this run is meant to use the managed server (NEO4J_URI is set)")
    conf = (neo4j_conn.server.home / "conf" / "neo4j.conf").read_text()
    assert "dbms.security.auth_enabled=true" in conf
    assert "server.default_listen_address=127.0.0.1" in conf
    assert os.path.islink(neo4j_conn.server.home / "lib")
    assert isinstance(ManagedServer(Neo4jSettings()).home, Path)

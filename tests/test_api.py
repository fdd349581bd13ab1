"""The HTTP API over a real socket: uvicorn in a thread (or ``ytgraph api`` in a subprocess), the
hand-built world of ``tests/worlds.py`` in the test Neo4j, and plain HTTP clients.

Expected values are the hand-worked ones in ``tests/worlds.py`` (u1's list with n = 4 is c, g, h,
f; the RELATED lists; the explain verdicts); the API's JSON is also held equal to the library's.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import neo4j
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import REPO, make_settings
from tests.worlds import ODD, RELATED, build_world, graph_dump, title, world_settings
from ytgraph.api import create_app, listen
from ytgraph.config import Settings
from ytgraph.db.connect import Connection
from ytgraph.db.graph import Graph
from ytgraph.db.inspect import related_videos
from ytgraph.recommendation.explain import explain
from ytgraph.recommendation.serve import precompute
from ytgraph.recommendation.service import recommend

U1 = ["c", "g", "h", "f"]  # u1's list with n = 4, worked by hand in tests/worlds.py


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def get(url: str) -> Reply:
    """One GET over a fresh connection; an error status is a reply like any other."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return Reply(r.status, r.read().decode(), dict(r.headers))
    except urllib.error.HTTPError as e:
        with closing(e):
            return Reply(e.code, e.read().decode(), dict(e.headers))


def plain(data: Any) -> Any:
    """The library's JSON as a client reads it (tuples become lists)."""
    return json.loads(json.dumps(data, default=str))


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn in a thread, on a port of its own; yields the base URL."""
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@dataclass
class Api:
    url: str
    graph: Graph  # the Graph the server holds
    settings: Settings


@pytest.fixture(scope="module")
def served(neo4j_conn: Connection) -> Iterator[Api]:
    """One server for the module, over a Graph of its own on the test server's driver."""
    settings = world_settings(make_settings())
    graph = Graph(neo4j_conn.driver, neo4j_conn.database)
    # Not recording: the world is rebuilt for every test, and a late flush of one test's
    # impressions would rotate the next test's lists (recording has a test of its own).
    with serving(create_app(settings, graph, record=False)) as url:
        yield Api(url, graph, settings)


@pytest.fixture
def api(served: Api, graph: Graph) -> Api:
    """The served API over the hand-built world (the ``graph`` fixture emptied the database)."""
    build_world(graph)
    served.graph.cache.clear()  # what a load does; the world is rebuilt for every test
    return served


# ------------------------------------------------------------------------------ recommend


def test_recommend_gives_the_hand_worked_list(api: Api) -> None:
    reply = get(f"{api.url}/recommend/u1?n=4")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    body = reply.json
    assert body["user_id"] == "u1"
    assert [r["video_id"] for r in body["recommendations"]] == U1
    assert body["recommendations"][0]["because"]["seed_video_id"] == "a"  # a 2.5 beats b 1.5
    assert reply.headers["x-recommendations-source"] == "online"
    assert body == plain(recommend(api.graph, "u1", api.settings, n=4).to_json())


def test_recommend_serves_the_stored_list(api: Api) -> None:
    precompute(api.graph, api.settings, ["u1"])
    # Change what an online computation would give, behind the store's back (no new generation).
    api.graph.driver.execute_query(
        "MATCH (:Video {video_id: 'a'})-[r:RELATED]->(:Video {video_id: 'c'}) DELETE r"
    )
    assert [r.video_id for r in recommend(api.graph, "u1", api.settings, n=4).recommendations] != U1
    reply = get(f"{api.url}/recommend/u1?n=4")
    assert reply.headers["x-recommendations-source"] == "precomputed"
    assert [r["video_id"] for r in reply.json["recommendations"]] == U1


def test_recommend_depth_three_reaches_j(api: Api) -> None:
    # tests/test_explain.py works it by hand: at depth 3, j (a-c-g-j, b-c-g-j) is third.
    body = get(f"{api.url}/recommend/u1?n=4&depth=3").json
    assert [r["video_id"] for r in body["recommendations"]] == ["c", "g", "j", "f"]


def test_unknown_user_is_404_unless_allowed(api: Api) -> None:
    reply = get(f"{api.url}/recommend/nobody")
    assert (reply.status, reply.json) == (404, {"error": "unknown user 'nobody'"})
    allowed = get(f"{api.url}/recommend/nobody?n=4&allow_unknown=true")
    assert allowed.status == 200
    first = allowed.json["recommendations"][0]
    assert first["video_id"] == "k" and first["because"]["kind"] == "popular"  # the most viewed


# ------------------------------------------------------------------------------ related


def test_related_gives_the_stored_list(api: Api) -> None:
    reply = get(f"{api.url}/related/a?n=2")
    assert reply.status == 200
    body = reply.json
    assert body["video_id"] == "a"
    assert [(r["video_id"], r["score"]) for r in body["related"]] == RELATED["a"][:2]
    assert [(r["rank"], r["title"], r["cooccurrences"]) for r in body["related"]] == [
        (1, title("c"), 100),
        (2, title("d"), 80),
    ]
    assert body["related"] == plain(related_videos(api.graph, "a", 2))  # as `related --json`


def test_related_of_odd_ids_and_empty_lists(api: Api) -> None:
    body = get(f"{api.url}/related/b").json
    assert [(r["video_id"], r["score"]) for r in body["related"]] == RELATED["b"]  # ends in ODD
    assert get(f"{api.url}/related/{quote(ODD, safe='')}").json == {"video_id": ODD, "related": []}
    reply = get(f"{api.url}/related/nope")
    assert (reply.status, reply.json) == (404, {"error": "unknown video 'nope'"})


# ------------------------------------------------------------------------------ explain


@pytest.mark.parametrize(
    ("video", "verdict", "outcome"),
    [
        ("c", "recommended (rank 1)", "recommended"),
        ("d", "cut by the per-channel cap (channel X already has 2)", "cut_channel"),
        (ODD, "below the cut-off (ranked 8 of the pool, the list shows 4)", "below_cutoff"),
        ("j", "not reachable within depth 2 from your seeds", "unreachable"),
        ("nope", "unknown video", "unknown_video"),
    ],
)
def test_explain_gives_the_verdicts(api: Api, video: str, verdict: str, outcome: str) -> None:
    reply = get(f"{api.url}/explain/u1/{quote(video, safe='')}?n=4")
    assert reply.status == 200
    body = reply.json
    assert (body["user_id"], body["video_id"]) == ("u1", video)
    assert (body["verdict"], body["outcome"]) == (verdict, outcome)
    assert body == plain(explain(api.graph, "u1", video, api.settings, n=4).to_json())


def test_explain_paths_and_unknown_user(api: Api) -> None:
    body = get(f"{api.url}/explain/u1/c?n=4").json
    assert [(p["path"], p["scores"]) for p in body["paths"]] == [
        (["a", "c"], [10.0]),
        (["b", "c"], [4.0]),
    ]
    reply = get(f"{api.url}/explain/nobody/c")
    assert (reply.status, reply.json) == (404, {"error": "unknown user 'nobody'"})


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/recommend/u1?n=0", 400, "n must be a whole number from 4 to 60, got 0"),
        ("/recommend/u1?n=61", 400, "n must be a whole number from 4 to 60, got 61"),
        ("/recommend/u1?depth=9", 400, "depth must be a whole number from 1 to 4, got 9"),
        ("/recommend/u1?depth=0", 400, "depth must be a whole number from 1 to 4, got 0"),
        ("/explain/u1/c?n=3", 400, "n must be a whole number from 4 to 60, got 3"),
        ("/recommend/u1?n=abc", 422, "n: Input should be a valid integer"),
        ("/recommend/u1?depth=1.5", 422, "depth: Input should be a valid integer"),
        ("/recommend/u1?allow_unknown=perhaps", 422, "allow_unknown: Input should be a valid"),
        ("/related/a?n=0", 422, "n: Input should be greater than or equal to 1"),
        ("/related/a?n=1001", 422, "n: Input should be less than or equal to 1000"),
        ("/recommend/%20", 400, "a user id must be a non-empty string"),
        ("/nothing/here", 404, "Not Found"),
    ],
)
def test_bad_input_is_one_line_of_json(api: Api, path: str, status: int, says: str) -> None:
    reply = get(api.url + path)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert list(reply.json) == ["error"] and reply.json["error"].startswith(says)
    assert "\n" not in reply.json["error"]
    assert "Traceback" not in reply.text and 'File "' not in reply.text


def test_a_server_failure_is_503_json(api: Api) -> None:
    """A driver whose server is gone (a bound port nobody listens on): 503, never a trace."""
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))  # bound, not listening: every connection is refused
        uri = f"bolt://127.0.0.1:{dead.getsockname()[1]}"
        driver = neo4j.GraphDatabase.driver(uri, auth=("neo4j", "x"), connection_timeout=2)
        try:
            with serving(create_app(api.settings, Graph(driver))) as url:
                health = get(f"{url}/healthz")
                recs = get(f"{url}/recommend/u1")
        finally:
            driver.close()
    assert health.status == 503 and health.json["status"] == "unavailable"
    assert health.json["error"].startswith("query server_version failed")
    assert recs.status == 503 and list(recs.json) == ["error"]
    assert "Traceback" not in health.text + recs.text


# ------------------------------------------------------------------------------ health, docs


def test_healthz_names_the_server_and_the_generation(api: Api, neo4j_conn: Connection) -> None:
    reply = get(f"{api.url}/healthz")
    assert reply.status == 200
    assert reply.json == {"status": "ok", "neo4j": neo4j_conn.version(), "generation": None}
    assert reply.json["neo4j"].split()[1] in {"community", "enterprise"}
    api.graph.run("meta_set", write=True, state_id="g-after-a-load")  # what a load records
    assert get(f"{api.url}/healthz").json["generation"] == "g-after-a-load"


def test_openapi_lists_the_endpoints(api: Api) -> None:
    spec = get(f"{api.url}/openapi.json").json
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert spec["info"]["title"] == "ytgraph"
    assert spec["info"]["version"] == pyproject["project"]["version"]
    assert set(spec["paths"]) == {
        "/recommend/{user_id}",
        "/related/{video_id}",
        "/explain/{user_id}/{video_id}",
        "/healthz",
    }
    for path, ops in spec["paths"].items():
        assert ops["get"]["summary"] and ops["get"]["description"], path
        assert "ErrorBody" in json.dumps(ops["get"]["responses"]), path
    docs = get(f"{api.url}/docs")
    assert docs.status == 200 and "swagger" in docs.text.lower()


# ------------------------------------------------------------------------------ load, writes


def test_concurrent_clients_get_the_same_lists(api: Api) -> None:
    """8 clients, each 50 requests over one keep-alive connection, users in turn."""
    users = ["u1", "u2", "u3"]
    port = int(api.url.rsplit(":", 1)[1])

    def client(k: int) -> list[tuple[str, int, bytes]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        out = []
        try:
            for i in range(50):
                user = users[(k + i) % len(users)]
                conn.request("GET", f"/recommend/{user}?n=4")
                r = conn.getresponse()
                out.append((user, r.status, r.read()))
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(8) as pool:
        replies = [x for chunk in pool.map(client, range(8)) for x in chunk]
    assert len(replies) == 400 and {status for _, status, _ in replies} == {200}
    bodies: dict[str, set[bytes]] = {u: set() for u in users}
    for user, _, body in replies:
        bodies[user].add(body)
    assert all(len(b) == 1 for b in bodies.values()), {u: len(b) for u, b in bodies.items()}
    (u1,) = bodies["u1"]
    assert [r["video_id"] for r in json.loads(u1)["recommendations"]] == U1


def test_no_endpoint_writes_to_the_graph_unless_recording(api: Api) -> None:
    precompute(api.graph, api.settings)  # so the stored path is read too
    before = graph_dump(api.graph, meta=True)
    assert len(before[0]) == 19 and len(before[1]) > 10  # 14 videos, 3 users, 2 channels
    paths = [
        "/recommend/u1?n=4",  # stored
        "/recommend/u1",  # another n: the same pool
        "/recommend/u2?depth=1",
        "/recommend/nobody?allow_unknown=true",
        "/recommend/nobody",
        "/related/a",
        "/related/nope",
        "/explain/u1/c",
        "/explain/u3/h?n=4",
        "/healthz",
        "/recommend/u1?n=0",
    ]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda p: get(api.url + p).status, paths * 5))
    assert set(statuses) == {200, 400, 404}
    assert graph_dump(api.graph, meta=True) == before


def test_visits_rotate_and_are_recorded(
    graph: Graph, neo4j_conn: Connection, tmp_path: Path
) -> None:
    """A recording app: the second visit shows the next items of the pool, the rows land in the
    impressions log and User.shown, and nothing else in the graph changes."""
    settings = world_settings(make_settings())
    build_world(graph)
    precompute(graph, settings)
    pool = [r.video_id for r in recommend(graph, "u1", settings, n=60).recommendations]
    before = graph_dump(graph, meta=True)
    log_file = tmp_path / "impressions.csv"
    app = create_app(settings, Graph(neo4j_conn.driver, neo4j_conn.database), impressions=log_file)
    with serving(app) as url:
        first = [r["video_id"] for r in get(f"{url}/recommend/u1?n=4").json["recommendations"]]
        deadline = time.monotonic() + 30
        while not log_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the background flush
        second = [r["video_id"] for r in get(f"{url}/recommend/u1?n=4").json["recommendations"]]
        stable = get(f"{url}/recommend/u1?n=4&rotate=false").json["recommendations"]
    assert first == U1 == pool[:4] and second == pool[4:8]
    assert [r["video_id"] for r in stable] == U1
    with log_file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["video_id"] for r in rows] == first + second + U1  # the shutdown flushed the rest
    nodes, rels = graph_dump(graph, meta=True)
    assert rels == before[1]
    (changed,) = set(nodes) - set(before[0])  # u1's node, and of it only User.shown
    (was,) = [dict(n[1]) for n in before[0] if dict(n[1]).get("user_id") == "u1"]
    now = dict(changed[1])
    assert "shown" in now and {k: v for k, v in now.items() if k != "shown"} == was


def test_visits_come_from_the_process_cache(
    graph: Graph, neo4j_conn: Connection, tmp_path: Path
) -> None:
    """At a generation (what a load records) the app reads u1's pool once for all its visits,
    and the second visit rotates before the recorder's flush has written the first."""
    settings = world_settings(make_settings())
    build_world(graph)
    graph.run("meta_set", write=True, state_id="g1")
    precompute(graph, settings)
    pool = [r.video_id for r in recommend(graph, "u1", settings, n=60).recommendations]
    ran: Counter[str] = Counter()
    own = Graph(neo4j_conn.driver, neo4j_conn.database)
    own.tracer = lambda name, _rows, _s: ran.update([name])
    with serving(create_app(settings, own, impressions=tmp_path / "impressions.csv")) as url:
        lists = [
            [r["video_id"] for r in get(f"{url}/recommend/u1?n=4").json["recommendations"]]
            for _ in range(2)
        ]
    assert lists == [pool[:4], pool[4:8]]
    assert ran["stored_recommendations"] == 1 and ran["serve_pool"] == 0


# ------------------------------------------------------------------------------ the command


def cli_env(conn: Connection) -> dict[str, str]:
    """The environment of a ``ytgraph`` subprocess pointed at the test server, paper profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YTGRAPH_", "NEO4J_"))}
    env.update(
        PYTHONPATH=str(REPO),
        NEO4J_URI=conn.uri,
        NEO4J_USER=conn.user,
        NEO4J_PASSWORD=conn.password,
        YTGRAPH_PROFILE="paper",
    )
    return env


def test_the_command_serves_until_ctrl_c(
    graph: Graph, neo4j_conn: Connection, tmp_path: Path
) -> None:
    build_world(graph)
    with socket.socket() as probe:  # a free port (the command binds it itself)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ytgraph.cli", "api", "--port", str(port)],
        env=cli_env(neo4j_conn),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(2)]  # the server it uses, then the URL
        url = f"http://127.0.0.1:{port}"
        assert f"serving {url} (docs {url}/docs)" in lines[1], lines
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = get(f"{url}/recommend/u1?n=4")
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, lines
                time.sleep(0.1)
        assert [r["video_id"] for r in reply.json["recommendations"]] == U1
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_a_port_in_use_is_one_line_and_exit_1(neo4j_conn: Connection, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "ytgraph.cli", "api", "--port", str(port)],
            env=cli_env(neo4j_conn),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"ytgraph: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_without_a_graph_the_app_opens_its_own_pool(neo4j_conn: Connection, graph: Graph) -> None:
    """create_app(settings) resolves its connection at start-up (here: the explicit URI)."""
    build_world(graph)
    settings = world_settings(make_settings())
    settings.neo4j.uri = neo4j_conn.uri
    settings.neo4j.user, settings.neo4j.password = neo4j_conn.user, neo4j_conn.password
    with serving(create_app(settings)) as url:
        assert get(f"{url}/healthz").json["status"] == "ok"
        assert [r["video_id"] for r in get(f"{url}/recommend/u1?n=4").json["recommendations"]] == U1

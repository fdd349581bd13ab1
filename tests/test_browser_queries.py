"""The analysts' Browser queries, guide and style, against a small world loaded by hand.

The world goes in through the project's own write queries (the loader's row shapes); every expected
result is computed here in plain Python from the same world, never read back from Neo4j.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import urllib.request
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import neo4j
import pytest

from tests.browser_world import (
    ACTION_TYPES,
    EDGES,
    TABLE_EXPECTATIONS,
    browser_params,
    expect_video_related,
    expected_seeds,
    load_world,
    paths_from,
    seed_videos,
    why_expected,
    why_paths,
    why_table,
)
from ytgraph.config import CandidateSettings, SeedSettings, Settings
from ytgraph.db import browser, connect
from ytgraph.db.connect import Connection
from ytgraph.db.graph import Graph, parameters, query
from ytgraph.db.server import ManagedServer
from ytgraph.recommendation.reads import user_actions as graph_user_actions
from ytgraph.recommendation.seeds import seed_set

GRAPH_QUERIES = ("video_neighbourhood", "why_recommended")
SPECIAL = ("user_seeds",)
QUERIES = {q.name: q for q in browser.guide_queries()}


# --- helpers over Neo4j results ------------------------------------------------------------
def _key(entity: neo4j.graph.Node | neo4j.graph.Relationship) -> str:
    props = dict(entity)
    for name in ("video_id", "user_id", "channel_id", "name"):
        if name in props:
            return str(props[name])
    raise AssertionError(f"no id on {entity!r}")


def graph_of(records: list[neo4j.Record]) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Nodes (by id) and relationships (type, start id, end id) found anywhere in the records."""
    nodes: set[str] = set()
    rels: set[tuple[str, str, str]] = set()

    def visit(value: Any) -> None:
        if isinstance(value, neo4j.graph.Path):
            for n in value.nodes:
                visit(n)
            for r in value.relationships:
                visit(r)
        elif isinstance(value, neo4j.graph.Node):
            nodes.add(_key(value))
        elif isinstance(value, neo4j.graph.Relationship):
            assert value.start_node is not None and value.end_node is not None
            rels.add((value.type, _key(value.start_node), _key(value.end_node)))
            nodes.update((_key(value.start_node), _key(value.end_node)))
        elif isinstance(value, list):
            for v in value:
                visit(v)

    for record in records:
        for value in record.values():
            visit(value)
    return nodes, rels


def run(graph: Graph, q: browser.BrowserQuery, params: dict[str, Any]) -> list[neo4j.Record]:
    records, summary, _ = graph.driver.execute_query(
        q.cypher, params, database_=graph.database, routing_=neo4j.RoutingControl.READ
    )
    assert summary.query_type == "r", f"{q.name} is not read-only"
    return list(records)


def assert_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [list(r) for r in got[:1]] == [list(r) for r in want[:1]], "columns differ"
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        for k, wv in w.items():
            if isinstance(wv, float):
                assert g[k] == pytest.approx(wv, rel=1e-12), (k, g, w)
            else:
                assert g[k] == wv, (k, g, w)


@pytest.fixture
def world(graph: Graph) -> Graph:
    load_world(graph)
    return graph


# --- the queries ---------------------------------------------------------------------------
def test_world_is_what_the_queries_need() -> None:
    """The fixture exercises every branch: one-way edges, a disliked seed, 2-hop provenance."""
    assert any((b, a) not in EDGES for a, b in EDGES)
    assert "v_owl" not in seed_videos("u_ann", 3.5)
    nodes, rels = why_expected("u_ann", "v_fox", 10, 3.5)
    assert {
        len(p) for s in seed_videos("u_ann", 3.5) for p in paths_from(s, 10) if p[-1] == "v_fox"
    } == {2, 3}
    assert "u_ann" in nodes and any(r[0] == "LIKED" for r in rels)


def test_every_query_file_has_an_expectation() -> None:
    assert len(QUERIES) >= 10
    assert set(QUERIES) == set(TABLE_EXPECTATIONS) | set(GRAPH_QUERIES) | set(SPECIAL)
    for name in GRAPH_QUERIES:
        assert QUERIES[name].view == "graph"


@pytest.mark.parametrize("name", sorted(TABLE_EXPECTATIONS))
def test_table_query(world: Graph, name: str) -> None:
    q = QUERIES[name]
    want = TABLE_EXPECTATIONS[name](q.params)
    assert want, f"the example parameters of {name} find nothing in the world"
    for params in (q.params, browser_params(q.params)):
        assert_rows([r.data() for r in run(world, q, params)], want)


def test_video_related_limit(world: Graph) -> None:
    q = QUERIES["video_related"]
    params = {**q.params, "n": 2.0}
    assert_rows([r.data() for r in run(world, q, params)], expect_video_related(params))


def test_user_seeds(world: Graph) -> None:
    q = QUERIES["user_seeds"]
    s = SeedSettings()
    assert {k: v for k, v in q.params.items() if k != "user_id"} == dataclasses.asdict(s)
    for user in ("u_ann", "u_bob"):
        want = expected_seeds(user, s)
        mine_params = {**q.params, "user_id": user}
        for params in (mine_params, browser_params(mine_params)):
            assert_rows([r.data() for r in run(world, q, params)], want)
        # ... and the recommender's own seed code agrees, from the graph's user_actions rows.
        mine = seed_set(graph_user_actions(world, user), s)
        assert [(x.video_id, x.reasons) for x in mine] == [
            (w["video_id"], tuple(w["reasons"])) for w in want
        ]
        assert [x.weight for x in mine] == pytest.approx([w["weight"] for w in want])


def test_user_seeds_cap_and_no_decay(world: Graph) -> None:
    q = QUERIES["user_seeds"]
    s = dataclasses.replace(SeedSettings(), max_seeds=2, half_life_days=0.0)
    got = [r.data() for r in run(world, q, {**dataclasses.asdict(s), "user_id": "u_ann"})]
    undecayed = dataclasses.replace(SeedSettings(), max_seeds=2, half_life_days=1e30)
    assert_rows(got, expected_seeds("u_ann", undecayed))


def test_video_neighbourhood(world: Graph) -> None:
    q = QUERIES["video_neighbourhood"]
    for k in (10, 1):
        params = browser_params({**q.params, "k": k})
        records = run(world, q, params)
        got = sorted(tuple(_key(n) for n in r["p"].nodes) for r in records)
        assert got == sorted(paths_from(q.params["video_id"], k))
    assert len(paths_from(q.params["video_id"], 1)) < len(paths_from(q.params["video_id"], 10))


@pytest.mark.parametrize(
    ("user", "video"),
    [
        ("u_ann", "v_fox"),
        ("u_bob", "v_elk"),
        ("u_ann", "v_cat"),
        ("u_bob", "v_fox"),
        ("u_ann", "v_gnu"),
    ],
)
def test_why_recommended(world: Graph, user: str, video: str) -> None:
    q = QUERIES["why_recommended"]
    params = browser_params({**q.params, "user_id": user, "video_id": video})
    records = run(world, q, params)
    args = (user, video, params["k"], params["rating_threshold"])
    assert graph_of(records) == why_expected(*args)
    if why_paths(*args):  # one row: every element once, so the Browser counts them right
        assert len(records) == 1
        row = records[0]
        assert len(row["actions"]) + len(row["related"]) == len(why_expected(*args)[1])
        assert len(row["videos"]) + 1 == len(why_expected(*args)[0])
        assert_rows(row["paths"], why_table(*args))
    else:
        assert records == []


def test_why_recommended_example_has_paths_of_both_depths(world: Graph) -> None:
    q = QUERIES["why_recommended"]
    nodes, rels = graph_of(run(world, q, q.params))
    assert (nodes, rels) == why_expected(
        "u_ann", "v_fox", q.params["k"], q.params["rating_threshold"]
    )
    assert ("RELATED", "v_dog", "v_fox") in rels  # one hop
    assert ("RELATED", "v_cat", "v_owl") in rels and ("RELATED", "v_owl", "v_fox") in rels
    # With the paper's threshold (3.5) u_ann's low rating of v_owl is a dislike: v_owl may lie on
    # a path, just not start one.
    strict = {**q.params, "rating_threshold": 3.5}
    nodes, rels = graph_of(run(world, q, strict))
    assert (nodes, rels) == why_expected("u_ann", "v_fox", q.params["k"], 3.5)
    assert "v_owl" in nodes
    assert not any(r[0] in ACTION_TYPES and r[2] == "v_owl" for r in rels)


def test_example_params_follow_the_settings() -> None:
    cand, seeds = CandidateSettings(), SeedSettings()
    for name in ("why_recommended", "example_ids"):
        assert QUERIES[name].params["k"] == cand.per_hop
        assert QUERIES[name].params["rating_threshold"] == seeds.rating_threshold
    assert QUERIES["why_recommended"].inputs == {
        "video_id": "recommended_video_id",
        "user_id": "user_id",
    }


def test_query_files_are_the_named_queries() -> None:
    """The guide runs exactly the statement of cypher/browser/<name>.cypher."""
    for name, q in QUERIES.items():
        assert query(f"browser/{name}").endswith(q.cypher)
        assert parameters(q.cypher) == set(q.params), name


# --- the guide -----------------------------------------------------------------------------
def runnable_blocks(page: str) -> list[str]:
    blocks = re.findall(r'<pre class="code runnable">(.*?)</pre>', page, re.DOTALL)
    return [html.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks]


def test_guide_places_every_query_once_with_its_param_line() -> None:
    template = browser.guide_template()
    placed = re.findall(r"<!--\s*query:\s*([a-z0-9_]+)\s*-->", template)
    assert Counter(placed) == Counter(list(QUERIES)), "each query file has exactly one place"
    page = browser.guide_html()
    blocks = runnable_blocks(page)
    assert blocks == [b for q in QUERIES.values() for b in (q.param_command(), q.cypher)]
    assert "{{" not in page and "query:" not in page
    assert page.count("<slide>") == page.count("</slide>") >= 5
    assert re.search(r"<title>[^<]+</title>", page)


def test_guide_explains_the_model() -> None:
    page = browser.guide_html()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    for word in (
        "Video",
        "User",
        "Channel",
        "Category",
        "RELATED",
        "YT_RELATED",
        "WATCHED",
        "LIKED",
        "FAVORITED",
        "PLAYLISTED",
        "RATED",
        "UPLOADED_BY",
        "IN_CATEGORY",
        "sessions",
        "cooccurrences",
        "score",
        "rank",
        "weight",
        "first_at",
        "last_at",
        "watch_seconds",
        "long_watches",
        "rating",
        "position",
        "half",
        "sessions",
    ):
        assert re.search(rf"\b{word}\b", text), word
    from ytgraph.ingest.related import NORMALIZATIONS

    for name in NORMALIZATIONS:
        assert f"<code>{name}</code>" in page, name
    s = Settings()
    assert f"{s.seeds.weight_favorite:g}" in text and f"{s.seeds.half_life_days:g} days" in text


def test_param_line_parses_as_the_browser_reads_it() -> None:
    """The Browser parses ``:param {...}`` as JSON5-like text: unquoted keys, JSON values."""
    for q in QUERIES.values():
        body = q.param_command().removeprefix(":param ")
        as_json = re.sub(r"([{,]\s*)([a-z_]+):", r'\1"\2":', body)
        assert json.loads(as_json) == q.params


# --- the style -----------------------------------------------------------------------------
def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """Neo4j Browser 5.24's grass reader (``parseGrass``), transcribed: quotes are dropped and
    protect braces; a declaration counts only when it splits into exactly ``key: value``."""
    in_quote = in_rule = nested = False
    selector, body = "", ""
    blocks: dict[str, str] = {}
    for ch in text:
        handled = True
        if ch == "{":
            if in_quote:
                handled = False
            elif in_rule:
                nested = True
            else:
                in_rule = True
        elif ch == "}":
            if in_quote:
                handled = False
            elif nested:
                nested = False
            else:
                in_rule = False
                blocks[selector], selector, body = body, "", ""
        elif ch in "'\"":
            in_quote = not in_quote
        else:
            handled = False
        if not handled:
            if in_rule:
                body += ch
            elif not ch.isspace():
                selector += ch
    rules: dict[str, dict[str, str]] = {}
    for sel, decls in blocks.items():
        rules[sel] = {}
        for decl in decls.split(";"):
            parts = decl.split(":")
            if len(parts) == 2:
                rules[sel][parts[0].strip()] = parts[1].strip()
    return rules


def test_style_covers_the_model() -> None:
    text = (browser.browser_dir() / browser.STYLE_FILE).read_text()
    rules = parse_grass(text)
    assert len(rules) == len(re.findall(r"^[\w.]+ \{$", text, re.MULTILINE)) == 16
    declared = len(re.findall(r"^  [a-z-]+: .+;$", text, re.MULTILINE))
    assert sum(len(r) for r in rules.values()) == declared  # none lost to the reader
    for label in ("Video", "User", "Channel", "Category"):
        assert f"node.{label}" in rules
    for rel in ("RELATED", "YT_RELATED", *ACTION_TYPES, "UPLOADED_BY", "IN_CATEGORY"):
        assert f"relationship.{rel}" in rules
    assert rules["node.Video"]["caption"] == "{title}"
    assert rules["relationship.RELATED"]["caption"] == "#{rank}"
    sizes = {k: int(v["diameter"].removesuffix("px")) for k, v in rules.items() if "diameter" in v}
    assert sizes["node.Video"] > max(v for k, v in sizes.items() if k != "node.Video")
    colours = [rules[f"node.{x}"]["color"] for x in ("Video", "User", "Channel", "Category")]
    assert len(set(colours)) == 4


# --- how it reaches the Browser ----------------------------------------------------------
def test_post_connect_command_and_conf_lines() -> None:
    cmd = browser.post_connect_command("http://127.0.0.1:7474/")
    assert cmd == (
        "style http://127.0.0.1:7474/browser/ytgraph/ytgraph.grass; "
        "guide http://127.0.0.1:7474/browser/ytgraph/guide.html"
    )
    lines = browser.conf_lines(7475)
    assert lines[0] == "browser.post_connect_cmd=" + browser.post_connect_command(
        "http://127.0.0.1:7475"
    )
    assert "browser.remote_content_hostname_whitelist=127.0.0.1,localhost" in lines
    csp = next(ln for ln in lines if ln.startswith("dbms.security.http_static_content"))
    assert "segment" not in csp and "canny" not in csp and " http: " not in csp


def test_archive_layout(tmp_path: Path) -> None:
    dest = browser.build_static_jar(tmp_path / "only-ours.jar")
    with zipfile.ZipFile(dest) as z:
        names = z.namelist()
        assert names[0] == "browser/"
        assert z.read("browser/ytgraph/guide.html").decode() == browser.guide_html()
        assert "browser/ytgraph/ytgraph.grass" in names
    for i, name in enumerate(names):  # Neo4j unpacks in order: folders before their files
        parent = name.rstrip("/").rpartition("/")[0]
        assert not parent or parent + "/" in names[:i], name


def test_install_builds_the_served_archive_once(tmp_path: Path) -> None:
    lib = ManagedServer(Settings().neo4j).dist / "lib"
    jar = browser.find_browser_jar(lib)
    if jar is None:
        pytest.fail(f"no Neo4j Browser jar in {lib}: resolve the managed server first")
    home = tmp_path / "home"
    first = browser.install(home, lib)
    assert first == home / "web" / browser.WEB_ARCHIVE
    stamp = first.stat().st_mtime_ns
    assert browser.install(home, lib) == first and first.stat().st_mtime_ns == stamp
    with zipfile.ZipFile(first) as z, zipfile.ZipFile(jar) as src:
        names = set(z.namelist())
        assert {"browser/index.html", "browser/ytgraph/guide.html"} <= names
        assert {n for n in src.namelist() if n.startswith("browser/")} <= names
    (home / "web" / "neo4j-browser-2020.01.01+1.zip").write_bytes(b"stale")
    first.write_bytes(b"not a zip")
    assert browser.install(home, lib) == first and zipfile.is_zipfile(first)
    assert [p.name for p in (home / "web").iterdir()] == [browser.WEB_ARCHIVE]
    assert browser.install(home, tmp_path / "no-lib") is None and not first.exists()


def test_managed_server_serves_guide_and_style(neo4j_conn: Connection) -> None:
    if neo4j_conn.server is None:
        pytest.skip("the guide is installed on the managed server only")
    base = neo4j_conn.browser_url
    assert base is not None
    with urllib.request.urlopen(base + "ytgraph/guide.html", timeout=10) as r:
        served = r.read().decode()
        assert served == browser.guide_html(), "serving an older guide: restart the server"
        csp = r.headers["Content-Security-Policy"]
    assert csp == browser.CONTENT_SECURITY_POLICY
    with urllib.request.urlopen(base + "ytgraph/ytgraph.grass", timeout=10) as r:
        assert r.read() == (browser.browser_dir() / browser.STYLE_FILE).read_bytes()
    records, _, _ = neo4j_conn.driver.execute_query(
        "CALL dbms.clientConfig() YIELD name, value RETURN name, value", database_="system"
    )
    config = {r["name"]: r["value"] for r in records}
    http_base = base.split("/browser", 1)[0]
    assert config["browser.post_connect_cmd"] == browser.post_connect_command(http_base)
    assert config["browser.remote_content_hostname_whitelist"] == "127.0.0.1,localhost"
    assert config["client.allow_telemetry"] == "false"


def test_browse_info(neo4j_conn: Connection) -> None:
    info = connect.browse_info(neo4j_conn)
    assert "password" not in info and info["user"] == neo4j_conn.user
    assert info["url"] is not None and info["url"].startswith(str(neo4j_conn.browser_url))
    assert "dbms=" in info["url"]
    assert connect.browse_info(neo4j_conn, show_password=True)["password"] == neo4j_conn.password
    if neo4j_conn.server is not None:
        assert info["password_file"] == str(neo4j_conn.server.password_file)
        assert info["guide"] == f"{neo4j_conn.browser_url}ytgraph/guide.html"
        http_base = str(neo4j_conn.browser_url).split("/browser", 1)[0]
        assert info["post_connect_cmd"] == browser.post_connect_command(http_base)

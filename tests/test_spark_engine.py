"""The spark count engine gives the in-process engine's tables: sessions, c_i/c_ij, R_i, the graph.

The in-process engine is the reference (itself held to the brute force of ``tests/reference.py``).
Random worlds stress what an engine could get subtly wrong: anchored windows (not gaps), equal
timestamps, long-watch filters with unknown lengths and durations, the session cap's tie-break by
video id, ids whose order differs between bytes, case and code points, small top-N lists full of
ties, all six normalisations with and without damping. One local[2] Spark session serves them all.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from loaders.schema import Dataset, ReadReport, empty_videos
from tests.conftest import wipe
from ytgraph.cli import app
from ytgraph.config import RelatedSettings, SessionSettings, Settings, load_settings
from ytgraph.db.graph import Graph
from ytgraph.errors import ConfigError
from ytgraph.ingest.engines import InProcessEngine
from ytgraph.ingest.engines.spark import SparkEngine, spark_session
from ytgraph.ingest.load import load

HOUR = 3600
# Code point order (Python, Spark's UTF-8 bytes) differs from case-folded and locale orders here.
USERS = ["u1", "U2", "u10", "ü3", "Z", "a b", "日本", "é", "e", "user_with_a_long_name", "0"]
VIDEOS = [f"v{i}" for i in range(14)] + ["V1", "vé", "v_10", "Ω", "aa", "a"]


def random_events(rng: np.random.Generator, n: int) -> pd.DataFrame:
    kinds = rng.choice(["watch"] * 8 + ["like", "rate"], size=n)
    # Times on a coarse grid (many equal timestamps, many exactly one window apart) over 4 days.
    ts = rng.integers(0, 4 * 24 * 4, size=n) * (HOUR // 4)
    secs = rng.integers(1, 600, size=n).astype(float)
    secs[rng.random(n) < 0.2] = np.nan  # unknown lengths pass every filter
    return pd.DataFrame(
        {
            "user_id": rng.choice(np.array(USERS, dtype=object), size=n),
            "video_id": rng.choice(np.array(VIDEOS, dtype=object), size=n),
            "timestamp": ts.astype("int64"),
            "event": kinds.astype(object),
            "watch_seconds": np.where(kinds == "watch", secs, np.nan),
            "rating": np.where(kinds == "rate", 4.0, np.nan),
        }
    )


def random_durations(rng: np.random.Generator) -> pd.Series:
    ids = [v for v in VIDEOS if rng.random() < 0.7]
    d = rng.choice([np.nan, 0.0, 60.0, 300.0, 900.0], size=len(ids))
    return pd.Series(d, index=pd.Index(ids, dtype=object), dtype="float64")


# (sessions settings, two related settings) per world: every normalisation, damped and not.
CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        {"window_hours": 24.0, "max_videos": 100},
        {"normalization": "llr", "top_n": 3, "min_count": 1},
        {"normalization": "product", "top_n": 4, "min_count": 2, "damping": 1.5},
    ),
    (
        {"window_hours": 1.5, "max_videos": 3, "long_watch_seconds": 120.0},
        {"normalization": "cosine", "top_n": 2, "min_count": 1},
        {"normalization": "llr", "top_n": 5, "min_count": 2, "min_score": 1.0},
    ),
    (
        {"window_hours": 6.0, "max_videos": 0, "long_watch_fraction": 0.5},
        {"normalization": "jaccard", "top_n": 3, "min_count": 1, "damping": 0.5},
        {"normalization": "lift", "top_n": 3, "min_count": 1},
    ),
    (
        {"window_hours": 0.4, "max_videos": 2, "long_watch_seconds": 60.0,
         "long_watch_fraction": 0.25},
        {"normalization": "candidate", "top_n": 3, "min_count": 1},
        {"normalization": "lift", "top_n": 2, "min_count": 1, "damping": 2.0},
    ),
]  # fmt: skip


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    session = spark_session("local[2]", tmp_path_factory.mktemp("spark"))
    session.conf.set("spark.sql.shuffle.partitions", "2")  # tiny worlds: fewer, busier tasks
    yield session
    session.stop()


@pytest.fixture
def engine(spark: SparkSession, tmp_path: Path) -> Iterator[SparkEngine]:
    with SparkEngine(spark, tmp_path) as e:
        yield e


def assert_related_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    exact = ["src", "dst", "cooccurrences", "rank"]
    assert got[exact].values.tolist() == want[exact].values.tolist()
    for col in ("score", "weight"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize("case", range(len(CASES)))
def test_spark_counts_equal_in_process(engine: SparkEngine, case: int) -> None:
    rng = np.random.default_rng(100 + case)
    events = random_events(rng, 700)
    durations = random_durations(rng)
    sess_kw, rel_a, rel_b = CASES[case]
    ss = SessionSettings(**sess_kw)
    ref = InProcessEngine()

    got_sessions, got = engine.sessions_and_covisits(events, ss, durations)
    want_sessions = ref.sessions(events, ss, durations)
    want = ref.covisits(events, ss, durations)
    assert len(want_sessions) > 50 and want.nnz > 50  # a world with something to get wrong
    pd.testing.assert_frame_equal(got_sessions, want_sessions)
    assert got.equals(want)
    got.validate()

    # R_i from the counts Spark just wrote, and from counts it is handed (the incremental path).
    for cov, kw in ((got, rel_a), (want, rel_b)):
        rs = RelatedSettings(**kw)
        want_related = ref.related(want, rs)
        assert len(want_related) > 5
        assert_related_equal(engine.related(cov, rs), want_related)


@pytest.mark.slow
def test_spark_engine_on_nothing_to_count(engine: SparkEngine) -> None:
    events = random_events(np.random.default_rng(7), 40)
    no_watches = events[events["event"] != "watch"]
    ss = SessionSettings()
    sessions, cov = engine.sessions_and_covisits(no_watches, ss, None)
    assert sessions.empty and cov.equals(InProcessEngine().covisits(no_watches, ss, None))
    # Every watch filtered out: Spark runs and finds nothing.
    short = SessionSettings(long_watch_seconds=10_000.0)
    watched = events[events["watch_seconds"].notna()]
    sessions, cov = engine.sessions_and_covisits(watched, short, None)
    assert sessions.empty and cov.n_sessions == 0 and cov.n_videos == 0
    # No duration known at all: the fraction test passes every watch.
    frac = SessionSettings(long_watch_fraction=0.9)
    nothing = pd.Series([], dtype="float64")
    got = engine.covisits(events, frac, nothing)
    assert got.n_sessions > 0 and got.equals(InProcessEngine().covisits(events, frac, nothing))


def related_edges(graph: Graph) -> list[tuple[Any, ...]]:
    records, _, _ = graph.driver.execute_query(
        "MATCH (a:Video)-[r:RELATED]->(b:Video) RETURN a.video_id AS src, b.video_id AS dst, "
        "r.score AS score, r.cooccurrences AS c, r.rank AS rank, r.weight AS weight, "
        "a.sessions AS ci ORDER BY src, rank"
    )
    return [tuple(r.values()) for r in records]


def dataset(events: pd.DataFrame) -> Dataset:
    n = len(events)
    return Dataset(events=events, videos=empty_videos(), report=ReadReport(read=n, accepted=n))


@pytest.mark.slow
def test_spark_loads_give_the_default_engines_graph(
    graph: Graph, settings: Settings, engine: SparkEngine, tmp_path: Path
) -> None:
    rng = np.random.default_rng(11)
    events = random_events(rng, 600)
    settings.related.normalization = "llr"
    settings.related.min_count = 1
    settings.related.top_n = 4
    load(dataset(events), settings, graph, tmp_path / "inprocess")
    want = related_edges(graph)
    assert len(want) > 30

    # Spark counts a first load, then an incremental one with late events of old sessions.
    wipe(graph)
    late = rng.random(len(events)) < 0.3
    state = tmp_path / "spark"
    first = load(dataset(events[~late]), settings, graph, state, engine=engine)
    second = load(dataset(events[late]), settings, graph, state, engine=engine)
    assert first.full_rebuild and not second.full_rebuild
    assert related_edges(graph) == want


def test_engine_settings_are_checked() -> None:
    s = load_settings(None, env={"YTGRAPH_LOAD__ENGINE": "spark"})
    assert s.load.engine == "spark" and s.load.spark_master == "local[*]"
    for master in ("local[2]", "local[*,3]", "spark://head:7077", "yarn", "k8s://https://k:443"):
        assert load_settings(None, env={"YTGRAPH_LOAD__SPARK_MASTER": master}).load.spark_master
    with pytest.raises(ConfigError, match="not one of inprocess, spark"):
        load_settings(None, env={"YTGRAPH_LOAD__ENGINE": "hadoop"})
    for master in ("local[0]", "locl", "spark:/x", ""):
        with pytest.raises(ConfigError, match="not a Spark master URL"):
            load_settings(None, overrides={"load.spark_master": master}, env={})


def test_missing_pyspark_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` now fails
    monkeypatch.setenv("YTGRAPH_LOAD__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.csv").write_text("user_id,video_id,timestamp,event\nu,v,1,watch\n")
    result = CliRunner().invoke(app, ["-q", "load", "e.csv", "--engine", "spark"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs PySpark" in lines[0] and "pip install" in lines[0]


def test_cli_works_without_pyspark() -> None:
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "import ytgraph.ingest.load, ytgraph.api\n"
        "from ytgraph.cli import app\n"
        "app(['load', '--help'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--spark-master" in done.stdout

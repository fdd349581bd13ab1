"""Live evaluation: impression/click validation, arms, and the figures of a hand-written log."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loaders.canonical import read_events
from ytgraph.cli import app
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import ConfigError
from ytgraph.evaluation.arms import bucket, load_experiment, parse_experiment
from ytgraph.evaluation.live import abtest_report

T = 1_704_067_200 + 36_000  # 2024-01-01 10:00 UTC
DAY = 86_400
HEADER = "user_id,video_id,timestamp,event,watch_seconds,rating,arm,surface,position"


def imp(user: str, video: str, t: int, arm: str, pos: int) -> str:
    return f"{user},{video},{t},impression,,,{arm},browse,{pos}"


def click(user: str, video: str, t: int) -> str:
    return f"{user},{video},{t},click,,,,,"


def watch(user: str, video: str, t: int, seconds: float) -> str:
    return f"{user},{video},{t},watch,{seconds},,,,"


# Durations 100, 100, 300 s; a long watch is at least half the video (the loader's default rule).
VIDEOS = pd.DataFrame({"video_id": ["v1", "v2", "v3"], "duration_seconds": [100.0, 100.0, 300.0]})
LOG = [
    # arm A, user a1, visit 1 at T: shown v1, v2; clicks v1, watches it long (80/100), then v3 short.
    imp("a1", "v1", T, "A", 1), imp("a1", "v2", T, "A", 2),
    click("a1", "v1", T + 10), watch("a1", "v1", T + 20, 80), watch("a1", "v3", T + 200, 30),
    # a1, visit 2 at T+3600: shown v2, v3; clicks v2 but watches 10/100 (not long);
    # later watches v3 long (200/300) without a click.
    imp("a1", "v2", T + 3600, "A", 1), imp("a1", "v3", T + 3600, "A", 2),
    click("a1", "v2", T + 3700), watch("a1", "v2", T + 3710, 10), watch("a1", "v3", T + 4000, 200),
    # a2, visit at T+100: shown v1, v2, nothing else.
    imp("a2", "v1", T + 100, "A", 1), imp("a2", "v2", T + 100, "A", 2),
    # arm B, user b1, visit at T+50: shown v3, v1; clicks v3 twice (one impression: one click),
    # watches it long (200/300); clicks v1 and does not watch; clicks v2, never shown (unattributed).
    imp("b1", "v3", T + 50, "B", 1), imp("b1", "v1", T + 50, "B", 2),
    click("b1", "v3", T + 60), click("b1", "v3", T + 65), watch("b1", "v3", T + 70, 200),
    click("b1", "v1", T + 500), click("b1", "v2", T + 600),
    # day 2: a1 alone visits A and is shown v3.
    imp("a1", "v3", T + DAY, "A", 1),
]  # fmt: skip


def write_log(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def report_inputs(tmp_path: Path) -> tuple[Path, Path]:
    log = write_log(tmp_path / "log.csv", LOG)
    videos = tmp_path / "videos.csv"
    VIDEOS.to_csv(videos, index=False)
    return log, videos


def test_hand_written_log_gives_the_hand_computed_figures(report_inputs: tuple[Path, Path]) -> None:
    log, videos = report_inputs
    report = abtest_report([log], Settings(), videos=videos, control="A", resamples=200)
    a, b = report.row("A"), report.row("B")
    # A: impressions 2 + 2 + 2 + 1 = 7; clicks a1:v1, a1:v2 = 2; long clicks: only a1:v1 = 1.
    assert a.counts["impressions"] == 7
    assert a.figures["ctr"] == pytest.approx(2 / 7)
    assert a.figures["long_ctr"] == pytest.approx(1 / 7)
    # Visits: a1@T (watches v1, v3 = 2), a1@T+3600 (v2, v3 = 2), a2@T+100 (0), a1@T+DAY (0):
    # 4 watches / 4 visits.
    assert a.figures["session_length"] == pytest.approx(4 / 4)
    # First long watch: a1@T -> v1 at +20 s; a1@T+3600 -> v3 at +400 s; mean (20 + 400) / 2.
    assert a.figures["time_to_long_watch"] == pytest.approx(210.0)
    # B: 2 impressions, 2 attributed clicks (v3 once, v1), 1 long (v3 at +70 after a click at +60).
    assert b.counts["impressions"] == 2
    assert b.figures["ctr"] == pytest.approx(2 / 2)
    assert b.figures["long_ctr"] == pytest.approx(1 / 2)
    assert b.figures["session_length"] == pytest.approx(1 / 1)
    assert b.figures["time_to_long_watch"] == pytest.approx(20.0)  # T+70 - (T+50)
    assert report.unattributed_clicks == 1  # b1's click on v2
    # Relative to A: CTR 1 / (2/7) = 350%; long CTR (1/2) / (1/7) = 350%; session 100%.
    assert b.relative["ctr"] == pytest.approx(350.0)
    assert b.relative["long_ctr"] == pytest.approx(350.0)
    assert b.relative["session_length"] == pytest.approx(100.0)
    assert a.relative["ctr"] == pytest.approx(100.0)
    # Per day: on day 1, A has 6 impressions and 2 clicks; on day 2, 1 impression and none.
    d1, d2 = report.days
    assert report.row("A", d1).figures["ctr"] == pytest.approx(2 / 6)
    assert report.row("A", d2).figures["ctr"] == pytest.approx(0.0)
    assert report.row("B", d1).relative["ctr"] == pytest.approx(300.0)  # 1 / (1/3)
    # Coverage: A's users are a1, a2; day 2 reaches a1 only.
    assert report.row("A", d1).figures["coverage"] == pytest.approx(1.0)
    assert report.row("A", d2).figures["coverage"] == pytest.approx(0.5)
    # B has one user: every bootstrap draw is that user, so its CTR interval is the point.
    assert b.ci["ctr"] == pytest.approx((1.0, 1.0))


def test_without_durations_a_long_watch_is_two_minutes(report_inputs: tuple[Path, Path]) -> None:
    log, _ = report_inputs
    report = abtest_report([log], Settings(), control="A", resamples=50)
    # Watches >= 120 s: a1 v3 200 s and b1 v3 200 s. a1's click on v1 (80 s) is no longer long.
    assert report.row("A").figures["long_ctr"] == pytest.approx(0.0)
    assert report.row("B").figures["long_ctr"] == pytest.approx(1 / 2)
    # a1@T has no long watch now; a1@T+3600 -> 400 s.
    assert report.row("A").figures["time_to_long_watch"] == pytest.approx(400.0)


def test_bootstrap_interval_of_relative_ctr_holds_the_point(tmp_path: Path) -> None:
    rows = []
    for i in range(40):  # 40 users a arm; A's users click 1 in 4 impressions, B's 2 in 4
        for arm, clicks in (("A", 1), ("B", 2)):
            u = f"{arm}{i}"
            rows += [imp(u, f"v{k}", T, arm, k + 1) for k in range(4)]
            rows += [click(u, f"v{k}", T + 5) for k in range(clicks + (i % 2))]
    report = abtest_report([write_log(tmp_path / "l.csv", rows)], Settings(), control="A")
    b = report.row("B")
    # A: (1*20 + 2*20) / 160 = 0.375; B: (2*20 + 3*20) / 160 = 0.625; 0.625 / 0.375 = 166.7%
    assert b.relative["ctr"] == pytest.approx(100 * 0.625 / 0.375)
    lo, hi = b.relative_ci["ctr"]  # type: ignore[misc]
    assert lo < b.relative["ctr"] < hi  # type: ignore[operator]
    assert lo > 100  # the difference is clear at 40 users an arm


def test_a_load_accepts_impressions_and_clicks_and_stores_neither(tmp_path: Path) -> None:
    events, report = read_events(write_log(tmp_path / "log.csv", LOG))
    assert report.read == len(LOG) == report.accepted
    assert (events["event"] == "impression").sum() == sum(",impression," in r for r in LOG)
    from loaders.schema import split_log_events

    graph_events, logged = split_log_events(events)
    assert set(graph_events["event"]) == {"watch"}
    assert list(graph_events.columns) == [
        "user_id", "video_id", "timestamp", "event", "watch_seconds", "rating",
    ]  # fmt: skip
    assert len(logged) == len(LOG) - sum(",watch," in r for r in LOG)


def test_a_load_skips_impressions_and_clicks_with_a_count(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    from loaders.canonical import read_canonical
    from ytgraph.ingest.load import load

    log = write_log(tmp_path / "log.csv", LOG)
    summary = load(read_canonical([log]), settings, graph, tmp_path / "state")
    assert summary.read == summary.accepted + summary.rejected == len(LOG)
    assert summary.log_events == sum(",impression," in r or ",click," in r for r in LOG)
    assert summary.new_events == sum(",watch," in r for r in LOG)
    # The counts of the watches alone: the logs change no count.
    from ytgraph.ingest.covisit import count
    from ytgraph.ingest.sessions import sessionize

    watches, _ = read_events(write_log(tmp_path / "w.csv", [r for r in LOG if ",watch," in r]))
    alone = count(sessionize(watches, settings.sessions, pd.Series(dtype="float64")))
    assert (alone.n_sessions, alone.pairs.nnz // 2) == (summary.sessions, summary.pairs)
    # Nothing of the logs in the graph: a2 was only shown videos, so is no user; WATCHED pairs
    # are a1-v1, a1-v3, a1-v2, b1-v3.
    counts = {r["name"]: r["count"] for r in graph.run("stats_counts")}
    assert (counts["User"], counts["WATCHED"]) == (2, 4)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("u,v,1,impression,,,,browse,1", "missing arm for impression event"),
        ("u,v,1,impression,,,A,,1", "missing surface for impression event"),
        ("u,v,1,impression,,,A,browse,", "missing position for impression event"),
        ("u,v,1,impression,,,A,browse,0", "position must be a whole number >= 1"),
        ("u,v,1,impression,,,A,browse,2.5", "position must be a whole number >= 1"),
        ("u,v,1,impression,,,A,browse,top", "non-numeric position"),
        ("u,v,1,clik,,,,,", "unknown event 'clik'"),
    ],
)
def test_bad_impression_rows_are_rejected_with_a_reason(
    tmp_path: Path, row: str, reason: str
) -> None:
    good = "u,v,2,click,,,,,"
    events, report = read_events(write_log(tmp_path / "e.csv", [row, good]))
    assert (report.read, report.accepted, report.rejected) == (2, 1, 1)
    assert report.rejects[0].reason == reason
    assert report.rejects[0].line == 2
    assert events["event"].tolist() == ["click"]


def test_an_impression_in_a_file_without_arm_columns_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,video_id,timestamp,event\nu,v,1,impression\nu,v,2,click\n")
    events, report = read_events(path)
    assert [r.reason for r in report.rejects] == ["missing arm for impression event"]
    assert events["event"].tolist() == ["click"]


# ------------------------------------------------------------------------------ arms

ARMS = """
experiment = "exp-1"
control = "mv"
[[arm]]
name = "rec"
share = 0.5
overrides = { "ranking.n" = 4 }
[[arm]]
name = "mv"
share = 0.3
baseline = "most_viewed"
[[arm]]
name = "tr"
share = 0.2
baseline = "top-rated"
"""


def test_arm_assignment_is_stable_and_matches_the_shares(tmp_path: Path) -> None:
    path = tmp_path / "arms.toml"
    path.write_text(ARMS)
    exp = load_experiment(path)
    users = [f"user{i}" for i in range(20_000)]
    first = exp.assign_all(users)
    again = load_experiment(path).assign_all(users)
    assert first == again
    # Independently: the same sha256 rule, cumulative shares 0.5, 0.8, 1.0.
    for u in users[:200]:
        x = bucket("exp-1", u)
        assert first[u] == ("rec" if x < 0.5 else "mv" if x < 0.8 else "tr")
    counts = pd.Series(first).value_counts()
    for arm, share in (("rec", 0.5), ("mv", 0.3), ("tr", 0.2)):
        sd = math.sqrt(len(users) * share * (1 - share))  # binomial
        assert abs(counts[arm] - len(users) * share) < 4 * sd
    # Another experiment name reshuffles: about half of the users move (not none, not all).
    other = parse_experiment({**_toml(ARMS), "experiment": "exp-2"}).assign_all(users)
    moved = sum(first[u] != other[u] for u in users) / len(users)
    assert 0.5 < moved < 0.7  # 1 - (0.5² + 0.3² + 0.2²) = 0.62


def _toml(text: str) -> dict:  # type: ignore[type-arg]
    import tomllib

    return tomllib.loads(text)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("experiment"), 'needs experiment = "<name>"'),
        (lambda d: d["arm"][0].update(share=0.6), "shares add up to 1.1, not 1"),
        (lambda d: d["arm"][1].update(baseline="top_viewed"), "unknown baseline 'top_viewed'"),
        (lambda d: d["arm"][1].update(name="rec"), "arm name 'rec' is used twice"),
        (lambda d: d["arm"][0].update(overrides={"ranking.nope": 1}), "arm 'rec':"),
        (lambda d: d["arm"][1].update(overrides={"ranking.n": 4}), "takes no overrides"),
        (lambda d: d.update(control="zz"), "control 'zz' is not one of the arms"),
        (lambda d: d["arm"][2].update(share=0), "share must be a number in (0, 1]"),
    ],
)
def test_bad_arms_are_one_config_error(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _toml(ARMS)
    edit(data)
    with pytest.raises(ConfigError, match=None) as e:
        parse_experiment(data, "arms.toml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------ CLI

runner = CliRunner()


def test_abtest_report_cli_prints_the_table_and_writes_json_and_plot(
    report_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    import json

    log, videos = report_inputs
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    args = ["abtest", "report", str(log), "--videos", str(videos), "--control", "A"]
    result = runner.invoke(
        app, [*args, "--json", str(out), "--plot", str(png), "--resamples", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "350%" in result.stdout
    data = json.loads(out.read_text())
    assert data["control"] == "A" and data["arms"] == ["A", "B"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["abtest", "report", "/nonexistent/log.csv"], "/nonexistent/log.csv: file not found"),
        (["abtest", "report", "{log}", "--control", "Z"], "no arm 'Z' in the logs"),
        (["simulate", "{dir}", "--arms", "/nonexistent/a.toml", "--out", "{out}"], "not found"),
        (["simulate", "{dir}", "--arms", "{bad}", "--out", "{out}"], "not valid TOML"),
        (["simulate", "{dir}", "--arms", "{arms}", "--out", "{out}"], "no world.json"),
        (["simulate", "{dir}", "--arms", "{arms}", "--out", "{log}"], "is a file, not a folder"),
    ],
)
def test_cli_mistakes_are_one_line_and_exit_2(
    report_inputs: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    log, _ = report_inputs
    bad = tmp_path / "bad.toml"
    bad.write_text("experiment = \n")
    arms = tmp_path / "arms.toml"
    arms.write_text(ARMS)
    fill = {
        "log": str(log), "dir": str(tmp_path), "bad": str(bad), "arms": str(arms),
        "out": str(tmp_path / "out"),
    }  # fmt: skip
    result = runner.invoke(app, [a.format(**fill) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


# ------------------------------------------------------------------------------ simulate

SIM_ARMS = """
experiment = "sim-test"
[[arm]]
name = "rec"
share = 0.4
[[arm]]
name = "mv"
share = 0.2
baseline = "most_viewed"
[[arm]]
name = "tf"
share = 0.2
baseline = "top_favorited"
[[arm]]
name = "tr"
share = 0.2
baseline = "top_rated"
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["neo4j", "memory"])
def test_simulate_end_to_end_through_abtest_report(
    graph: Graph, settings: Settings, tmp_path: Path, engine: str
) -> None:
    from loaders.canonical import read_canonical
    from ytgraph.evaluation.simulate import MAX_VISITS, simulate
    from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world

    cfg = GenerateConfig(users=60, videos=150, days=4, seed=5)
    history, videos = generate_world(cfg)
    write_world(history, videos, tmp_path / "w", cfg)
    exp = parse_experiment(_toml(SIM_ARMS))
    n, days = 4, 3
    summary = simulate(
        tmp_path / "w", exp, settings, out=tmp_path / "sim", days=days, n=n, seed=1, graph=graph,
        engine=engine, echo=None,
    )  # fmt: skip
    logs = sorted((tmp_path / "sim").glob("day-*.csv"))
    assert [p.name for p in logs] == ["day-01.csv", "day-02.csv", "day-03.csv"]
    data = read_canonical(logs)
    assert data.report.rejected == 0
    ev = data.events
    imp = ev[ev["event"] == "impression"]
    # Every user visits every day, 1..MAX_VISITS times; every visit shows n videos at 1..n.
    visits = imp.groupby(["user_id", "timestamp"])["position"].apply(sorted)
    assert all(p == list(range(1, n + 1)) for p in visits)
    per_day = visits.reset_index().assign(day=lambda f: f["timestamp"] // DAY)
    per_user_day = per_day.groupby(["user_id", "day"]).size()
    assert len(per_user_day) == cfg.users * days
    assert per_user_day.between(1, MAX_VISITS).all()
    assert len(imp) == len(visits) * n == summary.impressions
    # Each user's impressions carry the arm the experiment assigns; every arm shows up.
    arms = imp.groupby("user_id")["arm"].unique()
    assert all(list(a) == [exp.assign(u)] for u, a in arms.items())
    assert set(imp["arm"]) == {"rec", "mv", "tf", "tr"}
    # Clicks are a subset of impressions: each has one of the same (user, video) shortly before.
    shown: dict[tuple[str, str], list[int]] = {}
    for u, v, t in imp[["user_id", "video_id", "timestamp"]].itertuples(index=False):
        shown.setdefault((u, v), []).append(t)
    clicks = ev[ev["event"] == "click"]
    assert len(clicks) == summary.clicks > 0
    for u, v, t in clicks[["user_id", "video_id", "timestamp"]].itertuples(index=False):
        assert any(0 < t - s < 3600 for s in shown.get((u, v), [])), (u, v, t)
    # Nobody is shown a video they had watched before that day began.
    watches = pd.concat([history, ev])
    watches = watches[watches["event"] == "watch"]
    for (u, day), g in imp.assign(day=imp["timestamp"] // DAY).groupby(["user_id", "day"]):
        before = set(watches.loc[(watches["user_id"] == u) & (watches["timestamp"] < day * DAY),
                                 "video_id"])  # fmt: skip
        assert not before & set(g["video_id"]), (u, day)
    # The nights' loads fed the graph: WATCHED holds every (user, video) pair watched so far.
    if engine == "neo4j":
        counts = {r["name"]: r["count"] for r in graph.run("stats_counts")}
        assert counts["WATCHED"] == len(watches[["user_id", "video_id"]].drop_duplicates())
    # abtest report reads the logs: impressions and clicks per arm as counted here.
    report = abtest_report(logs, settings, control="mv", resamples=50)
    assert report.arms[0] == "mv" and set(report.arms) == {"rec", "mv", "tf", "tr"}
    assert len(report.days) == days
    for arm in report.arms:
        row = report.row(arm)
        assert row.counts["impressions"] == (imp["arm"] == arm).sum()
    assert sum(report.row(a).counts["clicks"] for a in report.arms) <= len(clicks)
    assert report.unattributed_clicks == 0


def test_the_memory_engines_batch_pools_equal_recommend_on_the_memory_graph() -> None:
    from loaders.schema import Dataset, ReadReport
    from ytgraph.evaluation.simulate import memory_snapshot
    from ytgraph.ingest.generate import GenerateConfig, generate_world
    from ytgraph.recommendation.batch import batch_recommend
    from ytgraph.recommendation.memory import MemoryGraph
    from ytgraph.recommendation.service import Recommendations, recommend

    events, videos = generate_world(GenerateConfig(users=120, videos=200, days=10, seed=2))
    s = Settings()
    s.candidates.exclude_watched = True
    memory = MemoryGraph.build(Dataset(events, videos, ReadReport()), s)
    users = sorted(memory.actions)
    pools = list(batch_recommend(memory_snapshot(memory), s, users, n=60))
    assert len(pools) == len(users) > 50
    for pool in pools:
        assert isinstance(pool, Recommendations)
        ref = recommend(memory, pool.user_id, s, n=60)
        assert [r.video_id for r in pool.recommendations] == [
            r.video_id for r in ref.recommendations
        ]
        assert [r.score for r in pool.recommendations] == pytest.approx(
            [r.score for r in ref.recommendations]
        )

"""A simulated live test (paper section 4) on a generated world: arms, visits, clicks, the daily cycle.

The users of a world written by ``ytgraph generate`` (its ``world.json`` makes the hidden state
again: interests, quality, neighbours) visit the browse page every day for ``days`` days::

    summary = simulate("demo/world", load_experiment("arms.toml"), settings, out="sim", days=21)
    report = abtest_report(sorted(Path("sim").glob("day-*.csv")), settings, videos=...)

**Each day.** Morning: the ytgraph arms' pools are computed (``serve.precompute``: all on day 1,
then only those the night's load made stale, as ``precompute --stale``), and the chart arms'
charts are drawn from the events so far (Most Viewed: the previous day's watches; Top Favorited:
favorites so far; Top Rated: the smoothed mean rating so far; each filled up from the most viewed
so far when it runs short). Each user visits 1 + Poisson(0.5 x
activity) times (at most ``MAX_VISITS``), at random times; a visit shows ``n`` videos of the user's
arm, never one the user watched: a ytgraph arm serves through ``serve.serve`` (the stored pool,
rotated by what the user was shown), a chart arm its top ``n``.

**The users.** A video shown at position ``p`` is clicked with probability
``CLICK_BASE x POSITION_DECAY^(p-1) x (AFFINITY_FLOOR + (1 - AFFINITY_FLOOR) x interest[user,
category]) x quality`` (the generator's hidden interests, rows summing to 1, and quality in 0-1).
A click is watched at once, for as long as the generator's rule says (better videos longer); the
user then walks on through the video's hidden neighbours (each step with ``P_CONTINUE``) and likes,
favorites or rates at the generator's rates. Night: the day's log (impressions, clicks, watches,
actions: ``day-NN.csv`` in ``out``) is loaded incrementally into the graph, like any load.

The click model is this module's, not YouTube's: the CTRs it gives are a property of the model.
What is real is the machinery: the arms, the serving and batch paths, the daily load, the logs,
and ``abtest report`` reading them as it would real logs.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loaders.canonical import read_canonical
from loaders.schema import (
    DAY,
    EVENT_COLUMNS,
    IMPRESSION_COLUMNS,
    Dataset,
    ReadReport,
    split_log_events,
)
from ytgraph.config import Neo4jSettings, Settings
from ytgraph.console import Echo, stderr_line
from ytgraph.db.graph import Graph
from ytgraph.db.server import own_server
from ytgraph.errors import ConfigError, InputError
from ytgraph.evaluation.arms import Experiment
from ytgraph.evaluation.baselines import baseline_orders, top_excluding
from ytgraph.ingest.generate import Latent, generate_world_state, read_world_config
from ytgraph.ingest.load import fingerprint, load, wipe_graph
from ytgraph.recommendation.batch import Snapshot, batch_recommend
from ytgraph.recommendation.candidates import check_depth
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.reads import POPULAR_HEAD
from ytgraph.recommendation.serve import (
    Impression,
    ImpressionRecorder,
    pool_size,
    precompute,
    recommendation_key,
    rotate,
    serve,
)
from ytgraph.recommendation.service import Recommendations, recommend

ENGINES = ("neo4j", "memory")
SIM_BOLT_PORT = 58687
SIM_HTTP_PORT = 58474
CLICK_BASE = 0.3
POSITION_DECAY = 0.85
AFFINITY_FLOOR = 0.05
P_CONTINUE = 0.5
MAX_WALK = 8
MAX_VISITS = 4
LOG_COLUMNS = (*EVENT_COLUMNS, *IMPRESSION_COLUMNS)
CHART_OF = {
    "most_viewed": "most-viewed",
    "top_favorited": "top-favorited",
    "top_rated": "top-rated",
}


@dataclass
class SimulationSummary:
    """What a simulation did: per arm users, counts, time per day, and the files it wrote."""

    experiment: str
    days: int
    n: int
    users: int
    arms: dict[str, int]
    visits: int = 0
    impressions: int = 0
    clicks: int = 0
    watches: int = 0
    seconds: float = 0.0
    per_day: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    world: str = ""
    control: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        arms = ", ".join(f"{a} {u:,}" for a, u in self.arms.items())
        return (
            f"simulated {self.days} days of {self.users:,} users ({arms}): {self.visits:,} visits, "
            f"{self.impressions:,} impressions, {self.clicks:,} clicks, {self.watches:,} watches "
            f"in {self.seconds:.0f}s\nlogs: {Path(self.files[0]).parent if self.files else '-'}"
            f"/day-*.csv; next: ytgraph abtest report "
            f"{Path(self.files[0]).parent if self.files else '.'}/day-*.csv "
            f"--videos {Path(self.world) / 'videos.csv'} --control {self.control}"
        )


def sim_neo4j_settings(settings: Settings) -> Neo4jSettings:
    """The simulation's own managed server: home ``<cache>/home/simulate``, ports 58687/58474."""
    return own_server(settings.neo4j, "simulate", SIM_BOLT_PORT, SIM_HTTP_PORT)


def click_probability(
    latent: Latent, users: np.ndarray, videos: np.ndarray, position: np.ndarray
) -> np.ndarray:
    """The chance that each (user, video, position) impression is clicked (module doc)."""
    affinity = latent.interest[users, latent.category[videos]]
    appeal = AFFINITY_FLOOR + (1.0 - AFFINITY_FLOOR) * affinity
    p: np.ndarray = CLICK_BASE * POSITION_DECAY ** (position - 1) * appeal * latent.quality[videos]
    return p


def _watch_rows(
    rng: np.random.Generator, latent: Latent, users: np.ndarray, videos: np.ndarray, at: np.ndarray
) -> tuple[list[pd.DataFrame], np.ndarray]:
    """Watches of ``videos`` starting at ``at``, and the actions after them, as the generator
    draws them; returns the rows and when each watch ends."""
    q = latent.quality[videos]
    short = rng.random(videos.size) < latent.short_watch_fraction * (1.5 - q)
    frac = np.where(short, rng.uniform(0.01, 0.2, size=videos.size), rng.beta(1.5 + 3.0 * q, 1.2))
    seconds = np.floor(latent.duration[videos] * frac)
    frames = [_rows(latent, users, videos, at, "watch", watch_seconds=seconds)]
    ends = at + seconds.astype(np.int64)
    boost = np.where(frac > 0.5, 1.4, 0.3) * q / 0.55
    for name, rate in (("like", 0.04), ("favorite", 0.01), ("playlist_add", 0.008)):
        hit = rng.random(videos.size) < rate * boost
        frames.append(_rows(latent, users[hit], videos[hit], ends[hit], name))
    hit = rng.random(videos.size) < 0.02
    stars = np.clip(np.round(1 + 4 * q[hit] + rng.normal(0, 0.7, size=int(hit.sum()))), 1, 5)
    frames.append(_rows(latent, users[hit], videos[hit], ends[hit], "rate", rating=stars))
    return frames, ends


def _rows(
    latent: Latent,
    users: np.ndarray,
    videos: np.ndarray,
    at: np.ndarray,
    event: str,
    *,
    watch_seconds: np.ndarray | None = None,
    rating: np.ndarray | None = None,
) -> pd.DataFrame:
    k = users.size
    return pd.DataFrame(
        {
            "user_id": latent.user_ids[users],
            "video_id": latent.video_ids[videos],
            "timestamp": np.asarray(at, dtype=np.int64),
            "event": np.full(k, event, dtype=object),
            "watch_seconds": np.full(k, np.nan) if watch_seconds is None else watch_seconds,
            "rating": np.full(k, np.nan) if rating is None else rating,
        }
    )


def behave(
    rng: np.random.Generator,
    latent: Latent,
    users: np.ndarray,
    videos: np.ndarray,
    position: np.ndarray,
    at: np.ndarray,
) -> pd.DataFrame:
    """What users do with impressions (indices into the latent state): clicks, watches, walks on
    through hidden neighbours, actions; canonical event rows."""
    clicked = rng.random(users.size) < click_probability(latent, users, videos, position)
    u, v = users[clicked], videos[clicked]
    t = at[clicked] + 5 + 7 * position[clicked]
    frames = [_rows(latent, u, v, t, "click")]
    more, ends = _watch_rows(rng, latent, u, v, t + 2)
    frames += more
    k = latent.neighbours.shape[1]
    for _ in range(MAX_WALK):
        go = rng.random(u.size) < P_CONTINUE
        if not go.any():
            break
        u, v = u[go], latent.neighbours[v[go], rng.integers(0, k, size=int(go.sum()))]
        ok = v >= 0
        u, v, start = u[ok], v[ok], ends[go][ok] + rng.integers(3, 60, size=int(ok.sum()))
        more, ends = _watch_rows(rng, latent, u, v, start)
        frames += more
    return pd.concat(frames, ignore_index=True)


def _charts(events: pd.DataFrame, day_start: int, settings: Settings) -> dict[str, list[str]]:
    """The chart arms' orders at the start of a day (module doc); a chart with fewer videos than a
    visit shows (few favorites or ratings yet) goes on with the most viewed so far."""
    so_far = baseline_orders(events, settings)
    filler = so_far["most-viewed"][0] or []
    recent = baseline_orders(events[events["timestamp"] >= day_start - DAY], settings)
    orders = {
        "most-viewed": recent["most-viewed"][0] or [],
        "top-favorited": so_far["top-favorited"][0] or [],
        "top-rated": so_far["top-rated"][0] or [],
    }
    out = {}
    for name, order in orders.items():
        have = set(order)
        out[name] = [*order, *(v for v in filler if v not in have)]
    return out


class _Neo4jLists:
    """The ytgraph arms on Neo4j: precompute (all, then stale) each morning, serve with rotation,
    impressions recorded on the user nodes, the day's log loaded at night."""

    def __init__(self, graph: Graph, arm_settings: dict[str, Settings], load_with: Settings,
                 state: Path) -> None:  # fmt: skip
        self.graph, self.arm_settings, self.load_with, self.state = (
            graph, arm_settings, load_with, state,
        )  # fmt: skip
        self.recorder = ImpressionRecorder(graph, keep=120)
        self.online = 0

    def start(self, data: Dataset) -> None:
        wipe_graph(self.graph)
        load(data, self.load_with, self.graph, self.state, echo=None)

    def morning(self, day: int, arm_users: dict[str, set[str]], known: set[str]) -> None:
        for name, s in self.arm_settings.items():
            mine = arm_users[name]
            if day == 0:
                ids = sorted(mine & known)
            else:
                key = recommendation_key(s, pool_size(s, s.ranking.n), s.candidates.depth)
                rows = self.graph.run("stale_users", key=key)
                ids = [r["user_id"] for r in rows if r["user_id"] in mine]
            if ids:
                precompute(self.graph, s, ids)

    def show(self, user_id: str, arm: str, n: int, at: int) -> list[str]:
        recs = serve(self.graph, user_id, self.arm_settings[arm], n=n, allow_unknown=True)
        self.online += recs.source != "precomputed"
        self.recorder.record(recs, at=at, arm=arm)
        return [r.video_id for r in recs.recommendations]

    def end_of_round(self) -> None:
        self.recorder.flush()  # the next visit's rotation sees this one

    def night(self, day_log: Dataset) -> None:
        load(day_log, self.load_with, self.graph, self.state, echo=None)


class _MemoryLists:
    """The ytgraph arms on a MemoryGraph of every event so far, rebuilt each night (the graph a
    load would write); each morning every known user's pool is ranked afresh by the batch ranker
    (``batch.batch_recommend`` over a snapshot of it), and visits rotate it by what the user was
    shown (``serve.rotate``). Users the graph does not know get the popular list."""

    def __init__(self, arm_settings: dict[str, Settings], load_with: Settings) -> None:
        self.arm_settings, self.load_with = arm_settings, load_with
        self.data: Dataset | None = None
        self.memory: MemoryGraph | None = None
        self.pools: dict[str, Recommendations] = {}
        self.shown: dict[str, list[str]] = {}
        self.online = 0

    def start(self, data: Dataset) -> None:
        self.data = Dataset(split_log_events(data.events)[0], data.videos, ReadReport())

    def morning(self, day: int, arm_users: dict[str, set[str]], known: set[str]) -> None:
        assert self.data is not None
        self.memory = MemoryGraph.build(self.data, self.load_with)
        snap = memory_snapshot(self.memory)
        self.pools = {}
        for name, s in self.arm_settings.items():
            ids = sorted(arm_users[name] & set(snap.actions))
            size = pool_size(s, s.ranking.n)
            for item in batch_recommend(snap, s, ids, n=size, depth=s.candidates.depth):
                if isinstance(item, Recommendations):
                    self.pools[item.user_id] = item

    def show(self, user_id: str, arm: str, n: int, at: int) -> list[str]:
        assert self.memory is not None
        s = self.arm_settings[arm]
        if user_id not in self.pools:
            size = pool_size(s, s.ranking.n)
            self.pools[user_id] = recommend(self.memory, user_id, s, n=size, allow_unknown=True)
            self.online += 1
        recs = rotate(self.pools[user_id], self.shown.get(user_id, []), n)
        shown = [r.video_id for r in recs.recommendations]
        self.shown[user_id] = [*self.shown.get(user_id, []), *shown][-120:]
        return shown

    def end_of_round(self) -> None:
        pass

    def night(self, day_log: Dataset) -> None:
        assert self.data is not None
        new = split_log_events(day_log.events)[0]
        events = pd.concat([self.data.events, new], ignore_index=True)
        self.data = Dataset(events, self.data.videos, ReadReport())


def memory_snapshot(memory: MemoryGraph) -> Snapshot:
    """The batch ranker's Snapshot of a MemoryGraph: videos coded in id order, each R_i's edges
    grouped by source in rank order (the order the MemoryGraph expands them)."""
    ids = sorted(memory.videos)
    codes = {v: i for i, v in enumerate(ids)}
    rows = [
        (codes[src], codes[d], r, sc, w)
        for src in ids
        for d, r, sc, w in memory.related.get(src, ())
    ]
    cols = np.array(rows, dtype=np.float64).reshape(-1, 5)
    edges: dict[str, np.ndarray] = {
        "src": cols[:, 0].astype(np.int32),
        "dst": cols[:, 1].astype(np.int32),
        "rank": cols[:, 2],
        "score": cols[:, 3],
        "weight": cols[:, 4],
    }
    snap = Snapshot(memory.videos, memory.actions, ids, edges, None)
    # The figures a snapshot read from Neo4j carries, from the MemoryGraph's own reads.
    snap.cache["catalog_stats"] = memory.catalog_stats()
    snap.cache["popular"] = memory.popular([], POPULAR_HEAD)
    return snap


def simulate(
    world: str | Path,
    experiment: Experiment,
    settings: Settings,
    *,
    out: str | Path,
    days: int = 21,
    n: int = 4,
    seed: int = 0,
    engine: str = "neo4j",
    graph: Graph | None = None,
    server: Neo4jSettings | None = None,
    keep_server: bool = False,
    echo: Echo | None = stderr_line,
) -> SimulationSummary:
    """Run the simulated test of the module doc; writes ``out/day-NN.csv``. ``engine="neo4j"``
    empties the database it uses: ``graph``, else ``server`` (default ``sim_neo4j_settings``), a
    managed server; ``"memory"`` ranks from a MemoryGraph instead (no server, faster)."""
    t_start = time.perf_counter()
    say: Echo = echo or (lambda _m: None)
    if days < 1:
        raise InputError("simulate: days must be at least 1")
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    cfg = read_world_config(world)
    world_dir = Path(world)
    data = read_canonical([world_dir / "events.csv.gz"], world_dir / "videos.csv")
    made, _, latent = generate_world_state(cfg)
    if len(data.events) != len(made) or data.report.rejected:
        raise InputError(f"{world}: the files are not the world its world.json describes")
    arm_settings = {a.name: a.settings(settings) for a in experiment.arms if a.is_ytgraph}
    for s in arm_settings.values():
        check_depth(s.candidates.depth)
        if s.ranking.n < n:
            s.ranking.n = n
    counting = {fingerprint(s) for s in arm_settings.values()}
    if len(counting) > 1:
        raise ConfigError(
            "simulate: the ytgraph arms change counting settings ([sessions], [related]); "
            "a simulation runs one graph"
        )
    load_settings = next(iter(arm_settings.values()), settings)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("day-*.csv"):
        old.unlink()
    state = out_dir / "state"
    shutil.rmtree(state, ignore_errors=True)

    assignment = experiment.assign_all(latent.user_ids.tolist())
    arm_of = np.array([assignment[u] for u in latent.user_ids.tolist()], dtype=object)
    summary = SimulationSummary(
        experiment=experiment.name,
        days=days,
        n=n,
        users=len(arm_of),
        arms={a.name: int((arm_of == a.name).sum()) for a in experiment.arms},
        world=str(world_dir),
        control=experiment.control,
    )
    rng = np.random.default_rng(seed)
    v_index = {v: i for i, v in enumerate(latent.video_ids.tolist())}
    conn = None
    try:
        lists: _Neo4jLists | _MemoryLists
        if engine == "memory":
            lists = _MemoryLists(arm_settings, load_settings)
        else:
            if graph is None:
                from ytgraph.db.connect import resolve

                conn = resolve(server or sim_neo4j_settings(settings), echo=say)
                graph = Graph(conn.driver, conn.database)
            lists = _Neo4jLists(graph, arm_settings, load_settings, state)
        t0 = time.perf_counter()
        lists.start(data)
        say(
            f"ytgraph: read the world's {len(data.events):,} events in {time.perf_counter() - t0:.1f}s"
        )
        events = data.events[list(EVENT_COLUMNS)]
        watched: dict[str, set[str]] = {
            str(u): set(g)
            for u, g in events[events["event"] == "watch"].groupby("user_id")["video_id"]
        }
        for day in range(days):
            stats = _day(
                day, lists, experiment, latent, arm_of, events, watched, rng, n, settings,
                out_dir, v_index,
            )  # fmt: skip
            t0 = time.perf_counter()
            path = out_dir / f"day-{day + 1:02d}.csv"
            day_data = read_canonical([path])
            lists.night(day_data)
            stats["load_s"] = round(time.perf_counter() - t0, 2)
            new = day_data.events
            new = new[new["event"].isin(("watch", "like", "favorite", "rate", "playlist_add"))]
            events = pd.concat([events, new[list(EVENT_COLUMNS)]], ignore_index=True)
            for u, g in new[new["event"] == "watch"].groupby("user_id")["video_id"]:
                watched.setdefault(str(u), set()).update(g)
            summary.per_day.append(stats)
            summary.files.append(str(path))
            for key in ("visits", "impressions", "clicks", "watches"):
                setattr(summary, key, getattr(summary, key) + stats[key])
            say(
                f"ytgraph: day {day + 1}/{days}: {stats['visits']:,} visits, "
                f"{stats['impressions']:,} impressions, {stats['clicks']:,} clicks; precompute "
                f"{stats['precompute_s']}s, serve {stats['serve_s']}s ({stats['served_online']} "
                f"lists online), load {stats['load_s']}s"
            )
    finally:
        if conn is not None:
            conn.close()
            if conn.started and not keep_server and conn.server is not None:
                conn.server.stop()
    summary.seconds = time.perf_counter() - t_start
    return summary


def _day(
    day: int,
    lists: _Neo4jLists | _MemoryLists,
    experiment: Experiment,
    latent: Latent,
    arm_of: np.ndarray,
    events: pd.DataFrame,
    watched: dict[str, set[str]],
    rng: np.random.Generator,
    n: int,
    settings: Settings,
    out_dir: Path,
    v_index: dict[str, int],
) -> dict[str, Any]:
    """One day: pools and charts in the morning, the visits, the day's log written."""
    start = latent.end + day * DAY
    stats: dict[str, Any] = {"day": day + 1}
    t0 = time.perf_counter()
    arm_users = {a.name: set(latent.user_ids[arm_of == a.name].tolist()) for a in experiment.arms}
    lists.morning(day, arm_users, set(watched))
    stats["precompute_s"] = round(time.perf_counter() - t0, 2)
    charts = _charts(events, start, settings)

    visits = 1 + np.minimum(rng.poisson(0.5 * latent.activity), MAX_VISITS - 1)
    times = [
        np.sort(rng.integers(start + 6 * 3600, start + 23 * 3600, size=int(k))) for k in visits
    ]
    imp_rows: list[dict[str, Any]] = []
    acts: list[pd.DataFrame] = []
    serve_s = 0.0
    online = lists.online
    for r in range(int(visits.max())):
        who = np.flatnonzero(visits > r)
        users: list[int] = []
        vids: list[int] = []
        pos: list[int] = []
        at: list[int] = []
        t1 = time.perf_counter()
        for ui in who.tolist():
            uid, arm, ts = str(latent.user_ids[ui]), str(arm_of[ui]), int(times[ui][r])
            a = experiment.arm(arm)
            if a.is_ytgraph:
                shown = lists.show(uid, arm, n, ts)
            else:
                shown = top_excluding(charts[CHART_OF[str(a.baseline)]], watched.get(uid, ()), n)
            for p, vid in enumerate(shown, start=1):
                imp_rows.append(Impression(uid, vid, ts, p, arm, "browse").row())
                users.append(ui)
                vids.append(v_index[vid])
                pos.append(p)
                at.append(ts)
        lists.end_of_round()
        serve_s += time.perf_counter() - t1
        if users:
            acts.append(
                behave(rng, latent, np.array(users), np.array(vids), np.array(pos), np.array(at))
            )
    stats["serve_s"] = round(serve_s, 2)
    stats["served_online"] = lists.online - online
    log = pd.concat([pd.DataFrame(imp_rows, columns=list(LOG_COLUMNS)), *acts], ignore_index=True)
    log = log.sort_values(["timestamp", "user_id"], kind="stable")[list(LOG_COLUMNS)]
    log["position"] = log["position"].astype("Int64")
    log.to_csv(out_dir / f"day-{day + 1:02d}.csv", index=False)
    kinds = log["event"].value_counts()
    stats.update(
        visits=int(visits.sum()),
        impressions=int(kinds.get("impression", 0)),
        clicks=int(kinds.get("click", 0)),
        watches=int(kinds.get("watch", 0)),
    )
    return stats


def log_files(out: str | Path) -> Sequence[Path]:
    """The day logs a simulation wrote into ``out``, in day order."""
    return sorted(Path(out).glob("day-*.csv"))

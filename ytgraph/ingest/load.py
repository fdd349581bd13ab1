"""Load canonical tables into Neo4j: events → sessions → c_ij → R_i, plus videos, users and actions.

A load is idempotent (an event already loaded is skipped) and incremental: only what the new events
change is written, and the result equals one load of all events together (the count state beside
Neo4j makes that exact). Readers never see half of one: the new related lists -- millions of edges
when the scores move -- are *staged* beside the old ones in transactions of ``[load] part_size``
edges under a fresh list generation, then one last transaction writes everything else and
*switches* each changed video's pointer (``Video.rgen``) to the new lists; readers follow only
``r.gen = v.rgen``. The old edges are pruned afterwards. A load that fails before the switch takes
back what it staged; one killed there is cleaned up by the next (the meta node says so).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast, overload

import numpy as np
import pandas as pd

from loaders.schema import VIDEO_COLUMNS, Dataset, split_log_events
from loaders.youtube2008 import MAX_RELATED
from ytgraph.config import Settings, cache_dir
from ytgraph.console import Echo, Progress, stderr_line
from ytgraph.db.graph import Graph, Writer
from ytgraph.db.server import ManagedServer
from ytgraph.errors import GraphError
from ytgraph.ingest import bulk, lists
from ytgraph.ingest.covisit import Covisits
from ytgraph.ingest.engines import CountEngine, open_engine
from ytgraph.ingest.retract import (
    RETRACTIONS,
    SESSION_EVENTS,
    Removals,
    apply_removals,
    removals,
    retracted,
)
from ytgraph.ingest.sessions import counted_watches
from ytgraph.ingest.staleness import catalog_moved, changed_lists, moved_videos, reaching
from ytgraph.ingest.state import CountState, StateStore

# When no long-watch threshold is configured, a watch counts as "long" (for WATCHED.long_watches and
# the seed set) at half the video's duration, or at two minutes when the duration is unknown.
DEFAULT_LONG_FRACTION = 0.5
DEFAULT_LONG_SECONDS = 120.0
ACTION_EVENTS = ("like", "favorite", "playlist_add", "rate")


@dataclass
class LoadSummary:
    """What a load did; rows read = accepted + rejected always holds."""

    read: int
    accepted: int
    rejected: int
    already_loaded: int
    new_events: int
    users_touched: int
    videos_written: int
    sessions: int
    videos_with_counts: int
    pairs: int
    related_sources_written: int
    related_edges: int
    full_rebuild: bool
    stored_pools: int  # users with a precomputed pool (ytgraph precompute)
    stale_pools: int  # of those, the ones this load (or an earlier one) made stale
    seconds: float
    state_dir: str
    rejects_file: str | None = None
    retracted: int = 0  # events a retraction took out (loaded before, or arriving retracted)
    log_events: int = 0  # impressions and clicks: accepted, but the logs' business, not stored
    bulk_import: bool = False  # a first load written by neo4j-admin database import
    import_seconds: float | None = None  # how long the admin tool ran
    related_edges_written: int = 0  # RELATED of the lists written (staged, or imported)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_state_dir(settings: Settings, key: str) -> Path:
    """One state folder per server and database (``key`` names the server: its home or URI)."""
    if settings.load.state_dir:
        return Path(settings.load.state_dir)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return cache_dir() / "state" / f"{digest}-{settings.neo4j.database}"


def wipe_graph(graph: Graph) -> None:
    """Delete every node and relationship (the schema stays), relationships first."""
    graph.run_autocommit("wipe_relationships")
    graph.run_autocommit("wipe")


def fingerprint(settings: Settings) -> str:
    """What the counts depend on: a change here means recounting everything from the events."""
    return json.dumps({"sessions": asdict(settings.sessions), "related": asdict(settings.related)})


def _row_hash(events: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per event row, the same whatever string dtype the frame came with."""
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"].astype(str),
            "video_id": events["video_id"].astype(str),
            "timestamp": events["timestamp"].astype("int64"),
            "event": events["event"].astype(str),
            "watch_seconds": events["watch_seconds"].astype("float64"),
            "rating": events["rating"].astype("float64"),
        }
    )
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def long_watches(events: pd.DataFrame, durations: pd.Series, settings: Settings) -> np.ndarray:
    """Which watches are long (seed evidence): by the [sessions] thresholds if set, else at least
    half the duration (or DEFAULT_LONG_SECONDS when the duration is unknown)."""
    s = settings.sessions
    if s.long_watch_seconds is not None or s.long_watch_fraction is not None:
        return counted_watches(events, s, durations)
    secs = events["watch_seconds"].to_numpy(dtype="float64")
    dur = events["video_id"].map(durations).to_numpy(dtype="float64")
    frac = np.divide(secs, dur, out=np.full_like(secs, np.nan), where=dur > 0)
    return np.where(np.isnan(frac), secs >= DEFAULT_LONG_SECONDS, frac >= DEFAULT_LONG_FRACTION)


def video_properties(videos: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's node properties as ``upsert_videos`` sets them: None for unknown, times as int."""
    cols = [c for c in videos.columns if c in VIDEO_COLUMNS or c == "genres"]
    props = videos[cols].astype(object).where(videos[cols].notna(), None)
    for c in cols:
        if VIDEO_COLUMNS.get(c) == "time":
            # Built as objects: a map() over ints and None would come back as floats.
            secs = videos[c].to_numpy(dtype="float64", na_value=np.nan)
            props[c] = pd.Series(
                [None if np.isnan(x) else int(x) for x in secs], index=props.index, dtype=object
            )
    return cast(list[dict[str, Any]], props.to_dict("records"))


def _video_rows(videos: pd.DataFrame) -> list[dict[str, Any]]:
    ids = videos["video_id"].tolist()
    return [
        {"video_id": vid, "props": p} for vid, p in zip(ids, video_properties(videos), strict=True)
    ]


def video_durations(videos: pd.DataFrame) -> pd.Series:
    """``duration_seconds`` by video id (the last row of a repeated id wins; unknown left out)."""
    if "duration_seconds" not in videos.columns:
        return pd.Series(dtype="float64")
    d = videos.dropna(subset=["duration_seconds"]).drop_duplicates("video_id", keep="last")
    return pd.Series(
        d["duration_seconds"].to_numpy(dtype="float64"), index=d["video_id"].to_numpy()
    )


def _pair_codes(
    frame: pd.DataFrame, pairs: pd.DataFrame | None
) -> tuple[np.ndarray, pd.Index, pd.Index, np.ndarray]:
    """(pair code of each row, user ids, video ids, rows whose pair is in ``pairs``; all when
    None): int codes instead of string keys, so grouping millions of events stays compact."""
    ucode, users = pd.factorize(frame["user_id"])
    vcode, videos = pd.factorize(frame["video_id"])
    key = ucode.astype(np.int64) * max(len(videos), 1) + vcode
    if pairs is None:
        return key, users, videos, np.ones(len(frame), dtype=bool)
    pu = users.get_indexer(pd.Index(pairs["user_id"]))
    pv = videos.get_indexer(pd.Index(pairs["video_id"]))
    known = (pu >= 0) & (pv >= 0)
    wanted = pu[known].astype(np.int64) * max(len(videos), 1) + pv[known]
    return key, users, videos, np.isin(key, wanted)


def watched_frame(
    events: pd.DataFrame,
    pairs: pd.DataFrame | None,
    durations: pd.Series,
    settings: Settings,
) -> pd.DataFrame:
    """WATCHED aggregates for the (user, video) pairs given (None: every pair), from all their
    watch events: ``user_id, video_id, count, first_at, last_at, watch_seconds, long_watches``."""
    w = events[(events["event"] == "watch").to_numpy()]
    cols = ["user_id", "video_id", "count", "first_at", "last_at", "watch_seconds", "long_watches"]
    if w.empty:
        return pd.DataFrame({c: [] for c in cols})
    key, users, videos, keep = _pair_codes(w, pairs)
    if not keep.all():
        w, key = w[keep], key[keep]
    if w.empty:
        return pd.DataFrame({c: [] for c in cols})
    long = long_watches(w, durations, settings)
    secs = w["watch_seconds"].fillna(0.0).to_numpy(dtype="float64")
    ts = w["timestamp"].to_numpy(dtype="int64")
    order = np.argsort(key, kind="stable")
    key, long, secs, ts = key[order], long[order], secs[order], ts[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    first = key[starts]
    n_videos = max(len(videos), 1)
    return pd.DataFrame(
        {
            "user_id": users.take(first // n_videos).to_numpy(dtype=object),
            "video_id": videos.take(first % n_videos).to_numpy(dtype=object),
            "count": np.diff(np.r_[starts, len(key)]).astype(np.int64),
            "first_at": np.minimum.reduceat(ts, starts),
            "last_at": np.maximum.reduceat(ts, starts),
            "watch_seconds": np.add.reduceat(secs, starts),
            "long_watches": np.add.reduceat(long.astype(np.int64), starts),
        }
    )


def watched_rows(
    events: pd.DataFrame, pairs: pd.DataFrame, durations: pd.Series, settings: Settings
) -> list[dict[str, Any]]:
    """``watched_frame`` as rows of plain values (``upsert_watched``)."""
    return records(watched_frame(events, pairs, durations, settings))


def action_frame(events: pd.DataFrame, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Explicit actions for the pairs given (None: every pair): the latest of each kind (and the
    latest rating), ``user_id, video_id, kind, at, rating, count``."""
    a = events[events["event"].isin(ACTION_EVENTS).to_numpy()]
    cols = ["user_id", "video_id", "kind", "at", "rating", "count"]
    if not a.empty and pairs is not None:
        a = a[_pair_codes(a, pairs)[3]]
    if a.empty:
        return pd.DataFrame({c: [] for c in cols})
    a = a.sort_values(["user_id", "video_id", "event", "timestamp"], kind="stable")
    grouped = a.groupby(["user_id", "video_id", "event"], sort=False)
    last = grouped.tail(1).set_index(["user_id", "video_id", "event"])
    counts = grouped.size()
    out = last.assign(count=counts).reset_index()
    return pd.DataFrame(
        {
            "user_id": out["user_id"],
            "video_id": out["video_id"],
            "kind": out["event"],
            "at": out["timestamp"].astype("int64"),
            "rating": out["rating"].astype(object).where(out["rating"].notna(), None),
            "count": out["count"].astype(int),
        }
    )


def action_rows(events: pd.DataFrame, pairs: pd.DataFrame) -> list[dict[str, Any]]:
    """``action_frame`` as rows of plain values (``upsert_actions``)."""
    return records(action_frame(events, pairs))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts of plain Python values (None for a missing rating)."""
    return cast(list[dict[str, Any]], frame.to_dict("records"))


class FrameRows(Sequence[dict[str, Any]]):
    """A frame seen as a sequence of row dicts, built a slice at a time: a batched write of
    millions of rows never holds them all as Python dicts at once."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.frame)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return records(self.frame.iloc[i])
        return records(self.frame.iloc[[i]])[0]


def lists_by_src(frame: pd.DataFrame, columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """One row per ``src`` of a frame sorted by src: each of ``columns`` (lists parallel to the
    frame) cut to that source's part."""
    src = frame["src"].to_numpy()
    if not len(src):
        return []
    # Group boundaries once, then plain list slices: far cheaper than a pandas groupby loop.
    cuts = (np.flatnonzero(src[1:] != src[:-1]) + 1).tolist()
    return [
        {"src": src[a], **{k: v[a:b] for k, v in columns.items()}}
        for a, b in zip([0, *cuts], [*cuts, len(src)], strict=True)
    ]


def changed_sources(old: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Sources whose R_i differs between two related tables (in members, order or values).

    Each row is hashed (64 bits) over what a list holds; a row of one table whose hash the other
    lacks marks its source. Cheaper than an outer merge of millions of rows, same answer (a
    collision would need two different rows with equal 64-bit hashes).
    """

    def hashed(t: pd.DataFrame) -> np.ndarray:
        key = pd.DataFrame(
            {
                "src": t["src"].astype(str),
                "dst": t["dst"].astype(str),
                "rank": t["rank"].astype("int64"),
                "cooccurrences": t["cooccurrences"].astype("int64"),
                "score": t["score"].astype("float64").round(12),
            }
        )
        return pd.util.hash_pandas_object(key, index=False).to_numpy()

    a, b = hashed(old), hashed(new)
    diff = np.concatenate(
        [
            old["src"].to_numpy(dtype=object)[~np.isin(a, b)],
            new["src"].to_numpy(dtype=object)[~np.isin(b, a)],
        ]
    )
    return np.array(sorted(set(diff.tolist())), dtype=object)


# Touched users are recounted in groups of about this many watch events: the session pairs of a
# group, not of every touched user at once, are what the counting holds in memory.
RECOUNT_EVENTS = 2_000_000


def _recount(
    engine: CountEngine,
    counts: Covisits,
    before: Sequence[tuple[pd.DataFrame, np.ndarray]],
    after: pd.DataFrame,
    users: np.ndarray,
    settings: Settings,
    durations: tuple[pd.Series, pd.Series],
) -> Covisits:
    """The counts after a load: ``counts`` minus what ``users`` contributed with their events
    before it (the rows of each (frame, mask) of ``before``) plus what they contribute with their
    events ``after`` it. Sessions are per user, so each user's part adds up on its own: users are
    recounted in groups, and only one group's rows and session pairs are held at a time."""
    touched = pd.Index(users)

    def watches(frame: pd.DataFrame, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, user codes) of the touched users' watch events among ``keep``."""
        mask = (frame["event"] == "watch").to_numpy()
        rows = np.flatnonzero(mask if keep is None else mask & keep)
        code = touched.get_indexer(frame["user_id"].to_numpy()[rows])
        return rows[code >= 0], code[code >= 0]

    if not len(users):
        return counts
    old = [(frame, *watches(frame, keep)) for frame, keep in before]
    now = watches(after, None)
    groups = max(1, -(-len(now[0]) // RECOUNT_EVENTS))
    home = np.arange(len(users)) % groups  # round robin: groups of about equal size
    delta: Covisits | None = None
    for g in range(groups):
        was = pd.concat(
            [frame.iloc[rows[home[code] == g]] for frame, rows, code in old], ignore_index=True
        )
        part = engine.covisits(
            after.iloc[now[0][home[now[1]] == g]], settings.sessions, durations[1]
        )
        part = part.combine(engine.covisits(was, settings.sessions, durations[0]), -1)
        # The groups' changes first, then one sum with the (large) counts.
        delta = part if delta is None else delta.combine(part)
    assert delta is not None
    return counts.combine(delta)


def _counts_changed(old: Covisits | None, new: Covisits) -> tuple[np.ndarray, np.ndarray]:
    """(video ids, c_i) for videos whose c_i differs from the old counts (0 for videos that lost
    their last session, e.g. pushed out by the session cap)."""
    new_c = pd.Series(new.counts, index=new.videos)
    if old is None:
        return new_c.index.to_numpy(dtype=object), new_c.to_numpy()
    old_c = pd.Series(old.counts, index=old.videos)
    ids = new_c.index.union(old_c.index)
    before = old_c.reindex(ids, fill_value=0).to_numpy()
    after = new_c.reindex(ids, fill_value=0).to_numpy()
    mask = before != after
    return ids.to_numpy(dtype=object)[mask], after[mask]


def load(
    dataset: Dataset,
    settings: Settings,
    graph: Graph,
    state_dir: str | Path,
    *,
    progress: Progress | None = None,
    echo: Echo | None = stderr_line,
    engine: CountEngine | None = None,
    server: ManagedServer | None = None,
) -> LoadSummary:
    """Load one dataset into the graph, incrementally on top of what is there; see the module doc.

    One load at a time per count state: a second one waits for the first (``[load]
    lock_timeout_s``, 0: refused at once with BusyError) and then builds on what it committed.
    The counting runs on ``engine``, by default the one ``[load] engine`` names (opened and closed
    here); every engine gives the same counts, so loads may switch engines freely. ``server``: the
    managed server the graph lives on, if it is ytgraph's own; then a large first load into an
    empty graph goes through ``neo4j-admin database import`` (``ingest.bulk``).
    """
    # The lock spans reconcile ... promote: two loads interleaved there would commit against one
    # state, and one's events would be lost or its pending state renamed under the other.
    with (
        open_engine(settings.load, engine) as counter,
        StateStore(state_dir).locked(settings.load.lock_timeout_s, echo=echo),
    ):
        return _load_locked(
            dataset,
            settings,
            graph,
            state_dir,
            counter,
            progress=progress,
            echo=echo,
            server=server,
        )


def _graph_state(graph: Graph, state_dir: Path) -> tuple[str | None, bool, int]:
    """(the graph's state id, whether it holds a half-done bulk import to redo, the list
    generation this load stages); see ``ingest.bulk`` for the marker this reads."""
    interrupted = bulk.pending_import(state_dir)
    if interrupted is not None:
        try:
            (meta,) = graph.run("meta_get")
        except GraphError:  # the half-imported database may not even start
            return None, True, 1
        if meta["state_id"] != interrupted:
            return None, True, 1
        bulk.marker(state_dir).unlink(missing_ok=True)  # it committed: only the clean-up was left
    graph.run_script("schema")
    (meta,) = graph.run("meta_get")
    return meta["state_id"], False, lists.recover(graph, meta)


def _use_bulk(
    settings: Settings,
    graph: Graph,
    server: ManagedServer | None,
    n_events: int,
    redo: bool,
    echo: Echo,
) -> bool:
    """Whether this first load goes through the admin import (see ``ingest.bulk``)."""
    if redo:
        if server is None:
            raise GraphError(
                "an interrupted neo4j-admin import left this graph half-written: rerun the load "
                "against ytgraph's managed server, or `ytgraph reset`"
            )
        return True
    least = settings.load.bulk_import_min_events
    if least < 0 or n_events < least:
        return False
    (row,) = graph.run("graph_empty")
    if not row["empty"]:
        return False
    if server is None:
        echo(
            "ytgraph: the server is not ytgraph's managed one, so this first load goes through "
            "driver transactions instead of neo4j-admin import (which stops the server)"
        )
        return False
    return True


def _load_locked(
    dataset: Dataset,
    settings: Settings,
    graph: Graph,
    state_dir: str | Path,
    engine: CountEngine,
    *,
    progress: Progress | None = None,
    echo: Echo | None = None,
    server: ManagedServer | None = None,
) -> LoadSummary:
    """``load`` with the count state's lock held, counting on ``engine``."""
    t0 = time.perf_counter()
    step: Progress = progress or (lambda _s, _d, _t: None)
    say: Echo = echo or (lambda _m: None)
    store = StateStore(state_dir)
    graph_id, redo, gen = _graph_state(graph, store.path)
    old = store.reconcile(graph_id)
    step("events", 0, 1)

    # 1. Events: drop what was loaded before (and exact repeats), so a reload changes nothing.
    # Impressions and clicks are skipped: they belong to the logs (ytgraph abtest report).
    kept, logged = split_log_events(dataset.events)
    # Frames of millions of rows are copied only when rows really go: each copy is ~50 bytes a row.
    repeated = kept.duplicated().to_numpy()
    incoming = _ranged(kept[~repeated] if repeated.any() else kept)
    seen = np.isin(_row_hash(incoming), _row_hash(old.events)) if len(old.events) else None
    new = _ranged(incoming[~seen]) if seen is not None and seen.any() else incoming
    already = len(kept) - len(new)
    n_old = len(old.events)
    first = graph_id is None and not n_old
    events = pd.concat([old.events, new], ignore_index=True) if n_old else new
    old = replace(old, events=old.events.iloc[:0])  # the concat holds them: one copy, not two
    from_old = np.arange(len(events)) < n_old  # (what the old counts were counted from)
    # Retractions take their events out (the retraction rows stay, for events arriving later).
    out = retracted(events)
    lives = ~out[len(events) - len(new) :] & ~new["event"].isin(RETRACTIONS).to_numpy()
    arrived_ids = pd.unique(new["video_id"].to_numpy()[lives])  # videos of live new events
    if out.any():
        events, dropped = events[~out].reset_index(drop=True), events[out]
        from_old, dropped_old = from_old[~out], from_old[out]
    else:
        dropped, dropped_old = events.iloc[:0], np.zeros(0, dtype=bool)

    durations = old.durations.copy()
    given = video_durations(dataset.videos)
    if len(given):
        durations = pd.concat([durations[~durations.index.isin(given.index)], given])

    step("events", 1, 1)
    use_bulk = first and _use_bulk(settings, graph, server, len(events), redo, say)

    # 2. Counts: all again when the counting settings changed, else old - touched users' old + new.
    fp = fingerprint(settings)
    full = old.covisits is None or old.fingerprint != fp
    step("count", 0, 1)
    if full:
        cov = engine.covisits(events, settings.sessions, durations)  # it keeps the watches
    else:
        assert old.covisits is not None
        users = new.loc[new["event"].isin(SESSION_EVENTS), "user_id"].unique()
        cov = _recount(
            engine,
            old.covisits,
            [(events, from_old), (dropped, dropped_old)],  # the old events, as they were
            events,
            users,
            settings,
            (old.durations, durations),
        )
    step("count", 1, 1)
    step("related", 0, 1)
    related = engine.related(cov, settings.related)
    step("related", 1, 1)

    sources = (
        np.union1d(
            related["src"].unique().astype(object), old.related["src"].unique().astype(object)
        )
        if full
        else changed_sources(old.related, related)
    )
    count_ids, count_values = _counts_changed(old.covisits, cov)
    old = replace(old, covisits=None)  # tens of millions of pairs, not needed past this point

    # 3. Graph rows: only the (user, video) pairs with new events, videos with metadata given.
    step("rows", 0, 1)
    # A first load writes every pair: no need to list them, nor to look each event's pair up.
    pairs = None if first else new[["user_id", "video_id"]].drop_duplicates()
    seen_ids = np.union1d(arrived_ids.astype(object), count_ids)
    watched_table = watched_frame(events, pairs, durations, settings)
    action_table = action_frame(events, pairs)
    state = CountState(
        events=events,
        durations=durations,
        covisits=cov,
        related=related,
        fingerprint=fp,
        state_id=CountState.new_id(),
        catalog=catalog_of(old.catalog, dataset),
    )
    if use_bulk:
        assert server is not None
        step("rows", 1, 1)
        step("count state", 0, 1)
        store.write_pending(state)
        step("count state", 1, 1)
        tables = bulk.FirstLoad(
            videos=bulk.video_table(
                dataset.videos, seen_ids, (count_ids, count_values), dataset.crawl_related
            ),
            watched=watched_table,
            actions=action_table,
            related=related,
            channels=_links(dataset.videos, "channel_id"),
            categories=_links(dataset.videos, "category"),
            crawl=dataset.crawl_related,
        )
        imported_in = bulk.import_first_load(
            tables, graph, server, store.path, state.state_id, step, say
        )
        del tables
        (pools,) = graph.run("stale_count")
        store.promote()
        graph.cache.clear()
        return _summary(
            dataset,
            (already, new, pairs, dropped, len(logged)),
            (cov, related, full),
            (len(dataset.videos), len(sources), len(related)),
            pools,
            t0,
            state_dir,
            import_seconds=imported_in,
        )
    video_rows = _video_rows(dataset.videos) if len(dataset.videos) else []
    watched = FrameRows(watched_table)
    actions = FrameRows(action_table)
    rel_rows = lists.RelatedRows(related, sources)
    step("rows", 1, 1)
    crawl_rows: list[dict[str, Any]] = []
    if dataset.crawl_related is not None and len(dataset.crawl_related):
        c = dataset.crawl_related.sort_values(["src", "position"], kind="stable")
        crawl_rows = lists_by_src(
            c, {"dst": c["dst"].tolist(), "position": c["position"].astype(int).tolist()}
        )

    catalog = state.catalog
    gone = removals(events, dropped, catalog, _listed(graph, catalog, dropped))
    step("count state", 0, 1)
    store.write_pending(state)
    step("count state", 1, 1)
    batch = settings.load.batch_size
    (pools,) = graph.run("stale_count")
    marking = pools["pools"] > 0
    quality_before: list[dict[str, Any]] = []
    catalog_before: list[dict[str, Any]] = []
    quality_ids = np.union1d(np.array([r["video_id"] for r in video_rows], dtype=object), count_ids)
    if marking:
        quality_before = graph.run("video_quality", ids=quality_ids.tolist())
        catalog_before = graph.run("catalog_stats")
    staged = rel_rows.sources()
    # Every video the load names, in the order a write without staging would create them (the
    # table's, then the rest): node order decides the order of the server's sums (catalogue).
    table_ids = pd.unique(np.array([r["video_id"] for r in video_rows], dtype=object))
    staged_videos = pd.unique(np.concatenate([table_ids, seen_ids.astype(object)]))
    try:
        lists.stage(graph, rel_rows, staged_videos, gen, settings.load, step)
        _switch(
            graph,
            state.state_id,
            gen,
            staged,
            (video_rows, staged_videos, watched, actions, crawl_rows, count_ids, count_values),
            gone,
            dataset,
            settings,
            step,
            stale=(
                (full, new, (old.related, related), quality_ids, quality_before, catalog_before)
                if marking
                else None
            ),
        )
    except BaseException:
        lists.unstage(graph, staged, staged_videos, gen, batch)
        raise
    (pools,) = graph.run("stale_count")
    store.promote()
    graph.cache.clear()  # catalogue figures and the popular list changed
    lists.prune(graph, staged, batch, step)

    return _summary(
        dataset,
        (already, new, pairs, dropped, len(logged)),
        (cov, related, full),
        (len(video_rows), len(rel_rows), int((rel_rows.ends - rel_rows.starts).sum())),
        pools,
        t0,
        state_dir,
    )


def _switch(
    graph: Graph,
    state_id: str,
    gen: int,
    sources: np.ndarray,
    rows: tuple[Any, ...],
    gone: Removals,
    dataset: Dataset,
    settings: Settings,
    step: Progress,
    stale: tuple[Any, ...] | None,
) -> None:
    """The load's last transaction: the count state's id and list generation, videos, users,
    actions and counts, the pointers to the staged lists, and the stale marks."""
    video_rows, videos, watched, actions, crawl_rows, count_ids, count_values = rows
    batch = settings.load.batch_size
    with graph.transaction() as tx:
        # The generation first: it write-locks the meta node, which a batch storing pools locks
        # too, so a pool computed before this load is never stored as fresh (serve.precompute).
        tx.run("meta_switch", state_id=state_id, gen=gen)
        _write(tx, "upsert_videos", video_rows, batch, step)
        _write(tx, "ensure_videos", videos.tolist(), batch, step)
        for name, column in (("link_channels", "channel_id"), ("link_categories", "category")):
            links = _links(dataset.videos, column)
            if links is not None:
                _write(tx, name, links.to_dict("records"), batch, step)
        _write(tx, "upsert_watched", watched, batch, step)
        _write(tx, "upsert_actions", actions, batch, step)
        apply_removals(tx, gone, batch)
        _write(tx, "set_video_counts", count_rows(count_ids, count_values), batch, step)
        lists.switch(tx, sources, gen, batch, step)
        _write(tx, "replace_crawl_related", crawl_rows, batch, step, per_row=MAX_RELATED)
        if stale is not None:
            full, new, tables, quality_ids, quality_before, catalog_before = stale
            tolerance = settings.serving.stale_tolerance
            _mark_stale(tx, settings, full, new, tables, batch)
            moved = moved_videos(
                quality_before, tx.run("video_quality", ids=quality_ids.tolist()), tolerance
            )
            tx.run("stale_mark_pool_users", moved=dict.fromkeys([*moved, *gone.videos], True))
            if catalog_moved(
                catalog_before[0] if catalog_before else {},
                tx.run("catalog_stats")[0],
                tolerance,
                settings.ranking.freshness_half_life_days,
            ):
                tx.run("stale_mark_all")


def _summary(
    dataset: Dataset,
    events: tuple[int, pd.DataFrame, pd.DataFrame | None, pd.DataFrame, int],
    counts: tuple[Covisits, pd.DataFrame, bool],
    written: tuple[int, int, int],
    pools: dict[str, Any],
    t0: float,
    state_dir: str | Path,
    import_seconds: float | None = None,
) -> LoadSummary:
    """The LoadSummary of a load: (already loaded, new, their pairs, retracted, impressions and
    clicks skipped), (counts, R, full recount), (videos, related sources, RELATED written)."""
    already, new, _pairs, dropped, logged = events
    cov, related, full = counts
    report = dataset.report
    return LoadSummary(
        read=report.read,
        accepted=report.accepted,
        rejected=report.rejected,
        already_loaded=already,
        new_events=len(new),
        users_touched=int(new["user_id"].nunique()),
        videos_written=written[0],
        sessions=int(cov.n_sessions),
        videos_with_counts=len(cov.videos),
        pairs=int(cov.pairs.nnz // 2),
        related_sources_written=written[1],
        related_edges_written=written[2],
        related_edges=len(related),
        full_rebuild=full,
        stored_pools=int(pools["pools"]),
        stale_pools=int(pools["stale"]),
        seconds=time.perf_counter() - t0,
        state_dir=str(state_dir),
        retracted=len(dropped),
        log_events=logged,
        bulk_import=import_seconds is not None,
        import_seconds=import_seconds,
    )


def _ranged(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the index 0..n-1, copied only when it had another."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def _links(videos: pd.DataFrame, column: str) -> pd.DataFrame | None:
    """(video_id, column) of the videos that have one, as ``link_channels``/``link_categories``."""
    if column not in videos.columns:
        return None
    return videos.dropna(subset=[column])[["video_id", column]]


def count_rows(ids: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
    """``set_video_counts`` rows; a video left without sessions loses the property (None), as a
    fresh load never sets it."""
    return [{"video_id": v, "sessions": int(c) or None} for v, c in zip(ids, values, strict=True)]


def catalog_of(old: set[str] | None, dataset: Dataset) -> set[str] | None:
    """The video ids any videos table or crawl named so far (None stays unknown)."""
    if old is None:
        return None
    ids = set(dataset.videos["video_id"].astype(str)) if len(dataset.videos) else set()
    crawl = dataset.crawl_related
    if crawl is not None and len(crawl):
        ids |= set(crawl["src"].astype(str)) | set(crawl["dst"].astype(str))
    return old | ids


def _listed(graph: Graph, catalog: set[str] | None, removed: pd.DataFrame) -> set[str]:
    """With no catalogue (an older state), the removed events' videos that carry metadata."""
    if catalog is not None or removed.empty:
        return set()
    ids = removed["video_id"].unique().tolist()
    return {r["video_id"] for r in graph.run("videos_listed", ids=ids)}


def _mark_stale(
    tx: Writer,
    settings: Settings,
    full: bool,
    new: pd.DataFrame,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    batch: int,
) -> None:
    """Mark the stored pools this load can have changed (see ``ingest.staleness``): all after a
    recount, else the users with new actions and the users whose seeds reach a changed R_i."""
    if full:
        tx.run("stale_mark_all")
        return
    tx.batches("stale_mark_users", new["user_id"].unique().tolist(), batch)
    c = settings.candidates
    by_score = settings.ranking.strength == "score"
    changed = changed_lists(
        tables[0], tables[1], settings.serving.stale_tolerance, c.per_hop, by_score
    )
    seeds = reaching(changed, tables, c.depth - 1, c.per_hop)
    tx.batches("stale_mark_seed_users", seeds.tolist(), batch)


def _write(
    tx: Writer,
    name: str,
    rows: Sequence[Any],
    batch: int,
    step: Progress,
    per_row: int = 1,
    **params: Any,
) -> None:
    """``rows`` in batches of about ``batch`` items, where a row carries up to ``per_row`` of them
    (a source's whole list): fewer rows per batch."""
    if not rows:
        return
    batch = max(1, batch // max(1, per_row))
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        step(name, done, len(rows))

    step(name, 0, len(rows))
    tx.batches(name, rows, batch, progress=advance, **params)

"""Forget users: take everything held about them out of the count state, the graph and the log.

``forget`` leaves the graph and the count state exactly as a fresh load of the events without those
users would have made them: their sessions come out of c_i and c_ij (sessions are per user, so
subtracting them is exact), only the R_i lists that changed are rewritten, their User nodes go with
everything attached (actions, stored pool, what they were shown), and so do the videos only their
events had created. The stored pools that depended on what changed are marked stale, as a load
marks them. Like a load it is one write transaction, with the count state written as pending and
promoted after the commit; their rows in the impressions log go after the commit too, so an
interrupted forget leaves the graph as it was, or is finished by running it again.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ytgraph.config import RelatedSettings, SessionSettings, Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.ingest import lists
from ytgraph.ingest.covisit import count
from ytgraph.ingest.load import (
    _counts_changed,
    _listed,
    _mark_stale,
    changed_sources,
    count_rows,
)
from ytgraph.ingest.related import related_lists
from ytgraph.ingest.retract import Removals, apply_removals, removals
from ytgraph.ingest.sessions import sessionize
from ytgraph.ingest.staleness import catalog_moved, moved_videos
from ytgraph.ingest.state import CountState, StateStore

IMPRESSIONS = "impressions.csv"  # the serving log in the state folder (recommendation.serve)


@dataclass
class ForgetSummary:
    """What a forget removed."""

    users: list[str]
    events: int  # rows taken out of the count state
    sessions: int  # sessions taken out of c_i and c_ij
    related_sources_written: int
    videos_deleted: int
    impressions: int  # rows taken out of the impressions log
    stale_pools: int  # stored pools now stale (this forget's or an earlier load's)
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def counting_settings(fingerprint: str) -> tuple[SessionSettings, RelatedSettings] | None:
    """The session and related settings the counts were made with (a load's fingerprint)."""
    if not fingerprint:
        return None
    data = json.loads(fingerprint)
    return SessionSettings(**data["sessions"]), RelatedSettings(**data["related"])


def impression_users(path: Path) -> set[str]:
    """The user ids in an impressions log (empty when there is none)."""
    if not path.exists():
        return set()
    with path.open(newline="", encoding="utf-8") as f:
        return {row["user_id"] for row in csv.DictReader(f)}


def drop_impressions(path: Path, users: set[str]) -> int:
    """Rewrite the impressions log without ``users``' rows (a new file, then a rename)."""
    if not path.exists():
        return 0
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    kept = [r for r in rows if r["user_id"] not in users]
    if len(kept) == len(rows):
        return 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, path)
    return len(rows) - len(kept)


def known_users(graph: Graph, state: CountState, log: Path, users: list[str]) -> set[str]:
    """Which of ``users`` anything is held about: the graph, the count state or the log."""
    held = {r["user_id"] for r in graph.run("users_known", ids=users)}
    held |= set(state.events.loc[state.events["user_id"].isin(users), "user_id"])
    return held | (impression_users(log) & set(users))


def forget(
    users: list[str],
    settings: Settings,
    graph: Graph,
    state_dir: str | Path,
    echo: Callable[[str], None] | None = None,
) -> ForgetSummary:
    """Remove ``users`` from the count state, the graph and the impressions log; see the module
    doc. An id nothing is held about is an error, and then nothing changes. It holds the count
    state's load lock, as a load does: a forget and a load never build on the same state."""
    store = StateStore(state_dir)
    with store.locked(settings.load.lock_timeout_s, echo=echo):
        return _forget_locked(users, settings, graph, store, Path(state_dir))


def _forget_locked(
    users: list[str], settings: Settings, graph: Graph, store: StateStore, state_dir: Path
) -> ForgetSummary:
    t0 = time.perf_counter()
    wanted = list(dict.fromkeys(users))
    log = Path(state_dir) / IMPRESSIONS
    graph.run_script("schema")
    (meta,) = graph.run("meta_get")
    old = store.reconcile(meta["state_id"])
    unknown = [u for u in wanted if u not in known_users(graph, old, log, wanted)]
    if unknown:
        raise NotFoundError(f"unknown user(s): {', '.join(unknown)}; nothing was changed")

    mine = old.events["user_id"].isin(wanted).to_numpy()
    kept, gone = old.events[~mine].reset_index(drop=True), old.events[mine]
    counting = counting_settings(old.fingerprint)
    cov, related, sessions = old.covisits, old.related, 0
    if counting is not None and old.covisits is not None:
        watches = gone[gone["event"] == "watch"]
        theirs = count(sessionize(watches, counting[0], old.durations))
        cov, sessions = old.covisits.combine(theirs, -1), theirs.n_sessions
        related = related_lists(cov, counting[1])
    sources = changed_sources(old.related, related)
    count_ids, count_values = (
        _counts_changed(old.covisits, cov)
        if old.covisits is not None and cov is not None
        else (np.array([], dtype=object), np.array([], dtype=np.int64))
    )
    removed = removals(kept, gone, old.catalog, _listed(graph, old.catalog, gone))
    removed.users = wanted  # the nodes go whatever is left of them

    state = CountState(
        events=kept,
        durations=old.durations,
        covisits=cov,
        related=related,
        fingerprint=old.fingerprint,
        state_id=CountState.new_id(),
        catalog=old.catalog,
    )
    top_n = counting[1].top_n if counting is not None else settings.related.top_n
    _commit(
        graph,
        settings,
        store,
        state,
        removed,
        (old.related, related),
        (count_ids, count_values),
        top_n,
    )
    (pools,) = graph.run("stale_count")
    dropped = drop_impressions(log, set(wanted))
    if state.covisits is not None:
        store.promote()
    graph.cache.clear()
    return ForgetSummary(
        users=wanted,
        events=int(mine.sum()),
        sessions=int(sessions),
        related_sources_written=len(sources),
        videos_deleted=len(removed.videos),
        impressions=dropped,
        stale_pools=int(pools["stale"]),
        seconds=time.perf_counter() - t0,
    )


def _commit(
    graph: Graph,
    settings: Settings,
    store: StateStore,
    state: CountState,
    removed: Removals,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    counts: tuple[np.ndarray, np.ndarray],
    top_n: int,
) -> None:
    """One write transaction: the users and their videos out, c_i and the changed R_i in, the
    pools that depended on them marked stale; the count state pending until it commits."""
    batch = settings.load.batch_size
    sources = changed_sources(*tables)
    quality_ids = counts[0].tolist()
    quality_before = graph.run("video_quality", ids=quality_ids)
    catalog_before = graph.run("catalog_stats")
    pairs = pd.DataFrame({"user_id": removed.users})
    if state.covisits is not None:
        store.write_pending(state)
    with graph.transaction() as tx:
        if state.covisits is not None:
            tx.run("meta_set", state_id=state.state_id)
        apply_removals(tx, removed, batch)
        tx.batches("set_video_counts", count_rows(*counts), batch)
        lists.write(tx, lists.related_rows(tables[1], sources), batch, top_n)
        _mark_stale(tx, settings, False, pairs, tables, batch)
        moved = moved_videos(
            quality_before,
            tx.run("video_quality", ids=quality_ids),
            settings.serving.stale_tolerance,
        )
        tx.run("stale_mark_pool_users", moved=dict.fromkeys([*moved, *removed.videos], True))
        if catalog_moved(
            catalog_before[0] if catalog_before else {},
            tx.run("catalog_stats")[0],
            settings.serving.stale_tolerance,
            settings.ranking.freshness_half_life_days,
        ):
            tx.run("stale_mark_all")

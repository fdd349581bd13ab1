"""Batch precomputation and serving (paper 2.5-2.6): a ranked pool per user, rotated per visit.

YouTube computed every user's recommendations in batch several times a day, ranked more than it
showed, and served a visit from that store, so a returning user saw new videos without any
recomputation. ``precompute`` stores each user's ranked *pool* (``ranking.pool``, up to 60) on the
``User`` node; ``serve`` shows ``n`` of it, preferring what the user was shown least (``rotate``),
and an ``ImpressionRecorder`` remembers what was shown::

    report = precompute(graph, settings)              # every user; then after each load:
    report = precompute(graph, settings, stale_only=True)   # only the lists a load made stale
    recorder = ImpressionRecorder(graph, log="impressions.csv")
    recs = serve(graph, "u1", settings, recorder=recorder)  # recs.source == "precomputed"
    recorder.close()

A stored pool is valid while its key (the recommender settings, pool size and depth) matches and no
load has marked it stale: a load marks exactly the users whose pool can have changed (see
``ingest.load``), so after a day of new events most pools stay valid. Without a valid pool ``serve``
computes the pool online and rotates it the same way. With no impressions yet, the first ``n`` of a
pool are exactly ``recommend(n)``. A long-lived process passes a ``PoolCache`` (``poolcache``): the
same lists from memory, with no round trip while the graph stays at one generation.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ytgraph.config import Settings
from ytgraph.console import Progress, stderr_line
from ytgraph.db.graph import Graph
from ytgraph.errors import YtGraphError
from ytgraph.recommendation.batch import (
    Plan,
    Snapshot,
    backfill_items,
    batch_map,
    head_items,
    pick_items,
    snapshot,
)
from ytgraph.recommendation.candidates import CandidatePath, check_depth
from ytgraph.recommendation.poolcache import CachedPool, Item, PoolCache, UserPools
from ytgraph.recommendation.ranking import Recommendation
from ytgraph.recommendation.seeds import Seed
from ytgraph.recommendation.service import (
    Failed,
    Recommendations,
    check_n,
    check_user_id,
    list_shape,
    recommend,
)

FORMAT = 2  # version of the stored JSON; a different version is recomputed, not misread
IMPRESSION_COLUMNS = ("user_id", "video_id", "timestamp", "event", "arm", "surface", "position")


def recommendation_key(settings: Settings, pool: int, depth: int) -> str:
    """What a stored pool depends on besides the graph: pool size, depth and every seed, candidate
    and ranking setting. Equal keys mean ``recommend`` would rank the same pool on the same graph
    (the graph's changes are tracked by the stale marks a load sets, not by the key)."""
    parts = {
        "format": FORMAT,
        "pool": pool,
        "depth": depth,
        # vars(), not dataclasses.asdict(): these sections are flat, and asdict's deep copy was
        # most of the cost of a served request's key.
        "seeds": vars(settings.seeds),
        "candidates": {**vars(settings.candidates), "depth": depth},
        "ranking": {**vars(settings.ranking), "n": pool},
    }
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def pool_size(settings: Settings, n: int) -> int:
    """How many a pool holds: ``ranking.pool``, and never fewer than the list shown from it."""
    return check_n(max(settings.ranking.pool, n))


# ------------------------------------------------------------------------------ stored form
# A pool is stored as a small header (format, shape, seeds) and one compact JSON string per item,
# so a visit fetches and decodes only the n items it shows, not all 60 with their paths.


# json.dumps(x, separators=(",", ":")) exactly, without making an encoder for every call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def dump(recs: Recommendations) -> tuple[str, list[str]]:
    """A pool as (header, items): everything ``serve`` needs to give back the same list."""
    header = _header(recs.n, recs.depth, recs.known_user,
                     [(s.video_id, s.title, s.weight, s.reasons) for s in recs.seeds])  # fmt: skip
    items = [
        _item(r.video_id, r.title, r.score, r.signals, r.because,
              [(p.videos, p.scores, p.weights) for p in r.paths], r.channel_id, r.category)
        for r in recs.recommendations
    ]  # fmt: skip
    return header, items


def _header(
    n: int, depth: int, known_user: bool, seeds: Iterable[tuple[str, str | None, float, Any]]
) -> str:
    """A pool's stored header: format, shape and seeds (id, title, weight, reasons)."""
    return _encode(
        {
            "format": FORMAT,
            "n": n,
            "depth": depth,
            "known_user": known_user,
            "seeds": [[v, title, weight, list(why)] for v, title, weight, why in seeds],
        }
    )


def _item(
    vid: str,
    title: str | None,
    score: float,
    signals: dict[str, float],
    because: dict[str, Any],
    paths: Sequence[tuple[Sequence[str], Sequence[float], Sequence[float]]],
    channel: str | None,
    category: str | None,
) -> str:
    """One stored item: the fields ``decode_item`` reads, each path its [videos, edge scores,
    edge weights] (tuples and lists encode alike)."""
    return _encode([vid, title, score, signals, because, channel, category, paths])


def stored_pool(
    snap: Snapshot, plan: Plan, settings: Settings, size: int, depth: int
) -> dict[str, Any]:
    """A batch plan's pool as a row of ``store_recommendations`` (but its key): user, header,
    items and video ids; the strings are ``dump``'s of the same list, made from the plan with no
    ``Recommendation`` objects between (``batch_map`` runs this in its workers). A popular
    backfill item is the same for every user: it is encoded once per snapshot."""
    ids, items = [], []
    for vid, title, score, signals, because, paths, channel, category in pick_items(snap, plan):
        ids.append(vid)
        items.append(_item(vid, title, score, signals, because, paths, channel, category))
    if plan.backfill is None:
        for vid, title, score, signals, because, paths, channel, category in backfill_items(
            snap, plan, settings, size
        ):
            ids.append(vid)
            items.append(_item(vid, title, score, signals, because, paths, channel, category))
    else:
        head_ids, head = _head_items(snap)
        ids += [head_ids[i] for i in plan.backfill]
        items += [head[i] for i in plan.backfill]
    header = _header(size, depth, True, plan.seeds)  # a plan is of a user with actions
    return {"user_id": plan.user_id, "header": header, "items": items, "ids": ids}


def _head_items(snap: Snapshot) -> tuple[list[str], list[str]]:
    """The video ids and stored items of the snapshot's popular head, once per snapshot."""
    out = snap.cache.get("stored head items")
    if out is None:
        head = head_items(snap)
        out = snap.cache["stored head items"] = (
            [f[0] for f in head],
            [_item(*f) for f in head],
        )
    return out


def parse(
    user_id: str,
    header: str,
    items: Sequence[str],
    n: int | None = None,
    source: str = "precomputed",
) -> Recommendations | None:
    """The Recommendations of ``dump`` (``items`` may be any of the pool's, in pool order, ranked
    1..len; ``n`` is the list length asked for, default the pool's), or None if the header is of
    another format."""
    data = json.loads(header)
    if data.get("format") != FORMAT:
        return None
    recommendations = [parse_item(text, rank) for rank, text in enumerate(items, start=1)]
    return Recommendations(
        user_id=user_id,
        recommendations=recommendations,
        seeds=[Seed(v, t, w, tuple(why)) for v, t, w, why in data["seeds"]],
        known_user=data["known_user"],
        n=data["n"] if n is None else n,
        depth=data["depth"],
        source=source,
    )


def parse_item(text: str, rank: int) -> Recommendation:
    """One item of ``dump``, at ``rank``."""
    return thaw(decode_item(text), rank)


def decode_item(text: str) -> Item:
    """One item of ``dump`` as tuples of strings and numbers only: the cyclic GC stops scanning
    those, so a cache can hold many (a dict, even of numbers, keeps its tuple scanned)."""
    vid, title, score, signals, because, channel, category, paths = json.loads(text)
    frozen = tuple((tuple(v), tuple(s), tuple(w)) for v, s, w in paths)
    return (vid, title, score, tuple(signals.items()), tuple(because.items()), channel, category,
            frozen)  # fmt: skip


def thaw(item: Item, rank: int) -> Recommendation:
    """The Recommendation of a decoded item, at ``rank``, with its own dicts and path list."""
    vid, title, score, signals, because, channel, category, paths = item
    return Recommendation(
        video_id=vid,
        title=title,
        score=score,
        signals=dict(signals),
        because=dict(because),
        paths=[CandidatePath(v[0], v, s, w) for v, s, w in paths],
        channel_id=channel,
        category=category,
        rank=rank,
    )


# ------------------------------------------------------------------------------ rotation


def pick(ids: Sequence[str], shown: Sequence[str], n: int) -> list[int]:
    """The places (0-based, ascending) of the ``n`` pool items the user was shown least
    (``shown``: video ids, once per impression), ties by pool rank: ``serve_pool.cypher``'s rule."""
    if not shown:
        return list(range(min(n, len(ids))))
    times = Counter(shown)
    return sorted(sorted(range(len(ids)), key=lambda i: (times[ids[i]], i))[:n])


def rotate(pool: Recommendations, shown: Sequence[str], n: int) -> Recommendations:
    """``n`` items of the pool: those the user was shown least (``pick``), listed in pool rank
    order and renumbered 1..n.

    With no impressions this is the pool's first ``n``; after each visit the next ones come up, and
    once every item was shown as often, the best come round again. Deterministic: the same pool
    and history give the same list.
    """
    picked = pick([r.video_id for r in pool.recommendations], shown, n)
    recs = [replace(pool.recommendations[i], rank=k) for k, i in enumerate(picked, start=1)]
    return replace(pool, recommendations=recs, n=n)


# ------------------------------------------------------------------------------ impressions


@dataclass(frozen=True)
class Impression:
    """One video shown to one user, as a canonical event row (``event`` = "impression")."""

    user_id: str
    video_id: str
    timestamp: int
    position: int
    arm: str = "ytgraph"
    surface: str = "browse"

    def row(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "video_id": self.video_id,
            "timestamp": self.timestamp,
            "event": "impression",
            "arm": self.arm,
            "surface": self.surface,
            "position": self.position,
        }


class ImpressionRecorder:
    """Buffers what was shown to whom and writes it in batches, off the request's critical path.

    Each flush appends every user's shown videos to ``User.shown`` (the last ``keep``, what the
    rotation reads; one batched write) and, with ``log``, appends the impressions as canonical
    event rows to a CSV file (the input of live evaluation). ``interval`` > 0 flushes from a
    background thread every that many seconds; ``close()`` flushes what is left.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        keep: int = 120,
        log: str | Path | None = None,
        interval: float = 0.0,
        max_buffer: int = 10_000,
    ) -> None:
        self.graph = graph
        self.keep = keep
        self.log = Path(log) if log is not None else None
        self.max_buffer = max_buffer
        self._buffer: list[Impression] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        if interval > 0:
            self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
            self._thread.start()

    def record(
        self,
        recs: Recommendations,
        *,
        at: int | None = None,
        arm: str = "ytgraph",
        surface: str = "browse",
    ) -> None:
        """Remember that ``recs`` was shown (now, unless ``at`` says when, in epoch seconds)."""
        ts = int(time.time()) if at is None else int(at)
        rows = [
            Impression(recs.user_id, r.video_id, ts, k, arm, surface)
            for k, r in enumerate(recs.recommendations, start=1)
        ]
        with self._lock:
            self._buffer.extend(rows)
            full = len(self._buffer) >= self.max_buffer
        if full and self._thread is None:
            self.flush()

    def flush(self) -> int:
        """Write what is buffered; returns how many impressions were written."""
        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return 0
        by_user: dict[str, list[str]] = {}
        for imp in rows:
            by_user.setdefault(imp.user_id, []).append(imp.video_id)
        if self.keep > 0:
            with self.graph.transaction() as tx:
                tx.batches(
                    "record_shown",
                    [{"user_id": u, "videos": v, "keep": self.keep} for u, v in by_user.items()],
                    1000,
                )
        if self.log is not None:
            _append_csv(self.log, rows)
        self.written += len(rows)
        return len(rows)

    def close(self) -> None:
        """Stop the background thread (if any) and flush."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except (
                YtGraphError,
                OSError,
            ) as e:  # serving goes on; the rows wait for the next flush
                stderr_line(f"ytgraph: impressions not written yet: {e}")


def _append_csv(path: Path, rows: list[Impression]) -> None:
    """Append impressions to a CSV with the impression columns (header once, when the file is
    new). Tuples through ``csv.writer``: a ``DictWriter`` took most of a flush, and a flush holds
    the interpreter while serving threads wait."""
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(IMPRESSION_COLUMNS)
        writer.writerows(
            (i.user_id, i.video_id, i.timestamp, "impression", i.arm, i.surface, i.position)
            for i in rows
        )


# ------------------------------------------------------------------------------ serving


def serve(
    graph: Graph,
    user_id: str,
    settings: Settings,
    *,
    n: int | None = None,
    depth: int | None = None,
    allow_unknown: bool = False,
    rotate_pool: bool | None = None,
    recorder: ImpressionRecorder | None = None,
    surface: str = "browse",
    cache: PoolCache | None = None,
) -> Recommendations:
    """``n`` videos for ``user_id`` from the stored pool when it is valid (one query), else from a
    pool computed online; rotated by what the user was shown (``serving.rotate`` unless
    ``rotate_pool`` says otherwise), and recorded by ``recorder`` if given. Same arguments and
    errors as ``recommend``.

    With ``cache`` (one per process and graph, see ``poolcache``) the pool and what the user was
    shown come from memory while the graph stays at one generation: the same lists, no round
    trip, and the impressions ``recorder`` takes count at once, before it flushes."""
    size, hops = list_shape(settings, n, depth)
    check_user_id(user_id)
    pool_n = pool_size(settings, size)
    visit = _Visit(
        user_id=user_id,
        size=size,
        depth=hops,
        pool=pool_n,
        key=recommendation_key(settings, pool_n, hops),
        rotating=settings.serving.rotate if rotate_pool is None else rotate_pool,
        allow_unknown=allow_unknown,
    )
    user = cache.user(graph, user_id, _read_user) if cache is not None else None
    if cache is None or user is None:
        recs = _serve_from_graph(graph, settings, visit)
    else:
        recs = _serve_cached(graph, settings, visit, cache, user)
    if recorder is not None:
        recorder.record(recs, surface=surface)
        if cache is not None:
            cache.shown(user_id, [r.video_id for r in recs.recommendations], recorder.keep)
    return recs


@dataclass(frozen=True)
class _Visit:
    """What one visit asks for, checked: the list length, depth, pool size and its key."""

    user_id: str
    size: int
    depth: int
    pool: int
    key: str
    rotating: bool
    allow_unknown: bool

    def online_pool(self, graph: Graph, settings: Settings) -> Recommendations:
        """The pool ranked online, for want of a valid stored one."""
        return recommend(graph, self.user_id, settings, n=self.pool, depth=self.depth,
                         allow_unknown=self.allow_unknown)  # fmt: skip


def _serve_from_graph(graph: Graph, settings: Settings, visit: _Visit) -> Recommendations:
    """A visit in one round trip: the header and the n items the rotation picks (``pick``'s rule,
    run where the pool is, so only what is shown crosses the wire)."""
    (row,) = graph.run("serve_pool", user_id=visit.user_id, n=visit.size, rotate=visit.rotating)
    if row["header"] is not None and not row["stale"] and row["recs_key"] == visit.key:
        recs = parse(visit.user_id, row["header"], row["items"], visit.size)
        if recs is not None:
            return recs
    shown = list(row["shown"] or []) if visit.rotating else []
    return rotate(visit.online_pool(graph, settings), shown, visit.size)


def _serve_cached(
    graph: Graph, settings: Settings, visit: _Visit, cache: PoolCache, user: UserPools
) -> Recommendations:
    """A visit from the cache: ``pick`` over the whole cached pool. A pool ranked online is kept
    for the rest of the generation (were a precompute to store one meanwhile, that changes the
    generation); later visits get it back as a stored pool's, without the ranking's working."""
    shown = user.shown if visit.rotating else []
    pool = user.pools.get(visit.key)
    # An unknown user's popular pool is kept, but only ``allow_unknown`` may be served it.
    if pool is not None and (user.known or visit.allow_unknown):
        return _shown_from(pool, shown, visit.size)
    online = visit.online_pool(graph, settings)
    header, items = dump(online)
    shell = parse(visit.user_id, header, [], source="online")
    assert shell is not None  # dumped just now, in this format
    cache.add(
        visit.user_id,
        visit.key,
        _cached(shell, items, [r.video_id for r in online.recommendations]),
    )
    return rotate(online, shown, visit.size)


def _read_user(graph: Graph, user_id: str) -> UserPools:
    """A user as the graph holds them now, for the cache: the stored pool only while no load
    marked it stale and it is of this format (else a visit ranks it online, as without a cache)."""
    (row,) = graph.run("stored_recommendations", user_id=user_id)
    user = UserPools(known=bool(row["known"]), shown=list(row["shown"] or []))
    shell = None if row["header"] is None or row["stale"] else parse(user_id, row["header"], [])
    if shell is not None:
        user.pools[row["recs_key"]] = _cached(shell, row["items"], row["ids"])
    return user


def _cached(shell: Recommendations, items: Sequence[str], ids: Sequence[str]) -> CachedPool:
    """A pool for the cache, none of its items decoded yet."""
    return CachedPool(shell, list(items), list(ids), [None] * len(items))


def _shown_from(pool: CachedPool, shown: Sequence[str], size: int) -> Recommendations:
    """The ``size`` items of a cached pool the rotation picks, each decoded the first time it is
    shown; the list gets objects of its own, so a caller's change never reaches the cache."""
    recs = []
    for rank, i in enumerate(pick(pool.ids, shown, size), start=1):
        item = pool.decoded[i]
        if item is None:
            item = pool.decoded[i] = decode_item(pool.items[i])
        recs.append(thaw(item, rank))
    shell = pool.shell
    return Recommendations(
        user_id=shell.user_id,
        recommendations=recs,
        seeds=list(shell.seeds),
        known_user=shell.known_user,
        n=size,
        depth=shell.depth,
        source=shell.source,
    )


# ------------------------------------------------------------------------------ the batch


@dataclass
class PrecomputeReport:
    """What a batch did: users asked for, pools stored, pools not stored because a load moved
    the graph on meanwhile, users that failed (and why), time taken."""

    users: int
    stored: int
    key: str
    seconds: float
    all_users: int = 0
    superseded: int = 0
    failed: list[Failed] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "all_users": self.all_users,
            "stored": self.stored,
            "superseded": self.superseded,
            "failed": [f.to_json() for f in self.failed],
            "key": self.key,
            "seconds": round(self.seconds, 3),
            "users_per_s": round(self.users / self.seconds, 1) if self.seconds > 0 else None,
        }


def precompute(
    graph: Graph,
    settings: Settings,
    user_ids: Iterable[str] | None = None,
    *,
    depth: int | None = None,
    stale_only: bool = False,
    workers: int = 1,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> PrecomputeReport:
    """Compute and store the ranked pools of ``user_ids`` (default: every user; with
    ``stale_only``, only those without a valid pool: never computed, marked stale by a load, or
    computed under other settings).

    The pools are ranked from one snapshot of the graph (``batch.batch_map``: the same lists as
    ``recommend``, ``workers`` processes sharing it, each turning its lists straight into the
    stored JSON, ``stored_pool``). Each batch of ``batch_size`` pools is written in a
    transaction of its own, from a thread that stores one batch while the next is ranked, and
    only if the graph is still at the generation the snapshot was read at: a pool computed
    before a load is never stored as fresh (it counts as ``superseded``, and the next run
    computes it).
    """
    hops = check_depth(settings.candidates.depth if depth is None else depth)
    pool_n = pool_size(settings, settings.ranking.n)
    t0 = time.perf_counter()
    key = recommendation_key(settings, pool_n, hops)
    snap = snapshot(graph)
    generation = snap.generation
    everyone = sorted(snap.actions)
    if user_ids is not None:
        ids = list(user_ids)
    elif stale_only:
        ids = [r["user_id"] for r in graph.run("stale_users", key=key)]
    else:
        ids = everyone
    step: Progress = progress or (lambda _s, _d, _t: None)
    report = PrecomputeReport(
        users=len(ids), stored=0, key=key, seconds=0.0, all_users=len(everyone)
    )
    pools = batch_map(snap, settings, stored_pool, ids, n=pool_n, depth=hops, workers=workers)
    with _Store(graph, generation, key) as store:
        rows: list[dict[str, Any]] = []
        for done, item in enumerate(pools, 1):
            if isinstance(item, Failed):
                report.failed.append(item)
            else:
                rows.append(item)
                if len(rows) >= batch_size:
                    store.put(rows)
                    rows = []
            step("precompute", done, len(ids))
        store.put(rows)
    report.stored, report.superseded = store.stored, store.sent - store.stored
    report.seconds = time.perf_counter() - t0
    return report


class _Store:
    """Writes batches of pools (``store_recommendations``, a transaction each) from a thread of
    its own, in order, at most ``ahead`` batches behind: Neo4j stores one batch while the next is
    ranked. A failed write is raised by the next ``put`` or on leaving the ``with`` block."""

    def __init__(self, graph: Graph, generation: str | None, key: str, ahead: int = 2) -> None:
        self.graph, self.generation, self.key, self.ahead = graph, generation, key, ahead
        self.sent = self.stored = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ytgraph-store")
        self._pending: deque[Future[int]] = deque()

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                while self._pending:
                    self.stored += self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def put(self, rows: list[dict[str, Any]]) -> None:
        """Store ``rows`` (pools of ``stored_pool``) in the background."""
        if not rows:
            return
        for row in rows:
            row["key"] = self.key
        self.sent += len(rows)
        self._pending.append(self._pool.submit(self._write, rows))
        while len(self._pending) > self.ahead:
            self.stored += self._pending.popleft().result()

    def _write(self, rows: list[dict[str, Any]]) -> int:
        with self.graph.transaction() as tx:
            written = tx.run("store_recommendations", rows=rows, generation=self.generation)
        return int(written[0]["stored"]) if written else 0

"""Batch recommendations (paper 3.2): every user's list from one snapshot of the graph.

``snapshot(graph)`` reads what the service's four reads need — the videos' properties, every
RELATED edge, every user's actions, the catalogue figures and the head of the popular list — in a
few paged queries inside one read transaction, into a ``Snapshot``: a ``MemoryGraph`` that keeps
R_i as a compact CSR over integer video codes. ``batch_recommend`` then runs the online pipeline
for each user without a round trip, on numpy arrays: the expansion walks the CSR, the ranking does
the same array operations as ``ranking.score_candidates`` on the same arrays (so scores are equal
to the last bit), and ``Recommendation`` and ``CandidatePath`` objects are made only for the list
that is returned. With ``workers`` > 1 forked processes share the snapshot copy-on-write.
``batch_map`` makes something else of each user's ``Plan`` (the list as arrays) in the worker that
ranked it, with no objects at all: ``serve.stored_pool`` makes the JSON a stored pool is::

    snap = snapshot(graph)
    for recs in batch_recommend(snap, settings, n=60, workers=2):
        ...  # a Recommendations (equal to recommend(graph, user, ...)), or a Failed
    rows = batch_map(snap, settings, stored_pool, n=60, workers=2)  # dump(recommend(...)) each
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from ytgraph.config import CandidateSettings, RankingSettings, Settings
from ytgraph.console import Progress
from ytgraph.db.graph import Graph
from ytgraph.errors import GraphError, NotFoundError, YtGraphError
from ytgraph.recommendation import reads
from ytgraph.recommendation.candidates import (
    FEATURES,
    Candidate,
    CandidatePath,
    PathList,
    check_depth,
)
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.ranking import (
    SIGNALS,
    SPECIFICITY,
    SUPPORT_SATURATION,
    CatalogStats,
    Recommendation,
    feature_matrix,
    popular_recommendation,
    popularity_value,
    quality_matrix,
    weights,
)
from ytgraph.recommendation.seeds import Seed, seed_set
from ytgraph.recommendation.service import (
    Failed,
    Recommendations,
    backfill,
    check_user_id,
    list_shape,
)

PAGE_VIDEOS = 20_000  # videos per snapshot query
PAGE_SOURCES = 5_000  # source videos per RELATED query (~100k edges at 20 a list)
PAGE_USERS = 10_000  # users per actions query
CHUNK = 200  # users a worker takes at a time
_VIDEO_KEYS = ("title", "channel_id", "category", *FEATURES)
PathValues = tuple[list[int], list[float], list[float]]  # a path's video codes, scores, weights


# ------------------------------------------------------------------------------------ snapshot


@dataclass(frozen=True)
class Csr:
    """Out-edges by source code: edges of video ``i`` are ``indptr[i]:indptr[i + 1]``, in the
    order the server expands them; ``edge`` indexes the snapshot's full edge arrays."""

    indptr: np.ndarray  # int64, videos + 1
    dst: np.ndarray  # int32 video codes
    edge: np.ndarray  # int64 edge indexes


class Snapshot(MemoryGraph):
    """A ``MemoryGraph`` read from Neo4j: its four reads answer as the Cypher queries do.

    Videos have integer codes in ``video_id`` order (so comparing codes compares ids); R_i is
    kept as arrays (``src``/``dst`` codes, ``rank``, ``score``, ``weight``, in server order, grouped
    by source), not as ``MemoryGraph.related`` tuples. ``generation`` is the state id read with it.
    """

    def __init__(
        self,
        videos: dict[str, dict[str, Any]],
        actions: dict[str, list[dict[str, Any]]],
        ids: list[str],
        edges: dict[str, np.ndarray],
        generation: str | None,
    ) -> None:
        super().__init__(videos=videos, actions=actions, related={})
        self.ids = ids
        self.codes = {v: i for i, v in enumerate(ids)}
        self.names = np.array(ids, dtype=object)  # code -> video id, for fancy indexing
        self.src: np.ndarray = edges["src"]
        self.dst: np.ndarray = edges["dst"]
        self.rank: np.ndarray = edges["rank"]
        self.score: np.ndarray = edges["score"]
        self.weight: np.ndarray = edges["weight"]
        self.indptr = np.searchsorted(self.src, np.arange(len(ids) + 1)).astype(np.int64)
        self.generation = generation
        self.features = feature_matrix([videos[v] for v in ids])
        # Channel and category as small integers (-1: none), for the diversity caps.
        self.channel = _factor([videos[v].get("channel_id") for v in ids])
        self.category = _factor([videos[v].get("category") for v in ids])
        self._csr: dict[int, Csr] = {}

    def top(self, k: int) -> Csr:
        """The edges with ``rank <= k`` (what ``candidates.cypher`` follows), per source."""
        csr = self._csr.get(k)
        if csr is None:
            keep = np.flatnonzero(self.rank <= k)
            counts = np.bincount(self.src[keep], minlength=len(self.ids))
            indptr = np.zeros(len(self.ids) + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            csr = self._csr[k] = Csr(indptr, self.dst[keep], keep)
        return csr

    def expand(
        self, seeds: Sequence[str], settings: CandidateSettings, exclude: Iterable[str] = ()
    ) -> list[Candidate]:
        """As ``candidates.cypher``, from the CSR: candidates by best path strength (ties by
        id), at most ``max_candidates``, each path in the order the query collects it."""
        depth = check_depth(settings.depth)
        if not seeds:
            return []
        codes = self.codes
        starts = [(i, codes[s]) for i, s in enumerate(seeds) if s in codes]
        banned = self.mask(v for v in (*seeds, *exclude) if v in codes)
        w = walk(
            self.top(int(settings.per_hop)),
            np.array([c for _, c in starts], dtype=np.int64),
            self.weight,
            depth,
        )
        cand = w.select(banned, int(settings.max_candidates))
        # Paths of each kept candidate by seed (the query's UNWIND order), then hop, then the walk.
        order = np.lexsort((np.arange(w.size), w.seed, w.owner))
        order = order[w.owner[order] < len(cand)]
        raw: list[tuple[list[Any], list[Any], list[Any]]] = [([], [], []) for _ in cand]
        built = dict(zip(np.sort(order).tolist(), self.paths(w, np.sort(order)), strict=True))
        names = self.ids
        for p in order.tolist():
            nodes, scores, weights_ = built[p]
            videos, sc, wt = raw[w.owner[p]]
            videos.append(tuple(names[x] for x in nodes))
            sc.append(tuple(scores))
            wt.append(tuple(weights_))
        return [self._candidate(int(c), PathList(*r)) for c, r in zip(cand, raw, strict=True)]

    def quality(self, settings: RankingSettings) -> np.ndarray:
        """``ranking.quality_matrix`` of every video (by code), once per snapshot and settings.

        Its operations are element by element, so a video's row is the one the online ranking
        computes over a user's candidates (the batch tests hold the lists equal)."""
        key = f"quality {settings.rating_prior_count!r} {settings.freshness_half_life_days!r}"
        out = self.cache.get(key)
        if out is None:
            stats = reads.catalog_stats(self)
            out = self.cache[key] = quality_matrix(self.features, stats, settings)
        return out

    def mask(self, videos: Iterable[str]) -> np.ndarray:
        """A boolean mask over video codes, true for ``videos``."""
        out = np.zeros(len(self.ids), dtype=bool)
        out[[self.codes[v] for v in videos]] = True
        return out

    def _candidate(self, code: int, paths: PathList) -> Candidate:
        vid = self.ids[code]
        props = self.videos[vid]
        return Candidate(
            video_id=vid,
            title=props.get("title"),
            channel_id=props.get("channel_id"),
            category=props.get("category"),
            features={f: props.get(f) for f in FEATURES},
            paths=paths,
        )

    def paths(self, w: Walk, ps: np.ndarray) -> list[PathValues]:
        """Video codes, edge scores and edge weights of the paths ``ps`` (ascending) of a walk."""
        out: list[PathValues] = []
        bounds = [*w.offsets, w.size]
        for h in range(len(w.nodes)):
            lo, hi = np.searchsorted(ps, [bounds[h], bounds[h + 1]])
            if lo == hi:
                continue
            rows = ps[lo:hi] - bounds[h]
            edges = w.edges[h][rows]
            out += zip(
                w.nodes[h][rows].tolist(),
                self.score[edges].tolist(),
                self.weight[edges].tolist(),
                strict=True,
            )
        return out


def _factor(values: list[Any]) -> np.ndarray:
    """Each value's code among the distinct values (-1 for None)."""
    codes: dict[Any, int] = {}
    return np.array(
        [-1 if v is None else codes.setdefault(v, len(codes)) for v in values], dtype=np.int64
    )


def snapshot(graph: Graph, attempts: int = 3) -> Snapshot:
    """Everything the service reads, from Neo4j in one read transaction of paged queries.

    Neo4j reads are read-committed, so a load that commits while the pages are read could
    tear the snapshot: the generation is read before and after, and a changed one reads again
    (``GraphError`` after ``attempts``)."""
    for _ in range(attempts):
        snap, after = _snapshot(graph)
        if after == snap.generation:
            return snap
    raise GraphError("the graph kept changing while it was read (loads running?); try again")


def _snapshot(graph: Graph) -> tuple[Snapshot, str | None]:
    with graph.reading() as tx:
        (meta,) = tx.run("meta_get")
        rows: list[list[Any]] = []
        after: str | None = None
        while True:
            (page,) = tx.run("snapshot_videos", after=after, limit=PAGE_VIDEOS)
            rows += page["videos"]
            if len(page["videos"]) < PAGE_VIDEOS:
                break
            after = max(r[0] for r in page["videos"])
        rows.sort(key=lambda r: r[0])
        ids = [r[0] for r in rows]  # codes in id order, so that ties by code are ties by id
        videos = {r[0]: dict(zip(_VIDEO_KEYS, r[1:], strict=True)) for r in rows}
        codes = {v: i for i, v in enumerate(ids)}
        edges = _read_related(tx, ids, codes)
        actions = _read_actions(tx, videos)
        (stats,) = tx.run("catalog_stats") or [{}]
        popular = tx.run("popular", exclude=[], limit=reads.POPULAR_HEAD)
        (end,) = tx.run("meta_get")
    snap = Snapshot(videos, actions, ids, edges, meta["state_id"])
    # The figures reads.py caches per graph generation, as the server gave them.
    snap.cache["catalog_stats"] = CatalogStats.from_record(stats)
    snap.cache["popular"] = popular
    return snap, end["state_id"]


def _read_related(tx: Any, ids: list[str], codes: dict[str, int]) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("src", "dst", "rank", "score", "weight")}
    for start in range(0, len(ids), PAGE_SOURCES):
        (page,) = tx.run("snapshot_related", ids=ids[start : start + PAGE_SOURCES])
        if any(len(page[k]) != page["edges"] for k in parts):
            raise GraphError("a RELATED edge lacks its rank, score or weight, or joins a non-video")
        try:
            dst = [codes[v] for v in page["dst"]]
        except KeyError as e:
            raise GraphError(f"a RELATED edge ends at {e.args[0]!r}, which is no video") from e
        parts["src"].append(np.array(page["src"], dtype=np.int64) + start)
        parts["dst"].append(np.array(dst, dtype=np.int64))
        for k in ("rank", "score", "weight"):
            parts[k].append(np.array(page[k], dtype=np.float64))
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    out["src"], out["dst"] = out["src"].astype(np.int32), out["dst"].astype(np.int32)
    # Grouped by source already (pages in id order, a source's edges together), in server order.
    if np.any(np.diff(out["src"]) < 0):
        order = np.argsort(out["src"], kind="stable")
        out = {k: v[order] for k, v in out.items()}
    return out


def _read_actions(tx: Any, videos: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    actions: dict[str, list[dict[str, Any]]] = {}
    after: str | None = None
    while True:
        (page,) = tx.run("snapshot_actions", after=after, limit=PAGE_USERS)
        for user, rows in page["users"]:
            actions[user] = [
                {
                    "video_id": vid,
                    "title": videos[vid]["title"] if vid is not None else None,
                    "kind": kind,
                    "at": at,
                    "rating": rating,
                    "count": count,
                    "long_watches": long_watches,
                }
                for vid, kind, at, rating, count, long_watches in rows
            ]
        if len(page["users"]) < PAGE_USERS:
            break
        after = max(u for u, _ in page["users"])
    return actions


# ---------------------------------------------------------------------------------- expansion


@dataclass
class Walk:
    """Every seed → video path of up to ``depth`` hops, hop by hop, as arrays.

    Path ``p`` is row ``p - offsets[h]`` of hop ``h``'s ``nodes`` (videos, seed first) and
    ``edges`` matrices. Per path: ``video`` (its end), ``seed`` (index of its seed in the seed
    list), ``hops``, ``strength`` (product of weights, left to right) and, after ``select``,
    ``owner`` (its candidate's place, or ``len(candidates)`` and more when not kept).
    """

    nodes: list[np.ndarray]
    edges: list[np.ndarray]
    offsets: list[int]
    video: np.ndarray
    seed: np.ndarray
    hops: np.ndarray
    strength: np.ndarray
    owner: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def size(self) -> int:
        return len(self.video)

    def select(self, banned: np.ndarray, limit: int) -> np.ndarray:
        """The candidates (codes, best strength first, ties by code = by id), at most ``limit``;
        sets ``owner``. ``banned`` (a mask over codes: seeds, excluded) are never candidates."""
        ok = ~banned[self.video]
        videos, inverse = np.unique(self.video[ok], return_inverse=True)
        best = np.full(len(videos), -np.inf)
        np.maximum.at(best, inverse, self.strength[ok])
        order = np.lexsort((videos, -best))[:limit]
        place = np.full(len(videos), np.iinfo(np.int64).max)
        place[order] = np.arange(len(order))
        owner = np.full(self.size, np.iinfo(np.int64).max)
        owner[ok] = place[inverse]
        self.owner = owner
        return videos[order]


def walk(csr: Csr, seeds: np.ndarray, weight: np.ndarray, depth: int) -> Walk:
    """All paths of 1..``depth`` hops from ``seeds`` over ``csr``, as ``candidates.cypher``
    matches them: a path never comes back to a video two or more steps behind (its WHERE
    clauses), in the order the query meets them per seed (hop by hop, edges in server order)."""
    nodes = seeds.reshape(-1, 1).astype(np.int64)
    edges = np.zeros((len(seeds), 0), dtype=np.int64)
    seed_of = np.arange(len(seeds))
    strength = np.ones(len(seeds))
    out_nodes, out_edges, offsets = [], [], [0]
    videos, seed_ix, hops, strengths = [], [], [], []
    for hop in range(1, depth + 1):
        lo, hi = csr.indptr[nodes[:, -1]], csr.indptr[nodes[:, -1] + 1]
        count = hi - lo
        parent = np.repeat(np.arange(len(nodes)), count)
        first = np.repeat(lo - (np.cumsum(count) - count), count)
        pos = first + np.arange(len(parent))
        new = csr.dst[pos].astype(np.int64)
        if hop >= 2:  # not back to any video but the one just left
            ok = ~(nodes[parent, : hop - 1] == new[:, None]).any(axis=1)
            parent, pos, new = parent[ok], pos[ok], new[ok]
        edge = csr.edge[pos]
        nodes = np.column_stack([nodes[parent], new])
        edges = np.column_stack([edges[parent], edge])
        seed_of = seed_of[parent]
        strength = strength[parent] * weight[edge]
        out_nodes.append(nodes)
        out_edges.append(edges)
        offsets.append(offsets[-1] + len(nodes))
        videos.append(new)
        seed_ix.append(seed_of)
        hops.append(np.full(len(new), hop))
        strengths.append(strength)
    return Walk(
        nodes=out_nodes,
        edges=out_edges,
        offsets=offsets[:-1],
        video=np.concatenate(videos),
        seed=np.concatenate(seed_ix),
        hops=np.concatenate(hops),
        strength=np.concatenate(strengths),
    )


# ------------------------------------------------------------------------------------ ranking


@dataclass
class Plan:
    """One user's list as arrays, cheap to pickle from a worker: the picks in list order (video
    code, score, signals, seed column or -1, number of paths), their paths strongest first
    (hops, then the video codes and edge indexes of every path, one after the other), and the
    popular backfill as places in the snapshot's popular head (None: ``service.backfill``)."""

    user_id: str
    seeds: list[tuple[str, str | None, float, tuple[str, ...]]]
    codes: np.ndarray
    scores: np.ndarray
    signals: np.ndarray
    columns: np.ndarray
    npaths: np.ndarray
    hops: np.ndarray
    nodes: np.ndarray
    edges: np.ndarray
    backfill: list[int] | None


def _plan(snap: Snapshot, user_id: str, settings: Settings, size: int, hops: int) -> Plan:
    """``service.recommend`` for one user of a snapshot, on arrays (see the module doc)."""
    check_user_id(user_id)
    actions = snap.actions.get(user_id)
    if not actions:
        raise NotFoundError(f"unknown user {user_id!r}")
    seeds = seed_set(actions, settings.seeds)
    excluded = _excluded(actions, seeds, settings)
    cs = settings.candidates
    w: Walk | None = None
    cand = np.zeros(0, dtype=np.int64)
    if seeds:
        w = walk(
            snap.top(int(cs.per_hop)),
            np.array([snap.codes[s.video_id] for s in seeds], dtype=np.int64),
            snap.weight,
            hops,
        )
        cand = w.select(snap.mask(excluded), int(cs.max_candidates))
    if cs.popular > 0:
        have = {snap.ids[c] for c in cand.tolist()}
        rows = reads.popular_rows(snap, excluded | have, cs.popular)[: cs.popular]
        popular = np.array([snap.codes[r["video_id"]] for r in rows], dtype=np.int64)
        cand = np.concatenate([cand, popular])
    places, scores, signals, columns = _rank(snap, w, cand, seeds, settings, size)
    codes = cand[places]
    return Plan(
        user_id,
        [(x.video_id, x.title, x.weight, x.reasons) for x in seeds],
        codes,
        scores,
        signals,
        columns,
        *_paths(w, len(cand), places),
        _backfill(snap, codes.tolist(), excluded, settings, size),
    )


def _excluded(actions: list[dict[str, Any]], seeds: Sequence[Any], settings: Settings) -> set[str]:
    """The seeds, and with ``exclude_watched`` every video the user has an action on."""
    out = {s.video_id if isinstance(s, Seed) else s[0] for s in seeds}
    if settings.candidates.exclude_watched:
        out.update(a["video_id"] for a in actions if a["video_id"] is not None)
    return out


# A list item as ``plan_items`` gives it: a ``Recommendation``'s video_id, title, score, signals,
# because, paths (each its videos, edge scores and edge weights), channel_id and category.
ItemFields = tuple[
    str, Any, float, dict[str, Any], dict[str, Any], list[tuple[list[str], list[float], list[float]]],
    Any, Any,
]  # fmt: skip


def plan_items(snap: Snapshot, plan: Plan, settings: Settings, size: int) -> Iterator[ItemFields]:
    """The fields of each item of a plan's list, in list order: the picks, then the popular
    backfill (``backfill_items``). Plain lists and dicts, no ``Recommendation`` or
    ``CandidatePath``: what stores a pool as JSON needs no objects; ``_build`` makes them."""
    yield from pick_items(snap, plan)
    yield from backfill_items(snap, plan, settings, size)


def pick_items(snap: Snapshot, plan: Plan) -> Iterator[ItemFields]:
    """The fields of a plan's picks (the ranked, diversified candidates), in list order."""
    seeds = plan.seeds
    names, videos = snap.ids, snap.videos
    path_hops: list[int] = plan.hops.tolist()
    nodes: list[str] = snap.names[plan.nodes].tolist()
    edge_scores: list[float] = snap.score[plan.edges].tolist()
    edge_weights: list[float] = snap.weight[plan.edges].tolist()
    p = at_node = at_edge = 0  # the next path, and where its videos and edges start
    for code, score, signals, col, npaths in zip(
        plan.codes.tolist(),
        plan.scores.tolist(),
        plan.signals.tolist(),
        plan.columns.tolist(),
        plan.npaths.tolist(),
        strict=True,
    ):
        vid = names[code]
        props = videos[vid]
        because: dict[str, Any]
        if col >= 0:
            because = {"seed_video_id": seeds[col][0], "seed_title": seeds[col][1]}
        else:  # a popular candidate (candidates.popular): no seed reaches it
            because = {"kind": "popular", "popularity": popularity_value(props)}
        paths = []
        for h in path_hops[p : p + npaths]:
            paths.append(
                (
                    nodes[at_node : at_node + h + 1],
                    edge_scores[at_edge : at_edge + h],
                    edge_weights[at_edge : at_edge + h],
                )
            )
            at_node += h + 1
            at_edge += h
        p += npaths
        signal_map = dict(zip(SIGNALS, signals, strict=True))
        channel, category = props.get("channel_id"), props.get("category")
        yield vid, props.get("title"), score, signal_map, because, paths, channel, category


def backfill_items(
    snap: Snapshot, plan: Plan, settings: Settings, size: int
) -> Iterator[ItemFields]:
    """The fields of a plan's popular backfill: its places in ``head_items``, or, when the
    snapshot's popular head ran short (``plan.backfill`` is None), ``service.backfill``'s."""
    if plan.backfill is None:
        have = [snap.ids[c] for c in plan.codes.tolist()]
        excluded = _excluded(snap.actions[plan.user_id], plan.seeds, settings)
        for r in _short_backfill(snap, have, excluded, settings, size):
            yield r.video_id, r.title, r.score, r.signals, r.because, [], r.channel_id, r.category
    else:
        head = head_items(snap)
        for i in plan.backfill:
            vid, title, score, signals, because, _, channel, category = head[i]
            yield vid, title, score, dict(signals), dict(because), [], channel, category


def head_items(snap: Snapshot) -> list[ItemFields]:
    """The snapshot's popular head as backfill items (``popular_recommendation``'s), once per
    snapshot: what ``Plan.backfill`` indexes. Shared: copy the dicts before changing them."""
    items = snap.cache.get("head_items")
    if items is None:
        items = snap.cache["head_items"] = [
            (vid, title, score, {"popularity": value}, {"kind": "popular", "popularity": raw},
             [], channel, category)
            for vid, title, score, value, raw, channel, category, _, _ in _popular_made(snap)[1]
        ]  # fmt: skip
    return items


def _short_backfill(
    snap: Snapshot, have: list[str], excluded: set[str], settings: Settings, size: int
) -> list[Recommendation]:
    """``service.backfill`` after the picks ``have`` (video ids), for when the snapshot's popular
    head runs short: only the channel and category of a pick count towards the caps."""
    picks = [
        Recommendation(v, None, 0.0, {}, {}, [], snap.videos[v].get("channel_id"),
                       snap.videos[v].get("category"))
        for v in have
    ]  # fmt: skip
    return backfill(snap, picks, excluded, reads.catalog_stats(snap), settings, size)


def _build(snap: Snapshot, plan: Plan, settings: Settings, size: int, hops: int) -> Recommendations:
    """The ``Recommendations`` of a plan, as ``service.recommend`` makes them."""
    final = [
        Recommendation(vid, title, score, signals, because,
                       [CandidatePath(v[0], tuple(v), tuple(s), tuple(w)) for v, s, w in paths],
                       channel, category, rank)
        for rank, (vid, title, score, signals, because, paths, channel, category) in enumerate(
            plan_items(snap, plan, settings, size), start=1
        )
    ]  # fmt: skip
    actions = snap.actions[plan.user_id]
    seeds = [Seed(*s) for s in plan.seeds]
    return Recommendations(
        user_id=plan.user_id,
        recommendations=final,
        seeds=seeds,
        known_user=True,
        n=size,
        depth=hops,
        touched=frozenset(a["video_id"] for a in actions if a["video_id"] is not None),
        excluded=frozenset(_excluded(actions, seeds, settings)),
    )


def _rank(
    snap: Snapshot,
    w: Walk | None,
    cand: np.ndarray,
    seeds: Sequence[Seed],
    settings: Settings,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``ranking.rank`` over the candidates ``cand`` (codes: the expansion's order, then the
    popular ones): the picks' places in ``cand``, scores, signals and seed columns (-1: none).

    The arrays are the ones ``score_candidates`` builds, made the same way, so every float
    operation (np.add.at per cell, the row sums, the matrix product) is the same."""
    rs = settings.ranking
    n = len(cand)
    if n == 0:
        nothing = np.zeros(0, dtype=np.int64)
        return nothing, np.zeros(0), np.zeros((0, len(SIGNALS))), nothing
    ncol = len(seeds)
    seed_weight = np.array([s.weight for s in seeds], dtype=float).reshape(ncol)
    if w is not None and w.size:
        kept = w.owner < n
        owner, col = w.owner[kept], w.seed[kept]
        by_score = rs.strength == "score"
        strength = (_score_strength(snap, w) if by_score else w.strength)[kept]
        depth = w.hops[kept].astype(float)
    else:
        owner = col = np.zeros(0, dtype=np.int64)
        strength = depth = np.zeros(0)
    contribution = np.zeros((n, ncol))
    np.add.at(contribution, (owner, col), seed_weight[col] * strength)
    reached = np.zeros((n, ncol), dtype=bool)
    reached[owner, col] = True
    raw = contribution.sum(axis=1)
    top = float(raw.max())
    shortest = np.full(n, np.inf)
    np.minimum.at(shortest, owner, np.where(depth > 0, depth, np.inf))
    specificity = np.column_stack(
        [
            np.clip(raw / top, 0.0, 1.0) if top > 0 else np.zeros(n),
            np.minimum(1.0, reached.sum(axis=1) / SUPPORT_SATURATION),
            np.where(np.isfinite(shortest), 1.0 / shortest, 0.0),
        ]
    ).reshape(n, len(SPECIFICITY))
    quality = snap.quality(rs)[cand]
    signals = np.hstack([specificity, quality])
    scores = signals @ np.array(list(weights(rs).values()))
    best = (
        np.where(reached, contribution, -np.inf).argmax(axis=1)
        if ncol
        else np.zeros(n, dtype=np.int64)
    )
    seed_col = np.where(reached.any(axis=1), best, -1)
    # Score order, ties by id (codes are in id order); the greedy re-rank walks the best `pool`.
    order = np.lexsort((cand, -scores))[: max(rs.pool, size)]
    chosen = _diversify(
        seed_col[order].tolist(),
        snap.channel[cand[order]].tolist(),
        snap.category[cand[order]].tolist(),
        rs,
        size,
    )
    places = order[chosen]
    return places, scores[places], signals[places], seed_col[places]


def _diversify(
    seed: list[int], channel: list[int], category: list[int], rs: RankingSettings, size: int
) -> list[int]:
    """``ranking.diversify`` on codes (-1: none): the positions kept, at most ``size``."""
    seed_cap, channel_cap = int(rs.max_per_seed), int(rs.max_per_channel)
    category_cap = int(rs.max_per_category)
    seeds: dict[int, int] = {}
    channels: dict[int, int] = {}
    categories: dict[int, int] = {}
    kept: list[int] = []
    for pos, (s, ch, ca) in enumerate(zip(seed, channel, category, strict=True)):
        if len(kept) >= size:
            break
        if (
            (s >= 0 and seed_cap > 0 and seeds.get(s, 0) >= seed_cap)
            or (ch >= 0 and channel_cap > 0 and channels.get(ch, 0) >= channel_cap)
            or (ca >= 0 and category_cap > 0 and categories.get(ca, 0) >= category_cap)
        ):
            continue
        if s >= 0:
            seeds[s] = seeds.get(s, 0) + 1
        if ch >= 0:
            channels[ch] = channels.get(ch, 0) + 1
        if ca >= 0:
            categories[ca] = categories.get(ca, 0) + 1
        kept.append(pos)
    return kept


def _score_strength(snap: Snapshot, w: Walk) -> np.ndarray:
    """Each path's product of edge scores, left to right (``PathList.score_strengths``)."""
    out = []
    for edges in w.edges:
        s = np.ones(len(edges))
        for j in range(edges.shape[1]):
            s = s * snap.score[edges[:, j]]
        out.append(s)
    return np.concatenate(out)


def _paths(
    w: Walk | None, n: int, places: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The paths of the picks at ``places`` (of ``n`` candidates): per pick how many, then per
    path its hops, and all their video codes and edge indexes, one path after the other; the
    paths of a pick in ``path_order`` (strength, then the videos: codes compare as ids do)."""
    k = len(places)
    none = np.zeros(0, dtype=np.int64)
    if w is None or not w.size or not k:
        return np.zeros(k, dtype=np.int64), none, none, none
    pick = np.full(n + 1, -1)
    pick[places] = np.arange(k)
    of = pick[np.minimum(w.owner, n)]
    mine = np.flatnonzero(of >= 0)
    depth = len(w.nodes)
    # Every path's videos and edges, padded with -1 (before any code, as a shorter tuple is).
    nodes = np.full((len(mine), depth + 1), -1)
    edges = np.full((len(mine), depth), -1)
    bounds = np.searchsorted(mine, [*w.offsets, w.size])
    for h in range(depth):
        rows = mine[bounds[h] : bounds[h + 1]] - w.offsets[h]
        nodes[bounds[h] : bounds[h + 1], : h + 2] = w.nodes[h][rows]
        edges[bounds[h] : bounds[h + 1], : h + 1] = w.edges[h][rows]
    keys = [nodes[:, j] for j in range(depth, -1, -1)]
    order = np.lexsort([*keys, -w.strength[mine], of[mine]])
    nodes, edges = nodes[order], edges[order]
    return (
        np.bincount(of[mine], minlength=k),
        w.hops[mine][order],
        nodes[nodes >= 0],
        edges[edges >= 0],
    )


def _backfill(
    snap: Snapshot, have: list[int], excluded: set[str], settings: Settings, size: int
) -> list[int] | None:
    """``service.backfill`` after the picks ``have`` (codes): places in the popular head, or
    None when the head runs short (``service.backfill`` would ask the server for more)."""
    rs = settings.ranking
    need = size - len(have)
    if need <= 0:
        return []
    head_ids, made = _popular_made(snap)
    skip = excluded | {snap.ids[c] for c in have}
    if len(made) == reads.POPULAR_HEAD and len(made) - len(skip & head_ids) < max(rs.pool, size):
        return None
    # The same caps as the re-rank, counted over the personal list first (a popular video has no
    # seed, so only the channel and category caps can stop it).
    channel_cap, category_cap = int(rs.max_per_channel), int(rs.max_per_category)
    channels = Counter(snap.channel[have].tolist())
    categories = Counter(snap.category[have].tolist())
    out: list[int] = []
    for i, (vid, channel, category) in enumerate(_popular_caps(snap)):
        if vid in skip:
            continue
        if channel >= 0 and channel_cap > 0 and channels.get(channel, 0) >= channel_cap:
            continue
        if category >= 0 and category_cap > 0 and categories.get(category, 0) >= category_cap:
            continue
        channels[channel] = channels.get(channel, 0) + 1
        categories[category] = categories.get(category, 0) + 1
        out.append(i)
        if len(out) >= need:
            break
    return out


def _popular_caps(snap: Snapshot) -> list[tuple[str, int, int]]:
    """The popular head as (video id, channel code, category code): what the backfill walks."""
    rows = snap.cache.get("popular_caps")
    if rows is None:
        rows = snap.cache["popular_caps"] = [(r[0], r[7], r[8]) for r in _popular_made(snap)[1]]
    return rows


# video_id, title, score, popularity signal, raw popularity, channel, category, and the codes of
# the channel and category (-1: none)
PopularRow = tuple[str, Any, float, float, Any, Any, Any, int, int]


def _popular_made(snap: Snapshot) -> tuple[frozenset[str], list[PopularRow]]:
    """The popular head as ``popular_recommendation`` makes it, once per snapshot."""
    made = snap.cache.get("popular_made")
    if made is None:
        stats = reads.catalog_stats(snap)
        rows = []
        for row in snap.cache["popular"]:
            rec = popular_recommendation(row, stats)
            code = snap.codes.get(rec.video_id, -1)  # -1: a video without an id
            rows.append(
                (
                    rec.video_id,
                    rec.title,
                    rec.score,
                    rec.signals["popularity"],
                    rec.because["popularity"],
                    rec.channel_id,
                    rec.category,
                    int(snap.channel[code]) if code >= 0 else -1,
                    int(snap.category[code]) if code >= 0 else -1,
                )
            )
        made = snap.cache["popular_made"] = (frozenset(r[0] for r in rows), rows)
    return made


# -------------------------------------------------------------------------------------- batch

_STATE: dict[str, Any] = {}  # what forked workers read: the snapshot, the request, the form
Request = tuple[Settings, int, int]  # settings, list length, depth
Chunk = list[Plan | Failed]
T = TypeVar("T")


@dataclass(frozen=True)
class _Form(Generic[T]):
    """What a batch makes of a chunk's plans: ``local`` without workers; with workers,
    ``worker`` in the worker that ranked them (what is sent back) and ``parent`` of that."""

    local: Callable[[Snapshot, Request, Chunk], list[T | Failed]]
    worker: Callable[[Snapshot, Request, Chunk], Any]
    parent: Callable[[Snapshot, Request, Any], list[T | Failed]]


def batch_recommend(
    graph: Graph | Snapshot,
    settings: Settings,
    user_ids: Iterable[str] | None = None,
    *,
    n: int | None = None,
    depth: int | None = None,
    workers: int = 1,
    chunk: int = CHUNK,
    progress: Progress | None = None,
) -> Iterator[Recommendations | Failed]:
    """Every user's ``Recommendations`` (default: every user, in id order), each equal to
    ``recommend(graph, user, settings, n=n, depth=depth)``; an unknown user (or a bad id) is a
    ``Failed``. ``graph`` is read once (``snapshot``) unless it is a ``Snapshot`` already.
    ``workers`` > 1 forks that many processes sharing the snapshot, each taking ``chunk`` users
    at a time; results keep the input order.
    ``n`` and ``depth`` are checked before anything is read."""
    # Workers send plans, a chunk's as one set of arrays; the objects are made in the parent,
    # from the same snapshot: unpickling thousands of objects costs more than making them.
    form: _Form[Recommendations] = _Form(
        _built, lambda _s, _r, plans: _pack(plans), lambda s, r, p: _built(s, r, _unpack(*p))
    )
    return _batch(graph, settings, user_ids, n, depth, workers, chunk, progress, form)


def batch_map(
    graph: Graph | Snapshot,
    settings: Settings,
    make: Callable[[Snapshot, Plan, Settings, int, int], T],
    user_ids: Iterable[str] | None = None,
    *,
    n: int | None = None,
    depth: int | None = None,
    workers: int = 1,
    chunk: int = CHUNK,
    progress: Progress | None = None,
) -> Iterator[T | Failed]:
    """As ``batch_recommend``, but each user's ``Plan`` becomes ``make(snapshot, plan,
    settings, n, depth)`` (see ``plan_items``) where it was ranked: with ``workers`` > 1 in the forked worker,
    so what is made (e.g. the JSON a stored pool is) is made in parallel and only it is sent
    back, and no ``Recommendation`` object is made for it at all."""

    def made(snap: Snapshot, request: Request, plans: Chunk) -> list[T | Failed]:
        s, size, hops = request
        return [p if isinstance(p, Failed) else make(snap, p, s, size, hops) for p in plans]

    form: _Form[T] = _Form(made, made, lambda _s, _r, part: part)
    return _batch(graph, settings, user_ids, n, depth, workers, chunk, progress, form)


def _batch(
    graph: Graph | Snapshot,
    settings: Settings,
    user_ids: Iterable[str] | None,
    n: int | None,
    depth: int | None,
    workers: int,
    chunk: int,
    progress: Progress | None,
    form: _Form[T],
) -> Iterator[T | Failed]:
    size, hops = list_shape(settings, n, depth)
    snap = graph if isinstance(graph, Snapshot) else snapshot(graph)
    ids = sorted(snap.actions) if user_ids is None else list(user_ids)
    step: Progress = progress or (lambda _s, _d, _t: None)
    request: Request = (settings, size, hops)

    def run() -> Iterator[T | Failed]:
        chunks = [ids[i : i + chunk] for i in range(0, len(ids), max(1, chunk))]
        # What every user needs is made once, before any fork, and shared.
        snap.top(int(settings.candidates.per_hop))
        snap.quality(settings.ranking)
        _popular_caps(snap)
        # The snapshot (millions of objects) is left out of garbage collection while the batch
        # runs: full collections would walk it over and over, and in a forked worker they would
        # write to every object and so copy all its pages.
        frozen = gc.get_freeze_count() > 0  # a long-running process froze its heap: keep it so
        gc.freeze()
        try:
            if workers <= 1 or len(chunks) <= 1:
                done = (form.local(snap, request, _plans(snap, request, c)) for c in chunks)
                yield from _counted(done, step, len(ids))
                return
            _STATE["snap"], _STATE["request"], _STATE["form"] = snap, request, form
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(min(workers, len(chunks))) as pool:
                parts = (form.parent(snap, request, p) for p in pool.imap(_worker, chunks))
                yield from _counted(parts, step, len(ids))
        finally:
            _STATE.clear()
            if not frozen:
                gc.unfreeze()

    return run()


def _counted(results: Iterator[list[T]], step: Progress, total: int) -> Iterator[T]:
    done = 0
    for part in results:
        yield from part
        done += len(part)
        step("batch", done, total)


def _worker(ids: list[str]) -> Any:
    snap, request = _STATE["snap"], _STATE["request"]
    return _STATE["form"].worker(snap, request, _plans(snap, request, ids))


_PACKED = ("codes", "scores", "signals", "columns", "npaths", "hops", "nodes", "edges")
# Per user a Failed, or (user id, seeds, backfill, picks, paths, video codes, edges); and the
# arrays of all the chunk's plans, one after the other.
Packed = tuple[list[Any], dict[str, np.ndarray]]


def _pack(plans: list[Plan | Failed]) -> Packed:
    """A chunk's plans as one array per field: one pickle each, not one per user and field."""
    heads: list[Any] = []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _PACKED}
    for p in plans:
        if isinstance(p, Failed):
            heads.append(p)
            continue
        heads.append(
            (p.user_id, p.seeds, p.backfill, len(p.codes), len(p.hops), len(p.nodes), len(p.edges))
        )
        for k in _PACKED:
            parts[k].append(getattr(p, k))
    return heads, {k: np.concatenate(v) for k, v in parts.items() if v}


def _unpack(heads: list[Any], arrays: dict[str, np.ndarray]) -> list[Plan | Failed]:
    """The plans of ``_pack``, their arrays views of the chunk's."""
    out: list[Plan | Failed] = []
    pick = path = node = edge = 0
    a = arrays
    for h in heads:
        if isinstance(h, Failed):
            out.append(h)
            continue
        user_id, seeds, backfill, k, m, nn, ne = h
        out.append(
            Plan(
                user_id,
                seeds,
                a["codes"][pick : pick + k],
                a["scores"][pick : pick + k],
                a["signals"][pick : pick + k],
                a["columns"][pick : pick + k],
                a["npaths"][pick : pick + k],
                a["hops"][path : path + m],
                a["nodes"][node : node + nn],
                a["edges"][edge : edge + ne],
                backfill,
            )
        )
        pick, path, node, edge = pick + k, path + m, node + nn, edge + ne
    return out


def _plans(snap: Snapshot, request: Request, ids: list[str]) -> Chunk:
    settings, size, hops = request
    out: list[Plan | Failed] = []
    for user_id in ids:
        try:
            out.append(_plan(snap, user_id, settings, size, hops))
        except YtGraphError as e:
            out.append(Failed(str(user_id), e))
    return out


def _built(snap: Snapshot, request: Request, plans: Chunk) -> list[Recommendations | Failed]:
    settings, size, hops = request
    return [p if isinstance(p, Failed) else _build(snap, p, settings, size, hops) for p in plans]

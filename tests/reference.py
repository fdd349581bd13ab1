"""Brute-force references for sessions, co-visitation counts and related lists.

Plain Python (dicts of sets, loops over sessions and pairs), written to be obviously right rather
than fast; the tests compare the vectorized code in ``ytgraph`` against them on small inputs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise, permutations

import networkx as nx
import pandas as pd

from ytgraph.config import CandidateSettings, RelatedSettings, SessionSettings
from ytgraph.recommendation.candidates import CandidatePath, check_depth, path_order

Pair = tuple[str, str]


def _known(x: object) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def is_long_watch(watch_seconds: float, duration: float | None, settings: SessionSettings) -> bool:
    """A threshold drops only a watch it knows to be short; unknown lengths pass."""
    if not _known(watch_seconds):
        return True
    if settings.long_watch_seconds is not None and watch_seconds < settings.long_watch_seconds:
        return False
    known_duration = duration is not None and _known(duration) and duration > 0
    if settings.long_watch_fraction is not None and known_duration:
        assert duration is not None
        if watch_seconds / duration < settings.long_watch_fraction:
            return False
    return True


def sessionize_ref(
    events: pd.DataFrame,
    settings: SessionSettings,
    durations: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Anchored windows per user, first watch per video, the first ``max_videos`` videos kept."""
    window = settings.window_hours * 3600.0
    by_user: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in events.itertuples(index=False):
        if row.event != "watch":
            continue
        secs = getattr(row, "watch_seconds", math.nan)
        duration = None if durations is None else durations.get(row.video_id)
        if not is_long_watch(secs, duration, settings):
            continue
        by_user[row.user_id].append((int(row.timestamp), row.video_id))

    out: list[tuple[str, int, str, int]] = []
    session_id = 0
    for user in sorted(by_user):
        watches = sorted(by_user[user])
        sessions: list[list[tuple[int, str]]] = []
        start = None
        for t, v in watches:
            if start is None or t - start >= window:  # integer difference: exact comparison
                start = t
                sessions.append([])
            sessions[-1].append((t, v))
        for session in sessions:
            first: dict[str, int] = {}
            for t, v in session:  # in (time, video) order
                if v not in first:
                    first[v] = t
            kept = sorted((t, v) for v, t in first.items())
            if settings.max_videos > 0:
                kept = kept[: settings.max_videos]
            for t, v in kept:
                out.append((user, session_id, v, t))
            session_id += 1
    return pd.DataFrame(
        {
            "user_id": pd.Series([r[0] for r in out], dtype=object),
            "session_id": pd.Series([r[1] for r in out], dtype="int64"),
            "video_id": pd.Series([r[2] for r in out], dtype=object),
            "timestamp": pd.Series([r[3] for r in out], dtype="int64"),
        }
    )


def count_ref(sessions: pd.DataFrame) -> tuple[dict[str, int], dict[Pair, int], int]:
    """(c_i, c_ij for i != j in both orders, N) by looping over sessions and their pairs."""
    videos_of: dict[object, set[str]] = defaultdict(set)
    for sid, vid in zip(sessions["session_id"], sessions["video_id"], strict=True):
        videos_of[sid].add(vid)
    counts: dict[str, int] = defaultdict(int)
    pairs: dict[Pair, int] = defaultdict(int)
    for videos in videos_of.values():
        for v in videos:
            counts[v] += 1
        for a, b in permutations(videos, 2):
            pairs[(a, b)] += 1
    return dict(counts), dict(pairs), len(videos_of)


def llr_ref(cij: int, ci: int, cj: int, n: int) -> float:
    """Signed Dunning G^2: 2 sum O ln(O/E) over the 2x2 table, + when c_ij > E, - when below."""
    table = [[cij, ci - cij], [cj - cij, n - ci - cj + cij]]
    rows = [ci, n - ci]
    cols = [cj, n - cj]
    g = 0.0
    for a in range(2):
        for b in range(2):
            o = table[a][b]
            if o > 0:
                e = rows[a] * cols[b] / n
                g += o * math.log(o / e)
    g2 = max(2.0 * g, 0.0)
    if cij * n > ci * cj:
        return g2
    if cij * n < ci * cj:
        return -g2
    return 0.0


def relatedness_ref(
    cij: int, ci: int, cj: int, n: int, normalization: str, damping: float = 0.0
) -> float:
    if damping > 0 and normalization != "llr":
        # d pseudo-sessions added to c_i and to c_j wherever they stand in f
        a, b = ci + damping, cj + damping
        return {
            "product": cij / (a * b),
            "candidate": cij / b,
            "cosine": cij / math.sqrt(a * b),
            "jaccard": cij / (ci + cj - cij + damping),
            "lift": cij * n / (a * b),
        }[normalization]
    if normalization == "product":
        return cij / (ci * cj)
    if normalization == "candidate":
        return cij / cj
    if normalization == "cosine":
        return cij / math.sqrt(ci * cj)
    if normalization == "jaccard":
        return cij / (ci + cj - cij)
    if normalization == "lift":
        return cij * n / (ci * cj)
    if normalization == "llr":
        return llr_ref(cij, ci, cj, n)
    raise ValueError(normalization)


def scores_ref(
    counts: Mapping[str, int],
    pairs: Mapping[Pair, int],
    n: int,
    normalization: str,
    damping: float = 0.0,
) -> dict[Pair, float]:
    return {
        (a, b): relatedness_ref(c, counts[a], counts[b], n, normalization, damping)
        for (a, b), c in pairs.items()
    }


def topn_ref(
    scores: Mapping[Pair, float], pairs: Mapping[Pair, int], settings: RelatedSettings
) -> pd.DataFrame:
    """R_i: c_ij >= min_count, score > 0 and >= min_score; score desc, c_ij desc, dst asc."""
    by_src: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    for (a, b), s in scores.items():
        c = pairs[(a, b)]
        if c >= settings.min_count and s > 0 and s >= settings.min_score:
            by_src[a].append((s, c, b))
    out = []
    for a in sorted(by_src):
        ranked = sorted(by_src[a], key=lambda x: (-x[0], -x[1], x[2]))[: settings.top_n]
        best = ranked[0][0]
        for rank, (s, c, b) in enumerate(ranked, start=1):
            out.append((a, b, s, c, rank, s / best))
    return pd.DataFrame(
        out, columns=["src", "dst", "score", "cooccurrences", "rank", "weight"]
    ).astype(
        {
            "src": object,
            "dst": object,
            "score": "float64",
            "cooccurrences": "int64",
            "rank": "int64",
            "weight": "float64",
        }
    )


def expand_reference(
    related: nx.DiGraph,
    seeds: Sequence[str],
    settings: CandidateSettings,
    exclude: Iterable[str] = (),
) -> dict[str, list[CandidatePath]]:
    """The same expansion by brute force over a networkx DiGraph whose edges carry score, weight, rank.

    Returns {candidate: paths sorted by (-strength, videos)}, capped like ``expand``.
    """
    depth = check_depth(settings.depth)
    banned = set(seeds) | set(exclude)
    found: dict[str, list[CandidatePath]] = {}
    for seed in dict.fromkeys(seeds):
        if seed not in related:
            continue
        stack: list[tuple[str, ...]] = [(seed,)]
        while stack:
            walk = stack.pop()
            if len(walk) > 1 and walk[-1] not in banned:
                edges = [related.edges[a, b] for a, b in pairwise(walk)]
                found.setdefault(walk[-1], []).append(
                    CandidatePath(
                        seed,
                        walk,
                        tuple(e["score"] for e in edges),
                        tuple(e["weight"] for e in edges),
                    )
                )
            if len(walk) - 1 == depth:
                continue
            for nxt in related.successors(walk[-1]):
                if related.edges[walk[-1], nxt]["rank"] <= settings.per_hop and nxt not in walk:
                    stack.append((*walk, nxt))
    for paths in found.values():
        paths.sort(key=path_order)
    order = sorted(found, key=lambda c: (-found[c][0].strength, c))[: settings.max_candidates]
    return {c: found[c] for c in order}


RETRACTS = {
    "unlike": "like",
    "unfavorite": "favorite",
    "playlist_remove": "playlist_add",
    "history_remove": "watch",
}


def retract_ref(events: pd.DataFrame) -> pd.DataFrame:
    """The events a fresh load would see after retractions: every row of a kind some retraction
    of the same user and video takes back at or after its time goes, and so do the retractions."""
    takes: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for row in events.itertuples(index=False):
        if row.event in RETRACTS:
            takes[(row.user_id, row.video_id, RETRACTS[row.event])].append(int(row.timestamp))
    keep = [
        row.event not in RETRACTS
        and not any(
            t >= row.timestamp for t in takes.get((row.user_id, row.video_id, row.event), [])
        )
        for row in events.itertuples(index=False)
    ]
    return events[keep].reset_index(drop=True)

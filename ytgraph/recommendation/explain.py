"""Why is (or isn't) a video in a user's list: the paths, the score breakdown, and a verdict.

``explain`` runs the same pipeline as ``recommend`` (so the verdict is about the very list the user
gets) and then ``cypher/explain_paths.cypher``: every path from the user's seeds to the video within
the depth, over the edges the expansion follows (rank <= per_hop), with no candidate cap and no
exclusion. The verdict is the first of these that holds:

- ``unknown video`` (no such video in the graph)
- ``recommended (rank r)``
- ``is one of your seeds``
- ``already watched`` (any action on it, when ``candidates.exclude_watched``)
- ``not reachable within depth d from your seeds``
- ``cut by the candidate cap`` (reachable, but not among the ``max_candidates`` strongest)
- ``cut by the per-seed / per-channel / per-category cap (... already has m)``
- ``below the cut-off (ranked k of the pool, the list shows n)``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import InputError
from ytgraph.recommendation.candidates import CandidatePath, path_order
from ytgraph.recommendation.ranking import POPULARITY_WEIGHT, weights
from ytgraph.recommendation.seeds import Seed
from ytgraph.recommendation.service import check_user_id, recommend

USER_ACTIONS = ("WATCHED", "LIKED", "FAVORITED", "RATED", "PLAYLISTED")


@dataclass
class ExplainPath(CandidatePath):
    """A candidate path with what a person reading it needs too: titles and each edge's rank."""

    titles: tuple[str | None, ...] = ()
    ranks: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "path": list(self.videos),
            "titles": list(self.titles),
            "scores": list(self.scores),
            "weights": list(self.weights),
            "ranks": list(self.ranks),
            "strength": self.strength,
        }


@dataclass
class Explanation:
    """The answer of ``explain``; ``outcome`` is the verdict as a code for programs.

    Outcomes: recommended, unknown_video, seed, watched, unreachable, candidate_cap,
    cut_seed, cut_channel, cut_category, below_cutoff.
    """

    user_id: str
    video_id: str
    title: str | None
    verdict: str
    outcome: str
    depth: int
    n: int
    rank: int | None = None  # place in the final list
    position: int | None = None  # place in the score order of all candidates
    score: float | None = None
    signals: dict[str, float] | None = None
    weights: dict[str, float] = field(default_factory=dict)
    because: dict[str, Any] | None = None
    paths: list[ExplainPath] = field(default_factory=list)
    seeds: list[Seed] = field(default_factory=list)
    touched: bool = False  # the user has an action on the video

    @property
    def breakdown(self) -> dict[str, dict[str, float]] | None:
        """Per signal: weight, value and their product (the contribution); None if no candidate."""
        if self.signals is None:
            return None
        return {
            k: {
                "weight": self.weights.get(k, 0.0),
                "value": v,
                "contribution": self.weights.get(k, 0.0) * v,
            }
            for k, v in self.signals.items()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "video_id": self.video_id,
            "title": self.title,
            "verdict": self.verdict,
            "outcome": self.outcome,
            "rank": self.rank,
            "position": self.position,
            "score": self.score,
            "breakdown": self.breakdown,
            "because": self.because,
            "paths": [p.to_json() for p in self.paths],
        }

    def _drawn_seeds(self) -> list[str]:
        """The seeds to draw: those that start a path, or every seed when none does."""
        starts = list(dict.fromkeys(p.seed for p in self.paths))
        return starts or [s.video_id for s in self.seeds]

    def cypher(self) -> str:
        """A query to paste into Neo4j Browser that draws the user, their action edges to the seeds
        (and to the video, if any), and exactly the seed -> video paths.

        For a human only: the ids are written as escaped string literals (``cypher_string``), since
        Browser runs the text as it stands; the library itself never builds query text.
        """
        user = cypher_string(self.user_id)
        drawn = self._drawn_seeds() + ([self.video_id] if self.touched else [])
        ids = ", ".join(cypher_string(v) for v in dict.fromkeys(drawn))
        actions = "|".join(USER_ACTIONS)
        parts = [
            f"MATCH p = (:User {{user_id: {user}}}) RETURN p",
            f"MATCH p = (:User {{user_id: {user}}})-[:{actions}]->(v:Video)\n"
            f"WHERE v.video_id IN [{ids}]\nRETURN p",
            f"MATCH p = (:Video {{video_id: {cypher_string(self.video_id)}}}) RETURN p",
        ]
        for path in self.paths:
            hops = "-[:RELATED]->".join(
                f"(:Video {{video_id: {cypher_string(v)}}})" for v in path.videos
            )
            parts.append(f"MATCH p = {hops}\nRETURN p")
        head = (
            f"// Why {_one_line(self.video_id)} for user {_one_line(self.user_id)}: "
            f"{_one_line(self.verdict)}\n"
        )
        return head + "\nUNION\n".join(parts) + "\n"

    def text(self) -> str:
        """A rendering for the terminal: verdict, paths by title, the score breakdown."""
        name = f"{self.title} ({self.video_id})" if self.title else self.video_id
        lines = [f"{name} for user {self.user_id}", f"verdict: {self.verdict}"]
        if self.because and self.because.get("seed_video_id"):
            seed = self.because.get("seed_title") or self.because["seed_video_id"]
            lines.append(f"because: {seed}")
        elif self.because and self.because.get("kind") == "popular":
            lines.append("because: popular")
        if self.paths:
            lines.append(f"paths from your seeds (depth <= {self.depth}):")
            for p in self.paths:
                names = " → ".join(t or v for v, t in zip(p.videos, p.titles, strict=True))
                scores = ", ".join(f"{s:.3g}" for s in p.scores)
                lines.append(f"  {names}  (score {scores})")
        else:
            lines.append(f"no path from your seeds within depth {self.depth}")
        table = self.breakdown
        if table is not None:
            width = max(len(k) for k in [*table, "signal", "total"])
            lines.append(f"  {'signal':<{width}}  {'weight':>7}  {'value':>7}  {'w*v':>7}")
            for k, row in table.items():
                lines.append(
                    f"  {k:<{width}}  {row['weight']:>7.3f}  {row['value']:>7.3f}"
                    f"  {row['contribution']:>7.3f}"
                )
            total = self.score if self.score is not None else 0.0
            lines.append(f"  {'total':<{width}}  {'':>7}  {'':>7}  {total:>7.3f}")
        return "\n".join(lines) + "\n"


def cypher_string(value: str) -> str:
    """``value`` as a single-quoted Cypher string literal (backslash, quote, controls escaped)."""
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def find_paths(
    graph: Graph, seeds: list[str], video_id: str, depth: int, per_hop: int
) -> list[ExplainPath]:
    """Every seed -> video path within ``depth`` hops, strongest first (ties by the videos)."""
    if not seeds:
        return []
    rows = graph.run("explain_paths", seeds=seeds, video_id=video_id, depth=depth, k=int(per_hop))
    paths = [
        ExplainPath(
            seed=r["seed"],
            videos=tuple(r["path"]),
            scores=tuple(r["scores"]),
            weights=tuple(r["weights"]),
            titles=tuple(r["titles"]),
            ranks=tuple(r["ranks"]),
        )
        for r in rows
    ]
    paths.sort(key=path_order)
    return paths


def explain(
    graph: Graph,
    user_id: str,
    video_id: str,
    settings: Settings,
    *,
    n: int | None = None,
    depth: int | None = None,
) -> Explanation:
    """Why ``video_id`` is or is not in ``recommend(graph, user_id, settings, n=, depth=)``.

    An unknown user is a ``NotFoundError``; an unknown video is the verdict ``unknown video``.
    """
    check_user_id(user_id)
    if not isinstance(video_id, str) or not video_id:
        raise InputError(f"a video id must be a non-empty string, got {video_id!r}")
    recs = recommend(graph, user_id, settings, n=n, depth=depth)
    found = graph.run("video_exists", video_id=video_id)
    base: dict[str, Any] = {
        "user_id": user_id,
        "video_id": video_id,
        "depth": recs.depth,
        "n": recs.n,
        "seeds": recs.seeds,
        "touched": video_id in recs.touched,
        "weights": weights(settings.ranking),
    }
    if not found:
        return Explanation(title=None, verdict="unknown video", outcome="unknown_video", **base)
    title = found[0].get("title")
    seed_ids = [s.video_id for s in recs.seeds]
    paths = find_paths(graph, seed_ids, video_id, recs.depth, settings.candidates.per_hop)
    ranked = recs.ranked
    scored = ranked.get(video_id) if ranked is not None else None
    listed = next((r for r in recs.recommendations if r.video_id == video_id), None)
    shown = listed or scored
    if shown is not None:
        base.update(
            score=shown.score,
            signals=dict(shown.signals),
            because=dict(shown.because),
            position=ranked.position(video_id) if ranked is not None else None,
        )
        if shown.popular and "popularity" in shown.signals:  # a backfill, not a ranked candidate
            base["weights"] = {"popularity": POPULARITY_WEIGHT}

    def verdict(text: str, outcome: str, **extra: Any) -> Explanation:
        return Explanation(title=title, verdict=text, outcome=outcome, paths=paths, **base, **extra)

    if listed is not None:
        return verdict(f"recommended (rank {listed.rank})", "recommended", rank=listed.rank)
    if video_id in seed_ids:
        return verdict("is one of your seeds", "seed")
    if video_id in recs.excluded:
        return verdict("already watched", "watched")
    if not paths and scored is None:  # (a popular candidate is ranked without a path)
        return verdict(f"not reachable within depth {recs.depth} from your seeds", "unreachable")
    if scored is None or ranked is None:
        cap = settings.candidates.max_candidates
        return verdict(
            f"cut by the candidate cap (only the {cap} strongest candidates are ranked)",
            "candidate_cap",
        )
    cut = ranked.cuts.get(video_id)
    if cut is not None:
        return verdict(cut.text(), f"cut_{cut.caps[0].cap}")
    position = ranked.position(video_id)
    return verdict(
        f"below the cut-off (ranked {position} of the pool, the list shows {recs.n})",
        "below_cutoff",
    )

"""R_i in the graph under list generations: how a load rewrites millions of RELATED edges without
readers ever seeing half of them.

Every RELATED edge carries the generation of the list it belongs to (``r.gen``) and every video
points at its current list (``v.rgen``); readers follow only ``r.gen = v.rgen``. A load *stages*
its new lists as a fresh generation in transactions of their own (``stage``), moves the pointers
in its last transaction (``switch``), then deletes the superseded edges (``prune``). A load that
fails before the switch takes back what it staged (``unstage``); one that was killed leaves marks
on the meta node (``staging``, ``pruning``) from which the next load cleans up (``recover``).
``write`` replaces lists in place, in the caller's transaction, for the few lists ``forget``
rewrites.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import pandas as pd

from ytgraph.config import LoadSettings
from ytgraph.console import Progress
from ytgraph.db.graph import Graph, Writer
from ytgraph.errors import GraphError


class RelatedRows(Sequence[dict[str, Any]]):
    """``replace_related`` rows, one per source with its list as parallel arrays (a source with
    no list gets empty ones), built a slice at a time: millions of RELATED never sit in Python
    lists all at once."""

    def __init__(self, related: pd.DataFrame, sources: np.ndarray) -> None:
        r = related[related["src"].isin(sources)].sort_values(["src", "rank"], kind="stable")
        src = r["src"].to_numpy()
        cuts = np.flatnonzero(src[1:] != src[:-1]) + 1 if len(src) else np.zeros(0, dtype=int)
        self.starts = np.r_[0, cuts] if len(src) else np.zeros(0, dtype=np.int64)
        self.ends = np.r_[cuts, len(src)] if len(src) else np.zeros(0, dtype=np.int64)
        self.src = src
        self.cols = {
            "dst": r["dst"].to_numpy(dtype=object),
            "score": r["score"].to_numpy(dtype="float64"),
            "cooccurrences": r["cooccurrences"].to_numpy(dtype="int64"),
            "rank": r["rank"].to_numpy(dtype="int64"),
            "weight": r["weight"].to_numpy(dtype="float64"),
        }
        have = set(src[self.starts].tolist()) if len(src) else set()
        self.missing = sorted(set(np.asarray(sources).tolist()) - have)

    def __len__(self) -> int:
        return len(self.starts) + len(self.missing)

    def sources(self) -> np.ndarray:
        """The source of each row, in row order."""
        return np.array([*self.src[self.starts].tolist(), *self.missing], dtype=object)

    def _row(self, k: int) -> dict[str, Any]:
        if k >= len(self.starts):
            empty: dict[str, Any] = {c: [] for c in self.cols}
            return {"src": self.missing[k - len(self.starts)], **empty}
        a, b = int(self.starts[k]), int(self.ends[k])
        return {"src": self.src[a], **{c: v[a:b].tolist() for c, v in self.cols.items()}}

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self._row(k) for k in range(*i.indices(len(self)))]
        return self._row(range(len(self))[i])


def related_rows(related: pd.DataFrame, sources: np.ndarray) -> list[dict[str, Any]]:
    """One row per source with its list as parallel arrays; a source with no list gets empty ones."""
    return list(RelatedRows(related, sources))


def recover(graph: Graph, meta: dict[str, Any]) -> int:
    """Clean up after an earlier load that stopped between staging and pruning (and give edges
    from before list generations theirs), as the meta node (``meta_get``) tells; returns the
    generation for this load's lists."""
    if meta["gen"] is None:  # (no meta write here: an empty graph must stay empty for bulk)
        graph.run_autocommit("related_migrate")
    if meta["staging"] is not None or meta["pruning"]:
        graph.run_autocommit("related_recover")
        graph.run_autocommit("videos_unstage_all")
        graph.run("meta_recovered", write=True)
    # Never a number an interrupted load used: its edges might still be on their way out.
    return max(meta["gen"] or 0, meta["staging"] or 0) + 1


def write(tx: Writer, rows: Sequence[dict[str, Any]], batch: int, top_n: int) -> None:
    """Replace R_i for the sources in ``rows`` (from ``related_rows``) in place, inside the
    caller's transaction (``forget``: a few lists; a load stages its lists instead). ``batch``
    counts edges: a row holds a whole list of up to ``top_n``."""
    tx.batches("replace_related", rows, max(1, batch // max(1, top_n)))


def stage(
    graph: Graph,
    rows: RelatedRows,
    videos: np.ndarray,
    gen: int,
    load: LoadSettings,
    step: Progress,
) -> None:
    """Write the new lists of ``rows`` as generation ``gen`` beside the current ones, in
    transactions of about ``load.part_size`` edges, after the ``videos`` they may need as nodes.
    Nothing here is visible to readers until the switch."""
    graph.run("meta_stage", write=True, gen=gen)
    ids = videos.tolist()  # (in the order the switch's writes would create them)
    for start in range(0, len(ids), load.part_size):
        with graph.transaction() as tx:
            tx.batches(
                "videos_stage", ids[start : start + load.part_size], load.batch_size, gen=gen
            )
    sizes = np.r_[rows.ends - rows.starts, np.zeros(len(rows.missing), dtype=np.int64)]
    per_row = max(1, int(sizes.max())) if len(sizes) else 1
    batch = max(1, load.batch_size // per_row)
    done = 0
    step("stage related", 0, len(rows))
    for a, b in _parts(sizes, load.part_size):
        stage_part(graph, rows[a:b], gen, batch)
        done += b - a
        step("stage related", done, len(rows))


def _parts(sizes: np.ndarray, part: int) -> list[tuple[int, int]]:
    """Consecutive (start, end) row ranges whose ``sizes`` add up to about ``part`` each."""
    if not len(sizes):
        return []
    cuts = np.searchsorted(np.cumsum(sizes), np.arange(part, int(sizes.sum()), part), "right")
    bounds = [0, *sorted(set(cuts.tolist()) - {0, len(sizes)}), len(sizes)]
    return list(itertools.pairwise(bounds))


def stage_part(graph: Graph, rows: list[dict[str, Any]], gen: int, batch: int) -> None:
    """One part of the staged lists, committed on its own."""
    with graph.transaction() as tx:
        tx.batches("related_stage", rows, batch, gen=gen)


def switch(tx: Writer, sources: np.ndarray, gen: int, batch: int, step: Progress) -> None:
    """Inside the load's last transaction: point every staged source (and one whose list is now
    empty) at ``gen``."""
    step("related_switch", 0, len(sources))
    tx.batches("related_switch", sources.tolist(), batch, gen=gen)
    step("related_switch", len(sources), len(sources))


def unstage(graph: Graph, sources: np.ndarray, videos: np.ndarray, gen: int, batch: int) -> None:
    """After a failure before the switch: take back the staged edges and the videos made for
    them. Best effort: if this fails too, the next load's recovery does it."""
    try:
        (meta,) = graph.run("meta_get")
        if meta["gen"] == gen:  # the commit went through after all: these are the lists now
            return
        with graph.transaction() as tx:
            tx.batches("related_unstage", sources.tolist(), batch, gen=gen)
            tx.batches("videos_unstage", videos.tolist(), batch, gen=gen)
        graph.run("meta_recovered", write=True)
    except GraphError:
        pass


def prune(graph: Graph, sources: np.ndarray, batch: int, step: Progress) -> None:
    """After the switch: delete the superseded edges, each batch of sources its own transaction."""
    ids = sources.tolist()
    step("prune related", 0, len(ids))
    for start in range(0, len(ids), batch):
        with graph.transaction() as tx:
            tx.batches("related_prune", ids[start : start + batch], batch)
        step("prune related", min(start + batch, len(ids)), len(ids))
    graph.run("meta_recovered", write=True)

"""Relatedness scores and each video's top-N related list (Davidson et al. 2010, section 2.2).

The paper scores ``r(i, j) = c_ij / f(i, j)`` and keeps, for each seed video i, the top N candidates
R_i. ``NORMALIZATIONS`` are the choices of f (``c_*`` as in ``ytgraph.ingest.covisit``, N = sessions):

- ``product``:   c_ij / (c_i c_j), the paper's simple choice; favours less popular videos.
- ``candidate``: c_ij / c_j, the share of j's sessions that also hold i.
- ``cosine``:    c_ij / sqrt(c_i c_j).
- ``jaccard``:   c_ij / (c_i + c_j - c_ij), sessions with both over sessions with either.
- ``lift``:      c_ij N / (c_i c_j), observed over expected co-visits (``product`` times N).
- ``llr``:       Dunning's log-likelihood ratio G^2 = 2 sum O ln(O / E) over the 2x2 table
  [[c_ij, c_i - c_ij], [c_j - c_ij, N - c_i - c_j + c_ij]] (0 ln 0 = 0), **signed**: +G^2 when
  c_ij > E = c_i c_j / N (the videos attract), -G^2 when c_ij < E (they avoid each other), 0 at E.
  G^2 alone is large for strong avoidance too; the sign keeps such pairs out of every list.

**Damping** (``RelatedSettings.damping``, d >= 0) adds d pseudo-sessions to c_i and c_j inside f:
``product`` becomes c_ij / ((c_i + d)(c_j + d)), ``candidate`` c_ij / (c_j + d), ``cosine``
c_ij / sqrt((c_i + d)(c_j + d)), ``jaccard`` c_ij / (c_i + c_j - c_ij + d), ``lift`` N times
``product``. It is a prior that every video was also seen d times without the other: for a video
seen in thousands of sessions it changes nothing, while a pair of obscure videos that met twice
(c_ij = 2, c_i = c_j = 2: the top of every undamped ``product`` list) no longer outranks a pair
with real evidence. ``llr`` weighs evidence by itself and ignores d.

Only pairs with c_ij >= 1 are ever scored. A related list R_i holds the pairs (i, j) with
``c_ij >= min_count``, ``score > 0`` and ``score >= min_score``, best ``top_n`` first; ties go to
the larger c_ij, then the smaller dst id, so lists are deterministic. Lists are directed: j in R_i
does not put i in R_j (``candidate`` is not even symmetric, and j's list may hold better ones).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

from ytgraph.config import RelatedSettings
from ytgraph.errors import ConfigError
from ytgraph.ingest.covisit import Covisits
from ytgraph.ingest.sessions import position_in_group

NORMALIZATIONS: dict[str, str] = {
    "product": "c_ij / (c_i * c_j)",
    "candidate": "c_ij / c_j",
    "cosine": "c_ij / sqrt(c_i * c_j)",
    "jaccard": "c_ij / (c_i + c_j - c_ij)",
    "lift": "c_ij * N / (c_i * c_j)",
    "llr": "sign(c_ij - c_i c_j / N) * G^2 of the 2x2 co-visitation table",
}
# Normalizations whose scores depend on N, the number of sessions.
USES_N = frozenset({"lift", "llr"})
_XLOGX_TABLE_MAX = 1 << 22  # llr looks x ln x up in a table up to N sessions (32 MB)

RELATED_COLUMNS = ("src", "dst", "score", "cooccurrences", "rank", "weight")


def check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ConfigError(
            f"related.normalization: unknown {normalization!r} (valid: {', '.join(NORMALIZATIONS)})"
        )


def check_settings(settings: RelatedSettings) -> None:
    check_normalization(settings.normalization)
    if settings.top_n < 1:
        raise ConfigError(f"related.top_n must be >= 1, not {settings.top_n}")
    if math.isnan(settings.min_score):
        raise ConfigError("related.min_score must be a number, not NaN")
    if not (math.isfinite(settings.damping) and settings.damping >= 0):
        raise ConfigError(f"related.damping must be a number >= 0, not {settings.damping!r}")


def scores(
    normalization: str,
    cij: np.ndarray,
    ci: np.ndarray,
    cj: np.ndarray,
    n: int,
    damping: float = 0.0,
) -> np.ndarray:
    """r(i, j) for arrays of c_ij >= 1, c_i, c_j, one N and a damping d (float64, same shape)."""
    check_normalization(normalization)
    cij = np.asarray(cij, dtype=np.int64)
    ci = np.asarray(ci, dtype=np.int64)
    cj = np.asarray(cj, dtype=np.int64)
    if damping > 0 and normalization != "llr":
        return _damped(normalization, cij, ci + damping, cj + damping, n, damping)
    # Integer products first, one rounding at the division: the same float as exact arithmetic.
    if normalization == "product":
        return cij.astype(np.float64) / (ci * cj).astype(np.float64)
    if normalization == "candidate":
        return cij.astype(np.float64) / cj.astype(np.float64)
    if normalization == "cosine":
        return cij.astype(np.float64) / np.sqrt((ci * cj).astype(np.float64))
    if normalization == "jaccard":
        return cij.astype(np.float64) / (ci + cj - cij).astype(np.float64)
    if normalization == "lift":
        return (cij * n).astype(np.float64) / (ci * cj).astype(np.float64)
    return _signed_llr(cij, ci, cj, n)


def _damped(
    normalization: str, cij: np.ndarray, di: np.ndarray, dj: np.ndarray, n: int, d: float
) -> np.ndarray:
    """The ratio normalisations with d added to c_i and c_j (di, dj: float64)."""
    c = cij.astype(np.float64)
    if normalization == "product":
        return c / (di * dj)
    if normalization == "candidate":
        return c / dj
    if normalization == "cosine":
        return c / np.sqrt(di * dj)
    if normalization == "jaccard":
        return c / (di + dj - d - c)  # (c_i + d) + (c_j + d) - d - c_ij = c_i + c_j - c_ij + d
    return c * float(n) / (di * dj)  # lift


def _signed_llr(cij: np.ndarray, ci: np.ndarray, cj: np.ndarray, n: int) -> np.ndarray:
    """sign(c_ij N - c_i c_j) * G^2 for the 2x2 table (see module doc); 0 ln 0 = 0.

    G^2 = 2 (sum k ln k over the four cells - sum r ln r over the rows - sum c ln c over the
    columns + N ln N), the entropy form: no division, and every x ln x is looked up in a table
    of x = 0..N (when N <= _XLOGX_TABLE_MAX), about 3x faster than four logs per pair. The sums
    cancel, so the absolute error is ~1e-15 N ln N (1e-8 at a million sessions): noise next to
    the G^2 of any pair worth a related list; the sign is exact (integers).
    """
    k12 = ci - cij
    k21 = cj - cij
    r2 = n - ci
    c2 = n - cj
    k22 = r2 - k21
    if n <= _XLOGX_TABLE_MAX:
        table = _xlogx(np.arange(n + 1, dtype=np.float64))

        def xl(k: np.ndarray) -> np.ndarray:
            return table[k]
    else:

        def xl(k: np.ndarray) -> np.ndarray:
            return _xlogx(k.astype(np.float64))

    g = xl(cij) + xl(k12) + xl(k21) + xl(k22)
    g -= xl(ci) + xl(r2) + xl(cj) + xl(c2)
    g += float(_xlogx(np.array([float(n)]))[0])
    g2 = np.maximum(2.0 * g, 0.0)  # cancellation can leave a hair below 0 at independence
    return np.sign(cij * n - ci * cj) * g2


def _xlogx(x: np.ndarray) -> np.ndarray:
    """x ln x, with 0 ln 0 = 0."""
    return x * np.log(np.where(x > 0, x, 1.0))


def _pair_frame(cov: Covisits, rows: np.ndarray, cols: np.ndarray, **columns: Any) -> pd.DataFrame:
    """Pairs of video indexes as ``src, dst`` ids, then ``columns``."""
    ids = pd.Index(cov.videos)
    return pd.DataFrame({"src": ids.take(rows).array, "dst": ids.take(cols).array, **columns})


def related_lists(cov: Covisits, settings: RelatedSettings) -> pd.DataFrame:
    """R_i for every video i: ``src, dst, score, cooccurrences, rank, weight``.

    Rank is 1..len(R_src); weight = score / R_src's best score, in (0, 1]. Rows come sorted by
    src, then rank. Selection and ties: see the module doc.
    """
    check_settings(settings)
    # Selection is per row, so rows are scored and preselected a chunk at a time: memory stays
    # at a few arrays of _CHUNK pairs plus the survivors, whatever the number of pairs.
    parts = [_candidates(cov, settings, r0, r1) for r0, r1 in _row_chunks(cov.pairs.indptr, _CHUNK)]
    if parts:
        rows, cols, cij, s = (np.concatenate(a) for a in zip(*parts, strict=True))
    else:
        rows = cols = cij = np.zeros(0, dtype=np.int64)
        s = np.zeros(0, dtype=np.float64)
    order = np.lexsort((cols, -cij, -s, rows))
    rows, cols, cij, s = rows[order], cols[order], cij[order], s[order]
    rank = position_in_group(rows) + 1
    keep = rank <= settings.top_n
    rows, cols, cij, s, rank = rows[keep], cols[keep], cij[keep], s[keep], rank[keep]
    first = np.flatnonzero(rank == 1)
    best = np.repeat(s[first], np.diff(np.r_[first, len(rank)]))
    return _pair_frame(cov, rows, cols, score=s, cooccurrences=cij, rank=rank, weight=s / best)


_CHUNK = 1 << 21  # pairs scored at a time by related_lists


def _row_chunks(indptr: np.ndarray, chunk: int) -> list[tuple[int, int]]:
    """Row ranges [r0, r1) of at most ``chunk`` stored pairs plus one row each."""
    n_rows = len(indptr) - 1
    nnz = int(indptr[-1])
    if nnz == 0:
        return []
    cuts = np.searchsorted(indptr, np.arange(chunk, nnz, chunk), side="right") - 1
    bounds = np.unique(np.r_[0, cuts, n_rows])
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _candidates(
    cov: Covisits, settings: RelatedSettings, r0: int, r1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, c_ij, score) of rows r0..r1-1 that pass the filters and may be in a top n."""
    rows, cols, cij = _pairs_coo(cov, r0, r1)
    if settings.min_count > 1:
        keep = cij >= settings.min_count
        rows, cols, cij = rows[keep], cols[keep], cij[keep]
    s = scores(
        settings.normalization,
        cij,
        cov.counts[rows],
        cov.counts[cols],
        cov.n_sessions,
        settings.damping,
    )
    keep = (s > 0) & (s >= settings.min_score)
    keep[keep] = _top_candidates(rows[keep], s[keep], settings.top_n)
    return rows[keep], cols[keep], cij[keep], s[keep]


def _pairs_coo(
    cov: Covisits, r0: int = 0, r1: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored (i, j, c_ij) of rows r0..r1-1 of ``cov.pairs``, grouped by i."""
    p = cov.pairs
    r1 = p.shape[0] if r1 is None else r1
    lo, hi = int(p.indptr[r0]), int(p.indptr[r1])
    rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(p.indptr[r0 : r1 + 1]))
    cols = p.indices[lo:hi].astype(np.int64)
    return rows, cols, p.data[lo:hi].astype(np.int64)


def _top_candidates(rows: np.ndarray, s: np.ndarray, top_n: int) -> np.ndarray:
    """A mask holding, for every row group, at least its ``top_n`` best scores (ties included).

    An exact four-key sort of every pair is slow (``np.lexsort`` of 10M pairs: ~10 s here), a
    ``np.sort`` of 10M plain floats takes ~0.2 s (SIMD). So each pair gets the float
    ``group + (1 - s / group_max) / 2``, which sorts groups apart and scores descending within one;
    the top_n-th value of each long group, decoded, is that group's cut, and everything within
    the key's rounding error of the cut stays. Only the survivors get the exact sort.
    """
    n = len(rows)
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, n])
    big = lengths > top_n
    if not big.any():
        return keep
    n_groups = len(starts)
    group = np.repeat(np.arange(n_groups, dtype=np.float64), lengths)
    best = np.maximum.reduceat(s, starts)
    key = group + 0.5 * (1.0 - s / np.repeat(best, lengths))
    kth = np.sort(key)[starts[big] + top_n - 1]
    q = 1.0 - 2.0 * (kth - group[starts[big]])  # normalized score of each long group's cut
    slack = 4.0 * float(np.spacing(float(n_groups))) + 1e-12
    cut = np.full(n_groups, -np.inf)
    cut[big] = (q - slack) * best[big]
    return s >= np.repeat(cut, lengths)

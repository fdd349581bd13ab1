"""Co-visitation counts (Davidson et al. 2010, section 2.2).

For sessions s (sets of videos): ``c_i`` = number of sessions containing video i, ``c_ij`` = number
of sessions containing both i and j (i != j), ``N`` = number of sessions. With X the binary
session x video incidence matrix, ``c_ij`` is the off-diagonal of ``X^T X`` and ``c_i`` its
diagonal, so counting is one sparse product, never a loop over pairs.

Counts add over disjoint sets of sessions, which is what incremental loading relies on:
``count(A + B) == count(A).combine(count(B))`` and, when the sessions of ``old`` are among those of
``state``, ``state.combine(old, sign=-1).combine(new)`` counts ``state - old + new``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ytgraph.errors import InputError

_FORMAT = 1


@dataclass(eq=False)
class Covisits:
    """Co-visitation counts over one set of sessions.

    videos: sorted video ids (object array of str); position k is video k everywhere below.
    counts: int64, ``counts[k]`` = c_k, the sessions that hold video k.
    pairs: csr_matrix int64, symmetric, zero diagonal, no stored zeros; ``pairs[i, j]`` = c_ij.
    n_sessions: N, the sessions counted (a session with one video counts in N and c_i only).

    A ``combine(..., sign=-1)`` result may hold negative numbers (a signed difference); every
    ``count`` result and every sum of them is non-negative (``validate`` checks the invariants).
    """

    videos: np.ndarray
    counts: np.ndarray
    pairs: sp.csr_matrix
    n_sessions: int

    def __post_init__(self) -> None:
        v = len(self.videos)
        if self.counts.shape != (v,) or self.pairs.shape != (v, v):
            raise ValueError(
                f"Covisits: {v} videos but counts {self.counts.shape}, pairs {self.pairs.shape}"
            )

    @classmethod
    def empty(cls) -> Covisits:
        return cls(
            np.array([], dtype=object),
            np.zeros(0, dtype=np.int64),
            sp.csr_matrix((0, 0), dtype=np.int64),
            0,
        )

    @property
    def n_videos(self) -> int:
        return len(self.videos)

    @property
    def nnz(self) -> int:
        """Stored (i, j) entries, i.e. twice the number of co-visited unordered pairs."""
        return int(self.pairs.nnz)

    def index_of(self, ids: object) -> np.ndarray:
        """Positions of ``ids`` in ``videos``; -1 for an id not held."""
        return pd.Index(self.videos).get_indexer(pd.Index(np.asarray(ids, dtype=object)))

    def count_of(self, a: str) -> int:
        k = self.index_of([a])[0]
        return int(self.counts[k]) if k >= 0 else 0

    def pair_count(self, a: str, b: str) -> int:
        i, j = self.index_of([a, b])
        return int(self.pairs[i, j]) if i >= 0 and j >= 0 else 0

    def combine(self, other: Covisits, sign: int = 1) -> Covisits:
        """``self + sign * other`` over the union of both video sets.

        Stored zeros are dropped, and so is a video left with ``c_i == 0`` and no pair (a video
        only ``other`` held, subtracted away), so ``(a + b) - b`` equals ``a``.
        """
        if sign not in (1, -1):
            raise ValueError(f"sign must be 1 or -1, not {sign!r}")
        # Both sides are sorted, so the union comes sorted (pandas sorts unless one side is empty
        # or both are equal).
        index = pd.Index(self.videos).union(pd.Index(other.videos))
        videos = np.asarray(index, dtype=object)
        ia = index.get_indexer(pd.Index(self.videos))
        ib = index.get_indexer(pd.Index(other.videos))
        counts = np.zeros(len(videos), dtype=np.int64)
        counts[ia] += self.counts  # ia, ib hold distinct positions
        counts[ib] += sign * other.counts
        b = other.pairs.tocoo()
        if len(videos) == len(self.videos):
            # ``other`` names no new video, so self's positions stand: add a sparse matrix built
            # from other's entries alone (an incremental load's few users) to self's. No COO
            # copy of self's tens of millions of pairs.
            delta = sp.coo_matrix(
                ((sign * b.data).astype(np.int64), (ib[b.row], ib[b.col])),
                shape=self.pairs.shape,
            ).tocsr()
            pairs = sp.csr_matrix(self.pairs + delta, dtype=np.int64)
            pairs.eliminate_zeros()
            return _prune(
                Covisits(videos, counts, pairs, int(self.n_sessions + sign * other.n_sessions))
            )
        a = self.pairs.tocoo()
        pairs = sp.coo_matrix(
            (
                np.concatenate([a.data, sign * b.data]).astype(np.int64),
                (
                    np.concatenate([ia[a.row], ib[b.row]]),
                    np.concatenate([ia[a.col], ib[b.col]]),
                ),
            ),
            shape=(len(videos), len(videos)),
        ).tocsr()  # sums duplicates
        pairs.eliminate_zeros()
        return _prune(
            Covisits(videos, counts, pairs, int(self.n_sessions + sign * other.n_sessions))
        )

    def __add__(self, other: Covisits) -> Covisits:
        return self.combine(other, 1)

    def __sub__(self, other: Covisits) -> Covisits:
        return self.combine(other, -1)

    def equals(self, other: Covisits) -> bool:
        if self.n_sessions != other.n_sessions or len(self.videos) != len(other.videos):
            return False
        if not (
            np.array_equal(self.videos, other.videos) and np.array_equal(self.counts, other.counts)
        ):
            return False
        return (self.pairs != other.pairs).nnz == 0

    def validate(self) -> None:
        """Raise ValueError unless these could be the counts of some set of sessions.

        Sorted unique ids, c_i >= 1, c_ij symmetric with zero diagonal and no stored zeros,
        1 <= c_ij <= min(c_i, c_j), max c_i <= N.
        """
        v = pd.Index(self.videos)
        if not (v.is_monotonic_increasing and v.is_unique):
            raise ValueError("videos are not sorted and unique")
        if (self.counts < 1).any():
            raise ValueError("a video has c_i < 1")
        if len(v) and self.counts.max() > self.n_sessions:
            raise ValueError("some c_i exceeds the number of sessions")
        p = self.pairs.tocoo()
        if (p.row == p.col).any():
            raise ValueError("the diagonal of pairs is not empty")
        if (p.data < 1).any():
            raise ValueError("pairs holds a count < 1")
        if (p.data > np.minimum(self.counts[p.row], self.counts[p.col])).any():
            raise ValueError("some c_ij exceeds min(c_i, c_j)")
        if (self.pairs != self.pairs.T).nnz:
            raise ValueError("pairs is not symmetric")

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (npz, exactly that name) atomically: a temporary file, then rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        csr = self.pairs.tocsr()
        csr.sort_indices()
        # Uncompressed, and int32 where the values fit (``load`` widens them): tens of millions
        # of pairs took ~30 s to compress, longer than counting them.
        with tmp.open("wb") as f:
            np.savez(
                f,
                format=np.array(_FORMAT),
                videos=np.asarray(self.videos, dtype=str),
                counts=self.counts.astype(np.int64),
                data=_narrow(csr.data),
                indices=_narrow(csr.indices),
                indptr=csr.indptr.astype(np.int64),
                n_sessions=np.array(self.n_sessions, dtype=np.int64),
            )
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Covisits:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format"]) != _FORMAT:
                    raise InputError(f"{path}: co-visitation state format {int(z['format'])}")
                videos = z["videos"].astype(object)
                v = len(videos)
                pairs = sp.csr_matrix(
                    (z["data"], z["indices"], z["indptr"]), shape=(v, v), dtype=np.int64
                )
                return cls(videos, z["counts"].astype(np.int64), pairs, int(z["n_sessions"]))
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"{path}: not a co-visitation state file ({e})") from None


def _narrow(a: np.ndarray) -> np.ndarray:
    """``a`` as int32 when every value fits, else int64."""
    lim = np.iinfo(np.int32)
    if a.size == 0 or (int(a.min()) >= lim.min and int(a.max()) <= lim.max):
        return a.astype(np.int32)
    return a.astype(np.int64)


def count(sessions: pd.DataFrame) -> Covisits:
    """Count co-visitations in ``sessions`` (columns ``session_id``, ``video_id``; see sessionize).

    A (session, video) row given twice counts once. ``session_id`` only tells sessions apart within
    this frame: every sessionize call numbers from 0, so count each call's output on its own and
    ``combine`` the results rather than concatenating the frames.
    """
    missing = [c for c in ("session_id", "video_id") if c not in sessions.columns]
    if missing:
        raise InputError(f"sessions: missing column(s) {', '.join(missing)}")
    if sessions.empty:
        return Covisits.empty()
    scode, sids = pd.factorize(sessions["session_id"])
    vcode, videos = pd.factorize(sessions["video_id"], sort=True)
    if (scode < 0).any() or (vcode < 0).any():
        raise InputError("sessions: a row has no session_id or no video_id")
    n_s, n_v = len(sids), len(videos)
    x = sp.csr_matrix(
        (np.ones(len(scode), dtype=np.int64), (scode, vcode)), shape=(n_s, n_v)
    )  # duplicates summed ...
    x.data[:] = 1  # ... and made binary again
    gram = sp.csr_matrix(x.T.tocsr() @ x)
    counts = np.asarray(gram.diagonal(), dtype=np.int64)
    # The product's rows come with unsorted columns. X^T X is symmetric, so its CSC arrays are its
    # CSR arrays with every row sorted; that conversion is a counting sort, ~20x cheaper than
    # sort_indices.
    csc = gram.tocsc()
    gram = sp.csr_matrix((csc.data, csc.indices, csc.indptr), shape=gram.shape)
    return Covisits(np.asarray(videos, dtype=object), counts, _without_diagonal(gram), n_s)


def _without_diagonal(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` (rows sorted) without its diagonal: removed, not stored as zeros."""
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    off = rows != m.indices
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[off], minlength=m.shape[0]), out=indptr[1:])
    out = sp.csr_matrix(
        (m.data[off].astype(np.int64), m.indices[off], indptr), shape=m.shape, dtype=np.int64
    )
    out.has_sorted_indices = True  # a subsequence of sorted rows
    return out


def _prune(cov: Covisits) -> Covisits:
    """Drop videos with c_i == 0 and an empty row."""
    row_nnz = np.diff(cov.pairs.indptr)
    keep = (cov.counts != 0) | (row_nnz > 0)
    if keep.all():
        return cov
    idx = np.flatnonzero(keep)
    pairs = sp.csr_matrix(cov.pairs[idx][:, idx], dtype=np.int64)
    return Covisits(cov.videos[idx], cov.counts[idx], pairs, cov.n_sessions)

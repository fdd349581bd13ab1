"""Relatedness scores and top-N lists against the brute-force reference, and by hand."""

from __future__ import annotations

import itertools
import math
from unittest import mock

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import settings as hsettings

from tests.reference import count_ref, relatedness_ref, scores_ref, topn_ref
from ytgraph.config import RelatedSettings
from ytgraph.errors import ConfigError
from ytgraph.ingest import related as related_mod
from ytgraph.ingest.covisit import Covisits, count
from ytgraph.ingest.related import (
    NORMALIZATIONS,
    RELATED_COLUMNS,
    _top_candidates,
    check_normalization,
    related_lists,
    scores,
)

VIDEOS = ["A", "B", "C", "D", "E", "a", "v10", "v2"]
EXACT = [n for n in NORMALIZATIONS if n != "llr"]  # same float ops as the reference, bit for bit


def sessions_frame(sessions: list[list[str]]) -> pd.DataFrame:
    rows = [(k, v) for k, s in enumerate(sessions) for v in s]
    return pd.DataFrame(
        {
            "session_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "video_id": pd.Series([r[1] for r in rows], dtype=object),
        }
    )


def plain(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reset_index(drop=True).copy()
    for c in ("src", "dst"):
        out[c] = out[c].astype(object)
    return out


def score_pairs(cov: Covisits, normalization: str, damping: float = 0.0) -> pd.DataFrame:
    """Every co-visited ordered pair scored by ``scores``: ``src, dst, score, cooccurrences``."""
    check_normalization(normalization)
    coo = cov.pairs.tocoo()
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
    cij = coo.data[order].astype(np.int64)
    s = scores(normalization, cij, cov.counts[rows], cov.counts[cols], cov.n_sessions, damping)
    ids = pd.Index(cov.videos)
    return pd.DataFrame(
        {
            "src": ids.take(rows).array,
            "dst": ids.take(cols).array,
            "score": s,
            "cooccurrences": cij,
        }
    )


def score_dict(df: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {
        (str(a), str(b)): float(s)
        for a, b, s in zip(df["src"], df["dst"], df["score"], strict=True)
    }


# S0 = {A, B, C}, S1 = {A, B}, S2 = {B, D}, S3 = {C, D}:  N = 4
#   c_A = 2, c_B = 3, c_C = 2, c_D = 2;  c_AB = 2, c_AC = c_BC = c_BD = c_CD = 1, c_AD = 0.
HAND = [["A", "B", "C"], ["A", "B"], ["B", "D"], ["C", "D"]]

# r(A, B): c_ij = 2, c_i = 2, c_j = 3, N = 4
#   product   2 / (2*3)          = 1/3
#   candidate 2 / c_B = 2/3            (and r(B, A) = 2 / c_A = 1: directed)
#   cosine    2 / sqrt(6)        = 0.8164966
#   jaccard   2 / (2 + 3 - 2)    = 2/3
#   lift      2 * 4 / (2*3)      = 4/3
#   llr       table [[2, 0], [1, 1]], rows (2, 2), cols (3, 1), E = [[1.5, .5], [1.5, .5]]
#             G^2 = 2 (2 ln(2/1.5) + 0 + 1 ln(1/1.5) + 1 ln(1/.5)) = 2 ln(64/27) = 1.7260924;
#             c_AB = 2 > E = 1.5: positive.
# r(B, D): c_ij = 1, c_i = 3, c_j = 2
#   product 1/6, candidate 1/2, cosine 1/sqrt(6) = 0.4082483, jaccard 1/4, lift 4/6 = 2/3,
#   llr table [[1, 2], [1, 0]], E = [[1.5, 1.5], [.5, .5]]: G^2 = 2 ln(64/27) again, but
#   c_BD = 1 < E = 1.5: -1.7260924.
# r(A, C): c_ij = 1, c_i = c_j = 2: E = 1 = c_AC, lift 1, llr 0 (table [[1, 1], [1, 1]]).
HAND_SCORES = {
    "product": {("A", "B"): 1 / 3, ("B", "D"): 1 / 6, ("A", "C"): 1 / 4},
    "candidate": {("A", "B"): 2 / 3, ("B", "A"): 1.0, ("B", "D"): 1 / 2, ("A", "C"): 1 / 2},
    "cosine": {("A", "B"): 0.8164966, ("B", "D"): 0.4082483, ("A", "C"): 1 / 2},
    "jaccard": {("A", "B"): 2 / 3, ("B", "D"): 1 / 4, ("A", "C"): 1 / 3},
    "lift": {("A", "B"): 4 / 3, ("B", "D"): 2 / 3, ("A", "C"): 1.0},
    "llr": {("A", "B"): 1.7260924, ("B", "D"): -1.7260924, ("A", "C"): 0.0},
}


@pytest.mark.parametrize("normalization", list(NORMALIZATIONS))
def test_hand_worked_scores(normalization: str) -> None:
    got = score_dict(score_pairs(count(sessions_frame(HAND)), normalization))
    assert len(got) == 10  # 5 co-visited unordered pairs, both directions
    for pair, want in HAND_SCORES[normalization].items():
        assert got[pair] == pytest.approx(want, rel=1e-7, abs=1e-12), pair
    assert math.log(64 / 27) * 2 == pytest.approx(1.7260924, rel=1e-7)


def test_hand_worked_lists() -> None:
    cov = count(sessions_frame(HAND))
    got = related_lists(cov, RelatedSettings(normalization="product", top_n=2, min_count=1))
    # R_A: B 1/3, C 1/4.  R_B: A 1/3, then C and D tie at 1/6 with c = 1: C by id.
    # R_C: A and D tie at 1/4 (c = 1): A, D.  R_D: C 1/4, B 1/6.
    assert list(zip(got["src"], got["dst"], got["rank"], strict=True)) == [
        ("A", "B", 1), ("A", "C", 2),
        ("B", "A", 1), ("B", "C", 2),
        ("C", "A", 1), ("C", "D", 2),
        ("D", "C", 1), ("D", "B", 2),
    ]  # fmt: skip
    assert got["weight"].tolist() == pytest.approx([1, 0.75, 1, 0.5, 1, 1, 1, 2 / 3])
    assert got["cooccurrences"].tolist() == [2, 1, 2, 1, 1, 1, 1, 1]
    # The default min_count = 2 leaves only the pair A-B.
    dflt = related_lists(cov, RelatedSettings())
    assert list(zip(dflt["src"], dflt["dst"], strict=True)) == [("A", "B"), ("B", "A")]
    # llr keeps only positive associations: A-B (+), C-D (1 of c_C = c_D = 2, E = 1: 0, dropped).
    llr = related_lists(cov, RelatedSettings(normalization="llr", min_count=1))
    assert list(zip(llr["src"], llr["dst"], strict=True)) == [("A", "B"), ("B", "A")]


def test_lists_are_directed() -> None:
    # c_X = 4, c_Y = c_W = 1, c_Z = 2; c_XY = c_XW = 1, c_XZ = 2. Candidate: r(Y, X) = 1/4 is
    # all Y has, so X heads R_Y; r(X, Y) = 1/1 = r(X, W) = 1/1 = r(X, Z) = 2/2 tie, and Z wins on
    # c_XZ = 2: with top_n = 1, Y is not in R_X although X is in R_Y.
    sessions = [["X", "Y"], ["X", "Z"], ["X", "Z"], ["X", "W"]]
    cov = count(sessions_frame(sessions))
    got = related_lists(cov, RelatedSettings(normalization="candidate", min_count=1, top_n=1))
    lists = dict(zip(got["src"], got["dst"], strict=True))
    assert lists == {"W": "X", "X": "Z", "Y": "X", "Z": "X"}
    assert got.loc[got["src"] == "Y", "score"].tolist() == [0.25]
    got = related_lists(cov, RelatedSettings(normalization="product", min_count=1, top_n=1))
    lists = dict(zip(got["src"], got["dst"], strict=True))
    # r(X, .) = c_XZ/(4*2) = 1/4 for Z, 1/4 for Y and W: tie on score, Z wins on c_XZ = 2.
    assert lists["X"] == "Z"


def test_bad_settings() -> None:
    cov = count(sessions_frame(HAND))
    with pytest.raises(ConfigError, match="cosine") as e:
        related_lists(cov, RelatedSettings(normalization="pmi"))
    assert "pmi" in str(e.value)
    with pytest.raises(ConfigError, match="llr"):
        score_pairs(cov, "nope")
    with pytest.raises(ConfigError, match="top_n"):
        related_lists(cov, RelatedSettings(top_n=0))
    with pytest.raises(ConfigError, match="min_score"):
        related_lists(cov, RelatedSettings(min_score=math.nan))


def test_empty() -> None:
    for cov in (Covisits.empty(), count(sessions_frame([["A"], ["B"]]))):
        got = related_lists(cov, RelatedSettings(min_count=1))
        assert list(got.columns) == list(RELATED_COLUMNS) and got.empty
        assert score_pairs(cov, "llr").empty


# --- properties --------------------------------------------------------------------------------

session_lists = st.lists(st.lists(st.sampled_from(VIDEOS), min_size=1, max_size=6), max_size=14)


@hsettings(max_examples=150, deadline=None)
@given(
    sessions=session_lists,
    normalization=st.sampled_from(list(NORMALIZATIONS)),
    llr_table=st.booleans(),
)
def test_scores_equal_reference(
    sessions: list[list[str]], normalization: str, llr_table: bool
) -> None:
    df = sessions_frame(sessions)
    counts, pairs, n = count_ref(df)
    want = scores_ref(counts, pairs, n, normalization)
    limit = related_mod._XLOGX_TABLE_MAX if llr_table else -1  # the table, or a log per x
    with mock.patch.object(related_mod, "_XLOGX_TABLE_MAX", limit):
        got_df = score_pairs(count(df), normalization)
    assert got_df["score"].dtype == np.float64 and got_df["cooccurrences"].dtype == np.int64
    got = score_dict(got_df)
    assert got.keys() == want.keys()
    for pair, w in want.items():
        if normalization == "llr":
            assert got[pair] == pytest.approx(w, rel=1e-9, abs=1e-9), pair
            assert np.sign(got[pair]) == np.sign(w) or abs(w) < 1e-9
        else:
            assert got[pair] == w, pair


@st.composite
def related_settings(draw: st.DrawFn) -> RelatedSettings:
    return RelatedSettings(
        normalization=draw(st.sampled_from(list(NORMALIZATIONS))),
        top_n=draw(st.integers(1, 5)),
        min_count=draw(st.integers(0, 3)),
        min_score=draw(st.sampled_from([0.0, -1.0, 0.1, 0.25, 0.5, 1.0, 2.0])),
    )


def check_lists(cov: Covisits, df: pd.DataFrame, settings: RelatedSettings) -> None:
    counts, pairs, n = count_ref(df)
    if settings.normalization in EXACT:
        scores = scores_ref(counts, pairs, n, settings.normalization)
    else:
        # llr goes through log, whose last bit may differ from math.log: the scores are checked
        # against the reference above; here the same scores go into the reference selection, so
        # that ties are ties on both sides.
        scores = score_dict(score_pairs(cov, settings.normalization))
    want = topn_ref(scores, pairs, settings)
    got = related_lists(cov, settings)
    assert list(got.columns) == list(RELATED_COLUMNS)
    for c, dt in (("score", np.float64), ("cooccurrences", np.int64), ("rank", np.int64),
                  ("weight", np.float64)):  # fmt: skip
        assert got[c].dtype == dt, c
    pd.testing.assert_frame_equal(plain(got), plain(want), check_dtype=False)
    assert ((got["weight"] > 0) & (got["weight"] <= 1)).all()


@hsettings(max_examples=300, deadline=None)
@given(
    sessions=session_lists,
    settings=related_settings(),
    chunk=st.sampled_from([1, 2, 5, related_mod._CHUNK]),
)
def test_lists_equal_reference(
    sessions: list[list[str]], settings: RelatedSettings, chunk: int
) -> None:
    df = sessions_frame(sessions)
    with mock.patch.object(related_mod, "_CHUNK", chunk):  # rows scored a few at a time
        check_lists(count(df), df, settings)


@hsettings(max_examples=100, deadline=None)
@given(
    n_sessions=st.integers(1, 6),
    size=st.integers(2, 8),
    settings=related_settings(),
)
def test_lists_with_many_ties(n_sessions: int, size: int, settings: RelatedSettings) -> None:
    # Overlapping runs of videos: many pairs share c_i, c_j and c_ij, so scores tie everywhere.
    videos = [f"v{k}" for k in range(size + n_sessions)]
    sessions = [videos[k : k + size] for k in range(n_sessions)] * 2
    df = sessions_frame(sessions)
    check_lists(count(df), df, settings)


def test_lists_against_reference_on_a_larger_graph() -> None:
    """Rows of hundreds of pairs, so the float-key preselection really cuts."""
    rng = np.random.default_rng(3)
    p = 1 / np.arange(1, 301)
    sessions = [
        [f"v{k}" for k in rng.choice(300, size=rng.integers(1, 15), p=p / p.sum())]
        for _ in range(2000)
    ]
    df = sessions_frame(sessions)
    cov = count(df)
    assert np.diff(cov.pairs.indptr).max() > 100
    for normalization in NORMALIZATIONS:
        for top_n, min_count in ((1, 1), (10, 2), (25, 1)):
            check_lists(cov, df, RelatedSettings(normalization, top_n, min_count))


@hsettings(max_examples=300, deadline=None)
@given(
    groups=st.lists(
        st.lists(
            st.one_of(
                st.sampled_from([1.0, 0.5, 1 / 3, np.nextafter(1.0, 0), np.nextafter(0.5, 1)]),
                st.floats(1e-300, 1e300),
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=6,
    ),
    top_n=st.integers(1, 6),
    first_row=st.sampled_from([0, 7, 2**20, 2**40]),
)
def test_preselection_keeps_every_true_top_n(
    groups: list[list[float]], top_n: int, first_row: int
) -> None:
    rows = np.concatenate([np.full(len(g), first_row + 3 * k) for k, g in enumerate(groups)])
    s = np.concatenate([np.asarray(g, dtype=np.float64) for g in groups])
    keep = _top_candidates(rows.astype(np.int64), s, top_n)
    start = 0
    for g in groups:
        part, kept = np.asarray(g), keep[start : start + len(g)]
        cut = np.sort(part)[::-1][min(top_n, len(g)) - 1]
        assert kept[part >= cut].all()  # everything that can be in the top n (ties included)
        start += len(g)


def test_reference_formulas_agree_with_hand_values() -> None:
    assert relatedness_ref(2, 2, 3, 4, "llr") == pytest.approx(2 * math.log(64 / 27))
    assert relatedness_ref(1, 3, 2, 4, "llr") == pytest.approx(-2 * math.log(64 / 27))
    assert relatedness_ref(1, 2, 2, 4, "llr") == 0.0


def test_row_chunks_cover_every_row_once() -> None:
    from ytgraph.ingest.related import _row_chunks

    indptr = np.array([0, 3, 3, 10, 11, 11, 20])
    for chunk in (1, 2, 4, 7, 100):
        chunks = _row_chunks(indptr, chunk)
        assert chunks[0][0] == 0 and chunks[-1][1] == 6
        assert all(a < b for a, b in chunks)
        assert all(b == c for (_, b), (c, _) in itertools.pairwise(chunks))
        # a chunk holds at most `chunk` pairs plus one row
        longest = np.diff(indptr).max()
        assert all(indptr[b] - indptr[a] <= chunk + longest for a, b in chunks)
    assert _row_chunks(np.array([0, 0, 0]), 4) == []


def test_unsorted_pairs_give_the_same_lists() -> None:
    rng = np.random.default_rng(5)
    sessions = [[f"v{k}" for k in rng.integers(0, 30, rng.integers(1, 8))] for _ in range(200)]
    cov = count(sessions_frame(sessions))
    p = cov.pairs.tocoo()
    perm = rng.permutation(p.nnz)
    shuffled = sp.csr_matrix(
        (p.data[perm], (p.row[perm], p.col[perm])), shape=p.shape, dtype=np.int64
    )  # coo -> csr keeps the given order within a row
    shuffled.has_sorted_indices = False
    other = Covisits(cov.videos, cov.counts, shuffled, cov.n_sessions)
    s = RelatedSettings(top_n=3, min_count=1)
    pd.testing.assert_frame_equal(related_lists(other, s), related_lists(cov, s))


@pytest.mark.parametrize("damping", [0.5, 20.0])
@pytest.mark.parametrize("normalization", sorted(NORMALIZATIONS))
def test_damped_scores_and_lists_against_reference(normalization: str, damping: float) -> None:
    """Damping: d pseudo-sessions added to c_i and c_j inside f (llr ignores it)."""
    rng = np.random.default_rng(7)
    p = 1 / np.arange(1, 61)
    sessions = [
        [f"v{k}" for k in rng.choice(60, size=rng.integers(1, 8), p=p / p.sum())]
        for _ in range(400)
    ]
    df = sessions_frame(sessions)
    cov = count(df)
    counts, pairs, n = count_ref(df)
    want = scores_ref(counts, pairs, n, normalization, damping)
    got = score_dict(score_pairs(cov, normalization, damping))
    assert got.keys() == want.keys()
    for k, v in want.items():
        # llr looks x ln x up in a table (see related._signed_llr): ~1e-12 off math.log
        tol = 1e-9 if normalization == "llr" else 1e-12
        assert got[k] == pytest.approx(v, rel=tol, abs=tol), k
    settings = RelatedSettings(normalization, top_n=5, min_count=1, damping=damping)  # type: ignore[arg-type]
    lists = related_lists(cov, settings)
    # The selection from these scores is the reference selection (ties are the code's floats).
    ref = topn_ref(got, pairs, settings)
    pd.testing.assert_frame_equal(plain(lists), plain(ref), check_dtype=False)


def test_damping_moves_obscure_pairs_down_the_product_list() -> None:
    """c_A = 32, c_B = 2, c_P = 300; A met B twice and P 30 times. Undamped product ranks B first
    in R_A (2/(32*2) = 0.031 > 30/(32*300) = 0.0031); with d = 50, P leads
    (30/(82*350) = 1.05e-3 > 2/(82*52) = 4.7e-4): the evidence wins."""
    sessions = [["A", "B"]] * 2 + [["A", "P"]] * 30 + [["P"]] * 270
    cov = count(sessions_frame(sessions))
    plain_list = related_lists(cov, RelatedSettings("product", top_n=2, min_count=2))
    damped = related_lists(cov, RelatedSettings("product", top_n=2, min_count=2, damping=50.0))
    first = lambda f: f[(f["src"] == "A") & (f["rank"] == 1)]["dst"].item()  # noqa: E731
    assert first(plain_list) == "B"
    assert first(damped) == "P"

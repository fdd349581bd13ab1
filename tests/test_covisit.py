"""Co-visitation counts against the brute-force reference; combine, difference, save and load."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import settings as hsettings

from tests.reference import count_ref
from ytgraph.config import SessionSettings
from ytgraph.errors import InputError
from ytgraph.ingest.covisit import Covisits, count
from ytgraph.ingest.sessions import sessionize

VIDEOS = ["A", "B", "C", "D", "a", "v10", "v2", "é"]


def sessions_frame(sessions: list[list[str]], first_id: int = 0) -> pd.DataFrame:
    rows = [(first_id + k, v) for k, s in enumerate(sessions) for v in s]
    return pd.DataFrame(
        {
            "user_id": pd.Series(["u"] * len(rows), dtype=object),
            "session_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "video_id": pd.Series([r[1] for r in rows], dtype=object),
            "timestamp": pd.Series(range(len(rows)), dtype="int64"),
        }
    )


def as_dicts(cov: Covisits) -> tuple[dict[str, int], dict[tuple[str, str], int], int]:
    counts = {str(v): int(c) for v, c in zip(cov.videos, cov.counts, strict=True)}
    p = cov.pairs.tocoo()
    pairs = {
        (str(cov.videos[i]), str(cov.videos[j])): int(c)
        for i, j, c in zip(p.row, p.col, p.data, strict=True)
    }
    return counts, pairs, cov.n_sessions


def assert_matches_reference(cov: Covisits, sessions: pd.DataFrame) -> None:
    cov.validate()
    assert cov.counts.dtype == np.int64 and cov.pairs.dtype == np.int64
    assert list(cov.videos) == sorted(cov.videos)
    assert as_dicts(cov) == count_ref(sessions)


# Sessions may repeat a video (count must treat a session as a set) and may be single videos.
session_lists = st.lists(st.lists(st.sampled_from(VIDEOS), min_size=1, max_size=6), max_size=12)


# --- hand-worked -----------------------------------------------------------------------------


def test_hand_worked_counts() -> None:
    # S0 = {A, B, C}, S1 = {A, B}, S2 = {B, D}, S3 = {C, D}:
    #   c_A = 2, c_B = 3, c_C = 2, c_D = 2, N = 4
    #   c_AB = 2 (S0, S1); c_AC = c_BC = c_BD = c_CD = 1 (S0, S0, S2, S3); c_AD = 0.
    cov = count(sessions_frame([["A", "B", "C"], ["A", "B"], ["B", "D"], ["C", "D"]]))
    assert list(cov.videos) == ["A", "B", "C", "D"]
    assert cov.counts.tolist() == [2, 3, 2, 2]
    assert cov.n_sessions == 4
    assert cov.pairs.toarray().tolist() == [
        [0, 2, 1, 0],
        [2, 0, 1, 1],
        [1, 1, 0, 1],
        [0, 1, 1, 0],
    ]
    assert cov.pair_count("A", "B") == 2 and cov.pair_count("A", "D") == 0
    assert cov.count_of("B") == 3 and cov.count_of("nope") == 0
    assert cov.nnz == 10


def test_single_video_sessions_count_in_n_and_c_only() -> None:
    cov = count(sessions_frame([["A"], ["A"], ["B"]]))
    assert cov.counts.tolist() == [2, 1] and cov.n_sessions == 3 and cov.nnz == 0


def test_empty() -> None:
    cov = count(sessions_frame([]))
    assert cov.n_videos == 0 and cov.n_sessions == 0 and cov.pairs.shape == (0, 0)
    assert cov.equals(Covisits.empty())
    with pytest.raises(InputError, match="session_id"):
        count(pd.DataFrame({"video_id": ["a"]}))


# --- properties --------------------------------------------------------------------------------


@hsettings(max_examples=200, deadline=None)
@given(sessions=session_lists)
def test_count_equals_reference(sessions: list[list[str]]) -> None:
    df = sessions_frame(sessions)
    assert_matches_reference(count(df), df)


@hsettings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u3"]),
            st.sampled_from(VIDEOS),
            st.integers(0, 3 * 86400),
        ),
        max_size=40,
    ),
    window=st.sampled_from([1.0, 6.0, 24.0]),
    cap=st.integers(0, 4),
)
def test_count_of_sessionize_equals_reference(
    rows: list[tuple[str, str, int]], window: float, cap: int
) -> None:
    ev = pd.DataFrame(
        {
            "user_id": pd.Series([r[0] for r in rows], dtype=object),
            "video_id": pd.Series([r[1] for r in rows], dtype=object),
            "timestamp": pd.Series([r[2] for r in rows], dtype="int64"),
            "event": "watch",
            "watch_seconds": np.nan,
            "rating": np.nan,
        }
    )
    sessions = sessionize(ev, SessionSettings(window_hours=window, max_videos=cap))
    assert_matches_reference(count(sessions), sessions)


@hsettings(max_examples=200, deadline=None)
@given(a=session_lists, b=session_lists)
def test_combine_of_disjoint_session_sets_is_count_of_all(
    a: list[list[str]], b: list[list[str]]
) -> None:
    ca, cb = count(sessions_frame(a)), count(sessions_frame(b, first_id=1000))
    both = count(sessions_frame(a + b))
    assert ca.combine(cb).equals(both)
    assert (cb + ca).equals(both)
    assert (both - cb).equals(ca)  # videos only b held are dropped again
    assert both.combine(ca, sign=-1).equals(cb)
    (ca + cb).validate()


@hsettings(max_examples=200, deadline=None)
@given(keep=session_lists, old=session_lists, new=session_lists)
def test_state_minus_old_plus_new(
    keep: list[list[str]], old: list[list[str]], new: list[list[str]]
) -> None:
    state = count(sessions_frame(keep + old))
    updated = state - count(sessions_frame(old)) + count(sessions_frame(new))
    want = count(sessions_frame(keep + new))
    assert updated.equals(want)
    assert (state + count(sessions_frame(new)) - count(sessions_frame(old))).equals(want)
    updated.validate()
    # No stored zeros survive a subtraction.
    assert (updated.pairs.data != 0).all()


@hsettings(max_examples=200, deadline=None)
@given(a=session_lists, b=session_lists)
def test_a_difference_holds_the_ids_whose_counts_differ(
    a: list[list[str]], b: list[list[str]]
) -> None:
    ca, cb = count(sessions_frame(a)), count(sessions_frame(b))
    (ra, rpa, _), (rb, rpb, _) = count_ref(sessions_frame(a)), count_ref(sessions_frame(b))
    want = {v for v in set(ra) | set(rb) if ra.get(v, 0) != rb.get(v, 0)}
    want |= {i for (i, j) in set(rpa) | set(rpb) if rpa.get((i, j), 0) != rpb.get((i, j), 0)}
    got = (ca - cb).videos
    assert list(got) == sorted(want)
    assert list((cb - ca).videos) == sorted(want)


def test_combine_rejects_other_signs() -> None:
    cov = count(sessions_frame([["A", "B"]]))
    with pytest.raises(ValueError, match="sign"):
        cov.combine(cov, sign=2)


def test_validate_catches_broken_counts() -> None:
    cov = count(sessions_frame([["A", "B"], ["A"]]))
    cov.validate()
    bad = Covisits(cov.videos, cov.counts, sp.csr_matrix(np.array([[0, 1], [0, 0]])), 2)
    with pytest.raises(ValueError, match="symmetric"):
        bad.validate()
    with pytest.raises(ValueError, match="min"):
        Covisits(cov.videos, cov.counts, sp.csr_matrix(np.array([[0, 2], [2, 0]])), 2).validate()
    negative = count(sessions_frame([["A"]])) - cov
    with pytest.raises(ValueError, match="c_i < 1"):
        negative.validate()
    with pytest.raises(ValueError, match="videos"):
        Covisits(cov.videos[:1], cov.counts, cov.pairs, 2)


# --- save and load ---------------------------------------------------------------------------


@hsettings(max_examples=30, deadline=None)
@given(sessions=session_lists)
def test_save_load_round_trip(sessions: list[list[str]]) -> None:
    import tempfile

    cov = count(sessions_frame(sessions))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "state" / "covisits.npz"
        assert cov.save(path) == path
        back = Covisits.load(path)
    assert back.equals(cov)
    assert back.videos.dtype == object and all(isinstance(v, str) for v in back.videos)
    assert back.counts.dtype == np.int64 and back.pairs.dtype == np.int64


def test_save_keeps_the_exact_name_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "state.bin"
    count(sessions_frame([["A", "B"]])).save(path)
    count(sessions_frame([["C", "D", "E"]])).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]
    assert list(Covisits.load(path).videos) == ["C", "D", "E"]


def test_load_rejects_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk"):
        Covisits.load(junk)
    with pytest.raises(InputError):
        Covisits.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(InputError, match="not a co-visitation state"):
        Covisits.load(other)

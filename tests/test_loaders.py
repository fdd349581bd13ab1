"""The canonical readers: values, rejects with their lines, formats, strictness, bad files.

Expected values are worked out by hand (or with the standard library) in each test, never
taken from the code under test.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders import read_canonical, read_dataset
from loaders.canonical import csv_records, decode, read_events, read_videos
from loaders.schema import EVENT_COLUMNS, VIDEO_COLUMNS, ReadReport, Reject, empty_events
from ytgraph.errors import InputError

HEADER = "user_id,video_id,timestamp,event,watch_seconds,rating\n"
GOOD_A = "ua,va,100,watch,30,\n"
GOOD_B = "ub,vb,200,like,,\n"
T2024 = 1_704_067_200  # 2024-01-01T00:00:00Z, by hand: 19723 days * 86400


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return p


def events_frame(rows: list[tuple[str, str, int, str, float, float]]) -> pd.DataFrame:
    """The canonical events frame for hand-written rows."""
    cols: list[tuple[object, ...]] = list(zip(*rows, strict=True)) or [() for _ in EVENT_COLUMNS]
    return pd.DataFrame(
        {
            "user_id": pd.Series(list(cols[0]), dtype=object),
            "video_id": pd.Series(list(cols[1]), dtype=object),
            "timestamp": pd.Series(list(cols[2]), dtype="int64"),
            "event": pd.Series(list(cols[3]), dtype=object),
            "watch_seconds": pd.Series(list(cols[4]), dtype="float64"),
            "rating": pd.Series(list(cols[5]), dtype="float64"),
        }
    )


NAN = float("nan")
FIXTURE_OK = HealthCheck.function_scoped_fixture  # each example writes its own file name over


# ---------------------------------------------------------------------------------------------
# good input


def test_reads_good_csv_to_canonical_frame(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "events.csv",
        HEADER
        + "u1,v1,1700000000,watch,12.5,\n"
        + "u2,v2,1700000060,rate,,4.5\n"
        + "u1,v1,1700000000,watch,12.5,\n"  # a repeated row is kept
        + "u3,v3,1700000120,playlist_add,,\n",
    )
    events, report = read_events(p)
    expected = events_frame(
        [
            ("u1", "v1", 1700000000, "watch", 12.5, NAN),
            ("u2", "v2", 1700000060, "rate", NAN, 4.5),
            ("u1", "v1", 1700000000, "watch", 12.5, NAN),
            ("u3", "v3", 1700000120, "playlist_add", NAN, NAN),
        ]
    )
    pd.testing.assert_frame_equal(events, expected)
    assert list(events.dtypes) == list(empty_events().dtypes)
    assert (report.read, report.accepted, report.rejected) == (4, 4, 0)


def test_strips_ids_and_lowercases_events_and_header(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "events.csv",
        " User_ID , video_id,TIMESTAMP,event,extra_column\n  u1 ,\tv1 , 5 , Watch ,whatever\n",
    )
    events, report = read_events(p)
    pd.testing.assert_frame_equal(events, events_frame([("u1", "v1", 5, "watch", NAN, NAN)]))
    assert report.rejected == 0


def test_blank_lines_are_not_rows_and_bom_is_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, "events.csv", "\ufeff" + HEADER + "\n" + GOOD_A + "   \n\n" + GOOD_B)
    events, report = read_events(p)
    assert list(events["user_id"]) == ["ua", "ub"]
    assert (report.read, report.accepted) == (2, 2)


def test_crlf_file(tmp_path: Path) -> None:
    p = write(tmp_path, "events.csv", (HEADER + GOOD_A + GOOD_B).replace("\n", "\r\n"))
    events, report = read_events(p)
    assert list(events["video_id"]) == ["va", "vb"]
    assert list(events["timestamp"]) == [100, 200]
    assert report.rejected == 0


def test_quoted_fields_and_multiline_rows_keep_line_numbers(tmp_path: Path) -> None:
    text = (
        HEADER  # line 1
        + 'u1,"v,1",10,watch,,\n'  # line 2
        + 'u2,"multi\nline",20,like,,\n'  # lines 3-4
        + 'u3,"say ""hi""",30,like,,\n'  # line 5
        + "u4,v4,40,pause,,\n"  # line 6: bad
    )
    p = write(tmp_path, "events.csv", text)
    events, report = read_events(p)
    assert list(events["video_id"]) == ["v,1", "multi\nline", 'say "hi"']
    assert report.rejects == [Reject(str(p), 6, "unknown event 'pause'", "u4,v4,40,pause,,")]


def test_multiline_record_that_is_bad_reports_its_first_line(tmp_path: Path) -> None:
    text = HEADER + 'u1,"v\n1",xx,watch,,\n' + GOOD_A  # record on lines 2-3, then line 4
    p = write(tmp_path, "events.csv", text)
    events, report = read_events(p)
    assert report.rejects == [Reject(str(p), 2, "unparseable timestamp", 'u1,"v\n1",xx,watch,,')]
    assert list(events["user_id"]) == ["ua"]


def test_timestamps_iso_and_epoch_agree(tmp_path: Path) -> None:
    values = [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T02:00:00+02:00",
        "2023-12-31T19:00:00-05:00",
        "2024-01-01 00:00:00",  # naive: UTC
        "2024-01-01T00:00:00",
        "2024-01-01",
        "2024-01-01T00:00:00.999Z",  # floored to the second
        str(T2024),
        f"{T2024}.75",
        f"{T2024 / 1000:.0f}e3",  # 1704067e3 = 1704067000
    ]
    expected = [T2024] * 10 + [1_704_067_000]
    body = "".join(f"u{i},v{i},{v},watch,,\n" for i, v in enumerate(values))
    events, report = read_events(write(tmp_path, "events.csv", HEADER + body))
    assert report.rejected == 0
    assert list(events["timestamp"]) == expected


def test_timestamp_before_1970_floors(tmp_path: Path) -> None:
    body = "u,v,-1.5,watch,,\nu,v,1969-12-31T23:59:58.5Z,watch,,\n"
    events, _ = read_events(write(tmp_path, "events.csv", HEADER + body))
    assert list(events["timestamp"]) == [-2, -2]


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE_OK])
@given(
    t=st.integers(min_value=-2_000_000_000, max_value=4_000_000_000),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_with_any_offset_equals_epoch(tmp_path: Path, t: int, offset_minutes: int) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    iso = datetime.fromtimestamp(t, tz=UTC).astimezone(zone).isoformat()
    naive = datetime.fromtimestamp(t, tz=UTC).replace(tzinfo=None).isoformat(sep=" ")
    body = f"a,b,{iso},watch,,\na,b,{naive},watch,,\na,b,{t},watch,,\n"
    events, report = read_events(write(tmp_path, "events.csv", HEADER + body))
    assert report.rejected == 0
    assert list(events["timestamp"]) == [t, t, t]


# ---------------------------------------------------------------------------------------------
# one test per reject reason: a bad row on line 3 between two good rows


REJECT_CASES = [
    (",v1,100,watch,,", "missing user_id"),
    ("   ,v1,100,watch,,", "missing user_id"),
    ("u1,,100,watch,,", "missing video_id"),
    ("u1,v1,,watch,,", "missing timestamp"),
    ("u1,v1,yesterday,watch,,", "unparseable timestamp"),
    ("u1,v1,now,watch,,", "unparseable timestamp"),
    ("u1,v1,2024-13-45T00:00:00,watch,,", "unparseable timestamp"),
    ("u1,v1,1e12,watch,,", "timestamp out of range"),
    ("u1,v1,100,,,", "missing event"),
    ("u1,v1,100,pause,,", "unknown event 'pause'"),
    ("u1,v1,100,watch,-5,", "negative watch_seconds"),
    ("u1,v1,100,watch,abc,", "non-numeric watch_seconds"),
    ("u1,v1,100,watch,inf,", "non-numeric watch_seconds"),
    ("u1,v1,100,watch,nan,", "non-numeric watch_seconds"),
    ("u1,v1,100,watch,0x10,", "non-numeric watch_seconds"),
    ("u1,v1,100,rate,,four", "non-numeric rating"),
    ("u1,v1,100,rate,,5.5", "rating out of range"),
    ("u1,v1,100,like,,-1", "rating out of range"),
    ("u1,v1,100,rate,,", "missing rating for rate event"),
    ("u1,v1,100,watch,,,extra", "wrong column count: 7 fields, expected 6"),
    ("u1,v1,100,watch", "wrong column count: 4 fields, expected 6"),
    ("u1,v1\rx,100,watch,,", "malformed CSV row: new-line character seen in unquoted field"),
]


@pytest.mark.parametrize(("row", "reason"), REJECT_CASES)
def test_each_reject_reason_with_file_and_line(tmp_path: Path, row: str, reason: str) -> None:
    p = write(tmp_path, "events.csv", HEADER + GOOD_A + row + "\n" + GOOD_B)
    events, report = read_events(p)
    assert report.rejects == [Reject(str(p), 3, reason, row)]
    assert (report.read, report.accepted, report.rejected) == (3, 2, 1)
    assert list(events["user_id"]) == ["ua", "ub"]


def test_reject_bad_encoding(tmp_path: Path) -> None:
    bad_row = b"u1,v\xff1,100,watch,,"
    data = (HEADER + GOOD_A).encode() + bad_row + b"\n" + GOOD_B.encode()
    p = write(tmp_path, "events.csv", data)
    events, report = read_events(p)
    assert list(events["user_id"]) == ["ua", "ub"]
    assert report.rejects == [Reject(str(p), 3, "bad encoding", "u1,v\ufffd1,100,watch,,")]
    assert (report.read, report.accepted) == (3, 2)
    # the report can be written even though the row's bytes were not UTF-8
    out = report.write_rejects(tmp_path / "rejects.csv")
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[1] == [str(p), "3", "bad encoding", "u1,v\ufffd1,100,watch,,"]


def test_bad_encoding_inside_a_quoted_multiline_record(tmp_path: Path) -> None:
    data = HEADER.encode() + b'u1,"v\n\xfe",100,watch,,\n' + GOOD_B.encode()
    p = write(tmp_path, "events.csv", data)
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [(2, "bad encoding")]
    assert list(events["user_id"]) == ["ub"]


def test_first_failing_check_names_the_row(tmp_path: Path) -> None:
    # missing user_id and unknown event on one row: the reason is the first check's
    p = write(tmp_path, "events.csv", HEADER + ",v1,100,pause,,\n")
    _, report = read_events(p)
    assert [r.reason for r in report.rejects] == ["missing user_id"]


ROW_KINDS = {
    "good": ("u{i},v{i},{i},watch,1,", None),
    "no_user": (",v{i},{i},watch,,", "missing user_id"),
    "bad_ts": ("u{i},v{i},x{i},watch,,", "unparseable timestamp"),
    "bad_event": ("u{i},v{i},{i},stop,,", "unknown event 'stop'"),
    "few": ("u{i},v{i}", "wrong column count: 2 fields, expected 6"),
    "quoted": ('u{i},"v,{i}",{i},like,,', None),
    "neg": ("u{i},v{i},{i},watch,-1,", "negative watch_seconds"),
    "blank": ("", "blank"),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[FIXTURE_OK])
@given(kinds=st.lists(st.sampled_from(sorted(ROW_KINDS)), max_size=40))
def test_read_equals_accepted_plus_rejected(tmp_path: Path, kinds: list[str]) -> None:
    lines = [HEADER.rstrip("\n")]
    expected_rejects = []
    expected_good = []
    for i, kind in enumerate(kinds):
        template, reason = ROW_KINDS[kind]
        lines.append(template.format(i=i))
        line_no = len(lines)
        if reason is None:
            expected_good.append(f"u{i}")
        elif reason != "blank":
            expected_rejects.append((line_no, reason))
    p = write(tmp_path, "events.csv", "\n".join(lines) + "\n")
    events, report = read_events(p)
    n_rows = sum(1 for k in kinds if k != "blank")
    assert report.read == n_rows == report.accepted + report.rejected
    assert [(r.line, r.reason) for r in report.rejects] == expected_rejects
    assert list(events["user_id"]) == expected_good


# ---------------------------------------------------------------------------------------------
# strict


def test_strict_raises_at_first_bad_row(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "events.csv",
        HEADER + GOOD_A + GOOD_B + "u,v,1,pause,,\n" + "u,v,1,stop,,\n",
    )
    with pytest.raises(InputError) as err:
        read_events(p, strict=True)
    assert str(err.value) == f"{p} line 4: unknown event 'pause'"


def test_strict_reports_parse_stage_rejects_by_line_too(tmp_path: Path) -> None:
    p = write(tmp_path, "events.csv", HEADER + GOOD_A + "u,v,1,like,,\nonly,three,fields\n")
    with pytest.raises(InputError, match=r"line 4: wrong column count: 3 fields, expected 6$"):
        read_events(p, strict=True)


def test_strict_passes_a_clean_file(tmp_path: Path) -> None:
    p = write(tmp_path, "events.csv", HEADER + GOOD_A + GOOD_B)
    events, report = read_events(p, strict=True)
    assert len(events) == 2 and report.rejected == 0


def test_strict_read_canonical(tmp_path: Path) -> None:
    good = write(tmp_path, "a.csv", HEADER + GOOD_A)
    bad = write(tmp_path, "b.csv", HEADER + ",v,1,watch,,\n")
    with pytest.raises(InputError, match=r"b\.csv line 2: missing user_id"):
        read_canonical([good, bad], None, True)


# ---------------------------------------------------------------------------------------------
# files that cannot be used at all


def _one_line_error(path: Path) -> str:
    with pytest.raises(InputError) as err:
        read_events(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in _one_line_error(tmp_path / "nope.csv")


def test_directory(tmp_path: Path) -> None:
    d = tmp_path / "dir.csv"
    d.mkdir()
    assert "directory" in _one_line_error(d)


def test_not_gzip_though_named_gz(tmp_path: Path) -> None:
    p = write(tmp_path, "events.csv.gz", HEADER + GOOD_A)
    assert "gzip" in _one_line_error(p)


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress((HEADER + GOOD_A * 1000).encode())
    p = write(tmp_path, "events.csv.gz", data[: len(data) // 2])
    assert "gzip" in _one_line_error(p)


def test_corrupt_parquet(tmp_path: Path) -> None:
    p = write(tmp_path, "events.parquet", b"PAR1 this is not parquet at all")
    assert "Parquet" in _one_line_error(p)


def test_unsupported_extension(tmp_path: Path) -> None:
    p = write(tmp_path, "events.txt", HEADER)
    assert "unsupported file type" in _one_line_error(p)


def test_empty_file(tmp_path: Path) -> None:
    assert "empty" in _one_line_error(write(tmp_path, "events.csv", ""))


def test_header_only_is_an_empty_read(tmp_path: Path) -> None:
    events, report = read_events(write(tmp_path, "events.csv", HEADER))
    assert len(events) == 0 and (report.read, report.accepted) == (0, 0)
    assert list(events.dtypes) == list(empty_events().dtypes)


@pytest.mark.parametrize("column", ["user_id", "video_id", "timestamp", "event"])
def test_missing_required_column(tmp_path: Path, column: str) -> None:
    names = [c for c in HEADER.strip().split(",") if c != column]
    p = write(tmp_path, "events.csv", ",".join(names) + "\n")
    assert _one_line_error(p) == f"{p}: missing required column '{column}'"


def test_missing_required_column_parquet(tmp_path: Path) -> None:
    p = tmp_path / "events.parquet"
    pq.write_table(pa.table({"user_id": ["u"], "video_id": ["v"], "event": ["watch"]}), p)
    assert _one_line_error(p) == f"{p}: missing required column 'timestamp'"


def test_duplicate_known_column(tmp_path: Path) -> None:
    p = write(tmp_path, "events.csv", "user_id,video_id,timestamp,event,user_id\n")
    assert "appears twice" in _one_line_error(p)


def test_unknown_format_name() -> None:
    with pytest.raises(InputError, match="unknown input format 'csv'"):
        read_dataset("csv", [], None, False)


# ---------------------------------------------------------------------------------------------
# formats agree


ROWS = [
    {"user_id": "u1", "video_id": "v1", "timestamp": 1700000000, "event": "watch",
     "watch_seconds": 12.5, "rating": None},
    {"user_id": "u2", "video_id": "v,2", "timestamp": 1700000060, "event": "rate",
     "watch_seconds": None, "rating": 4.0},
    {"user_id": "ü3", "video_id": "v3", "timestamp": 1700000120, "event": "like",
     "watch_seconds": 0.0, "rating": None},
]  # fmt: skip
ROWS_FRAME = events_frame(
    [
        ("u1", "v1", 1700000000, "watch", 12.5, NAN),
        ("u2", "v,2", 1700000060, "rate", NAN, 4.0),
        ("ü3", "v3", 1700000120, "like", 0.0, NAN),
    ]
)


def _csv_text(rows: Sequence[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EVENT_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    return buf.getvalue()


def _jsonl_text(rows: Sequence[Mapping[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_all_formats_give_the_same_frame(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "e.csv", _csv_text(ROWS)),
        write(tmp_path, "e.csv.gz", gzip.compress(_csv_text(ROWS).encode())),
        write(tmp_path, "e.jsonl", _jsonl_text(ROWS)),
        write(tmp_path, "e.jsonl.gz", gzip.compress(_jsonl_text(ROWS).encode())),
    ]
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), typed)
    as_text = tmp_path / "text.parquet"
    pq.write_table(
        pa.table({k: pa.array([None if r[k] is None else str(r[k]) for r in ROWS], pa.string())
                  for k in EVENT_COLUMNS}),
        as_text,
    )  # fmt: skip
    ts = tmp_path / "ts.parquet"
    stamps = [datetime.fromtimestamp(int(str(r["timestamp"])), UTC) for r in ROWS]
    table = pa.Table.from_pylist(ROWS).set_column(
        2, "timestamp", pa.array(stamps, pa.timestamp("ms", "UTC"))
    )
    pq.write_table(table, ts)
    for p in [*paths, typed, as_text, ts]:
        events, report = read_events(p)
        pd.testing.assert_frame_equal(events, ROWS_FRAME, obj=p.name)
        assert (report.read, report.accepted) == (3, 3), p.name


def test_jsonl_rejects_with_lines(tmp_path: Path) -> None:
    good = json.dumps(ROWS[0])
    lines = [
        good,  # 1
        "",  # 2 blank
        "{not json",  # 3
        "[1, 2]",  # 4
        json.dumps({"video_id": "v", "timestamp": 1, "event": "watch"}),  # 5
        json.dumps({**ROWS[0], "event": True}),  # 6
        json.dumps({**ROWS[0], "watch_seconds": "12s"}),  # 7
        json.dumps({**ROWS[0], "rating": 7}),  # 8
        good,  # 9
    ]
    p = write(tmp_path, "events.jsonl", "\n".join(lines) + "\n")
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (3, "invalid JSON"),
        (4, "invalid JSON: not an object"),
        (5, "missing user_id"),
        (6, "unknown event 'true'"),
        (7, "non-numeric watch_seconds"),
        (8, "rating out of range"),
    ]
    assert report.rejects[0].raw == "{not json"
    assert (report.read, report.accepted) == (8, 2)
    assert len(events) == 2


def test_jsonl_bad_encoding(tmp_path: Path) -> None:
    good = json.dumps(ROWS[0]).encode()
    p = write(tmp_path, "events.jsonl", good + b"\n" + b'{"user_id": "\xff"}\n' + good + b"\n")
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [(2, "bad encoding")]
    assert len(events) == 2


def test_jsonl_numbers_for_ids_and_mixed_types(tmp_path: Path) -> None:
    lines: list[dict[str, object]] = [
        {"user_id": 7, "video_id": "v", "timestamp": "2024-01-01T00:00:00Z", "event": "watch"},
        {"user_id": "8", "video_id": 9.0, "timestamp": T2024, "event": "watch"},
    ]
    events, report = read_events(write(tmp_path, "e.jsonl", _jsonl_text(lines)))
    assert report.rejected == 0
    assert list(events["user_id"]) == ["7", "8"]
    assert list(events["video_id"]) == ["v", "9"]
    assert list(events["timestamp"]) == [T2024, T2024]


def test_jsonl_keeps_date_like_ids_and_parses_iso_times(tmp_path: Path) -> None:
    stamps = [
        "2024-01-01T00:00:00Z",
        "2024-01-01T02:00:00+02:00",
        "2024-01-01 00:00:00",
        "2024-01-01",
        "2024-01-01T00:00:00.999Z",
    ]
    rows = [{"user_id": "u", "video_id": "v", "timestamp": s, "event": "like"} for s in stamps]
    events, report = read_events(write(tmp_path, "a.jsonl", _jsonl_text(rows)))
    assert report.rejected == 0 and list(events["timestamp"]) == [T2024] * len(stamps)
    same = [{"user_id": "u", "video_id": "v", "timestamp": s, "event": "like"} for s in stamps[2:]]
    events, _ = read_events(write(tmp_path, "b.jsonl", _jsonl_text(same)))
    assert list(events["timestamp"]) == [T2024] * 3
    dated = [{"user_id": "2024-01-01", "video_id": "2024-02-03 04:05:06", "timestamp": 5,
              "event": "watch"}]  # fmt: skip
    events, _ = read_events(write(tmp_path, "c.jsonl", _jsonl_text(dated)))
    assert (events["user_id"][0], events["video_id"][0]) == ("2024-01-01", "2024-02-03 04:05:06")


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["watch", "rate", "like", "u1", " v2 ", "", "2024-01-01", "12", "x,y"]),
)
JSON_ROWS = st.lists(
    st.dictionaries(st.sampled_from([*EVENT_COLUMNS, "other"]), JSON_VALUES), max_size=8
)


@settings(max_examples=80, deadline=None, suppress_health_check=[FIXTURE_OK])
@given(rows=JSON_ROWS)
def test_jsonl_whole_file_and_line_by_line_agree(
    tmp_path: Path, rows: list[dict[str, object]]
) -> None:
    # a trailing `null` line makes the reader go line by line; the rest must read the same
    text = _jsonl_text(rows)
    whole = write(tmp_path, "whole.jsonl", text)
    by_line = write(tmp_path, "by_line.jsonl", text + "null\n")
    a, rep_a = read_events(whole)
    b, rep_b = read_events(by_line)
    pd.testing.assert_frame_equal(a, b)
    assert [(r.line, r.reason) for r in rep_b.rejects] == [
        (r.line, r.reason) for r in rep_a.rejects
    ] + [(len(rows) + 1, "invalid JSON: not an object")]


@settings(max_examples=100, deadline=None, suppress_health_check=[FIXTURE_OK])
@given(body=st.binary(max_size=300), suffix=st.sampled_from(["csv", "jsonl"]))
def test_any_bytes_give_a_report_or_an_input_error(
    tmp_path: Path, body: bytes, suffix: str
) -> None:
    data = (HEADER.encode() if suffix == "csv" else b"") + body
    p = write(tmp_path, f"e.{suffix}", data)
    try:
        events, report = read_events(p)
    except InputError:
        return
    assert report.read == report.accepted + report.rejected == len(events) + len(report.rejects)
    assert all(1 <= r.line <= data.count(b"\n") + 1 for r in report.rejects)
    report.write_rejects(tmp_path / "rejects.csv")


def test_parquet_rejects_use_row_index_plus_one(tmp_path: Path) -> None:
    p = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1", None, "u3", "u4"],
                "video_id": ["v1", "v2", "v3", "v4"],
                "timestamp": [1, 2, 3, 4],
                "event": ["watch", "watch", "pause", "like"],
                "watch_seconds": [1.0, None, None, float("inf")],
            }
        ),
        p,
    )
    events, report = read_events(p)
    assert [(r.file, r.line, r.reason) for r in report.rejects] == [
        (str(p), 2, "missing user_id"),
        (str(p), 3, "unknown event 'pause'"),
        (str(p), 4, "non-numeric watch_seconds"),
    ]
    assert json.loads(report.rejects[1].raw)["event"] == "pause"
    assert list(events["user_id"]) == ["u1"]


# ---------------------------------------------------------------------------------------------
# the CSV splitter itself, against the csv module


FIELD = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\té')), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(FIELD, min_size=2, max_size=4), max_size=12),
    crlf=st.booleans(),
)
def test_csv_records_match_the_csv_module(rows: list[list[str]], crlf: bool) -> None:
    # each row written on its own, so that a field holding CR or LF is always quoted
    eol = "\r\n" if crlf else "\n"
    text = ""
    expected = []
    for row in rows:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(row)
        expected.append((text.count("\n") + 1, row))
        text += buf.getvalue()[:-2] + eol
    for slow in (False, True):
        recs = csv_records(decode(text.encode()), slow=slow)
        got = [(int(recs.starts[i]), recs.row(i)) for i in range(len(recs))]
        want = [(s, r) for s, r in expected if not (len(r) == 1 and not r[0].strip())]
        assert got == want, f"slow={slow}"
        assert all(p is None for p in recs.problem)


# ---------------------------------------------------------------------------------------------
# videos


VIDEO_HEADER = "video_id," + ",".join(VIDEO_COLUMNS) + "\n"


def test_reads_videos(tmp_path: Path) -> None:
    body = (
        "v1,Cats play,ch1,Pets,2024-01-01T00:00:00Z,61,100,10,1,4.5,8,3,2\n"
        'v2,"Hello, world",ch2,,,,,,,,,,\n'
    )
    videos, report = read_videos(write(tmp_path, "videos.csv", VIDEO_HEADER + body))
    assert report.rejected == 0
    expected = pd.DataFrame(
        {
            "video_id": pd.Series(["v1", "v2"], dtype=object),
            "title": pd.Series(["Cats play", "Hello, world"], dtype=object),
            "channel_id": pd.Series(["ch1", "ch2"], dtype=object),
            "category": pd.Series(["Pets", None], dtype=object),
            "uploaded_at": [float(T2024), NAN],
            "duration_seconds": [61.0, NAN],
            "views": [100.0, NAN],
            "likes": [10.0, NAN],
            "dislikes": [1.0, NAN],
            "rating_avg": [4.5, NAN],
            "rating_count": [8.0, NAN],
            "comments": [3.0, NAN],
            "favorites": [2.0, NAN],
        }
    )
    pd.testing.assert_frame_equal(videos, expected)


def test_videos_with_only_some_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "videos.csv", "video_id,views,genre\nv1,5,x\nv2,,y\n")
    videos, _ = read_videos(p)
    assert list(videos.columns) == ["video_id", "views"]
    assert videos["views"].tolist()[0] == 5.0 and np.isnan(videos["views"].tolist()[1])


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("v9,5,-1,2024-01-01,4", "negative likes"),
        ("v9,5,1,2024-01-01,6", "rating_avg out of range"),
        ("v9,many,1,2024-01-01,4", "non-numeric views"),
        ("v9,5,1,someday,4", "unparseable uploaded_at"),
        (",5,1,2024-01-01,4", "missing video_id"),
        ("v1,5,1,2024-01-01,4", "duplicate video_id"),
        ("v9,5,1", "wrong column count: 3 fields, expected 5"),
    ],
)
def test_video_rejects(tmp_path: Path, row: str, reason: str) -> None:
    head = "video_id,views,likes,uploaded_at,rating_avg\n"
    p = write(tmp_path, "videos.csv", head + "v1,1,1,2024-01-01,1\n" + row + "\nv2,2,2,,\n")
    videos, report = read_videos(p)
    assert report.rejects == [Reject(str(p), 3, reason, row)]
    assert list(videos["video_id"]) == ["v1", "v2"]


def test_read_canonical_concatenates_and_merges_reports(tmp_path: Path) -> None:
    a = write(tmp_path, "a.csv", HEADER + GOOD_A + "bad\n")
    b = write(tmp_path, "b.jsonl", _jsonl_text(ROWS[:1]))
    v = write(tmp_path, "v.csv", "video_id\nva\nvb\n")
    ds = read_canonical([a, b], v)
    assert list(ds.events["user_id"]) == ["ua", "u1"]
    assert list(ds.videos["video_id"]) == ["va", "vb"]
    assert (ds.report.read, ds.report.accepted, ds.report.rejected) == (2 + 1 + 2, 4, 1)
    assert ds.report.rejects[0].file == str(a)
    assert ds.crawl_related is None
    same = read_dataset("canonical", [a, b], v, False)
    pd.testing.assert_frame_equal(same.events, ds.events)


def test_read_canonical_without_videos(tmp_path: Path) -> None:
    ds = read_canonical(write(tmp_path, "a.csv", HEADER + GOOD_A))
    assert list(ds.videos.columns) == ["video_id"] and len(ds.videos) == 0
    assert isinstance(ds.report, ReadReport)


@pytest.mark.slow
def test_million_rows_read_exactly(tmp_path: Path) -> None:
    """A million rows come back value for value (the speed is measured in bench/, not here)."""
    n = 1_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_id": np.char.add("u", rng.integers(0, 20_000, n).astype(str)),
            "video_id": np.char.add("v", rng.integers(0, 20_000, n).astype(str)),
            "timestamp": 1_700_000_000 + rng.integers(0, 30 * 86_400, n),
            "event": np.array(["watch", "like", "rate"])[rng.integers(0, 3, n)],
            "watch_seconds": rng.integers(0, 600, n).astype(float),
            "rating": rng.integers(1, 6, n).astype(float),
        }
    )
    p = tmp_path / "big.csv"
    frame.to_csv(p, index=False)
    events, report = read_events(p)
    assert report.read == report.accepted == n
    assert (events["timestamp"].to_numpy() == frame["timestamp"].to_numpy()).all()
    assert (events["user_id"].to_numpy() == frame["user_id"].to_numpy()).all()
    assert np.allclose(events["watch_seconds"].to_numpy(), frame["watch_seconds"].to_numpy())


# ---------------------------------------------------------------------------------------------
# hostile input: every bad row is a reject with a reason, never a crash


def epoch(*when: int) -> int:
    """Epoch seconds of a UTC date and time, by the standard library."""
    return int((datetime(*when, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())  # type: ignore[misc]


def test_the_accepted_time_range_by_hand() -> None:
    # int64 nanoseconds end at 2^63 ns = 9,223,372,036.854775807 s: whole seconds within that.
    assert epoch(2262, 4, 11, 23, 47, 16) == 9_223_372_036
    assert epoch(1677, 9, 21, 0, 12, 44) == -9_223_372_036


TIME_CASES = [
    ("2500-01-01", "timestamp out of range"),
    ("1600-01-01", "timestamp out of range"),
    ("2262-04-12", "timestamp out of range"),
    ("2262-04-11T23:47:17Z", "timestamp out of range"),
    ("1677-09-21T00:12:43Z", "timestamp out of range"),
    ("0001-01-01", "timestamp out of range"),
    ("9999-12-31T23:59:59Z", "timestamp out of range"),
    ("10000-01-01", "timestamp out of range"),
    ("2500-01-01T00:00:00.123456789", "timestamp out of range"),
    ("99999999999", "timestamp out of range"),
    ("-9223372037", "timestamp out of range"),
    ("2500-13-45", "unparseable timestamp"),
    ("2262-04-11T23:47:16Z", None),
    ("1677-09-21T00:12:44Z", None),
    ("2262-04-11T23:47:16.999+00:00", None),
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_times_out_of_range_are_rejects_in_every_format(tmp_path: Path, fmt: str) -> None:
    # ns precision on one row must not change what the other rows give
    values = ["2024-01-01T00:00:00.123456789", *(v for v, _ in TIME_CASES)]
    rows = [{"user_id": f"u{i}", "video_id": "v", "timestamp": v, "event": "watch"}
            for i, v in enumerate(values)]  # fmt: skip
    if fmt == "csv":
        p = write(tmp_path, "e.csv", "user_id,video_id,timestamp,event\n"
                  + "".join(f"u{i},v,{v},watch\n" for i, v in enumerate(values)))  # fmt: skip
    elif fmt == "jsonl":
        p = write(tmp_path, "e.jsonl", _jsonl_text(rows))
    else:
        p = tmp_path / "e.parquet"
        pq.write_table(pa.Table.from_pylist(rows), p)
    first = 2 if fmt == "csv" else 1  # CSV: the header is line 1
    events, report = read_events(p)
    expected = [(first + 1 + k, why) for k, (_, why) in enumerate(TIME_CASES) if why]
    assert [(r.line, r.reason) for r in report.rejects] == expected
    assert list(events["timestamp"]) == [
        T2024,
        9_223_372_036,
        -9_223_372_036,
        9_223_372_036,
    ]
    assert report.read == len(values) == report.accepted + report.rejected


def test_time_out_of_range_strict_and_in_videos(tmp_path: Path) -> None:
    p = write(tmp_path, "e.csv", HEADER + GOOD_A + "u1,v1,2500-01-01,watch,,\n")
    with pytest.raises(InputError) as err:
        read_events(p, strict=True)
    assert str(err.value) == f"{p} line 3: timestamp out of range"
    v = write(
        tmp_path, "v.csv", "video_id,uploaded_at\nv1,1600-01-01\nv2,2024-01-01\nv3,2500-01-01\n"
    )
    videos, report = read_videos(v)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (2, "uploaded_at out of range"),
        (4, "uploaded_at out of range"),
    ]
    assert list(videos["uploaded_at"]) == [float(T2024)]


def test_parquet_typed_times_out_of_range(tmp_path: Path) -> None:
    p = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1", "u2", "u3"],
                "video_id": ["v1", "v2", "v3"],
                "timestamp": pa.array([2**64 - 1, T2024, 2**63], pa.uint64()),
                "event": ["watch", "watch", "watch"],
            }
        ),
        p,
    )
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (1, "timestamp out of range"),
        (3, "timestamp out of range"),
    ]
    assert list(events["timestamp"]) == [T2024]
    stamps = tmp_path / "stamps.parquet"
    far = [datetime(2500, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)]
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1", "u2"],
                "video_id": ["v1", "v2"],
                "timestamp": pa.array(far, pa.timestamp("s", "UTC")),
                "event": ["like", "like"],
            }
        ),
        stamps,
    )
    events, report = read_events(stamps)
    assert [(r.line, r.reason) for r in report.rejects] == [(1, "timestamp out of range")]
    assert list(events["timestamp"]) == [T2024]


LONG = "x" * 1025  # one byte over the limit
LONG_UTF8 = "é" * 513  # 513 characters, 1,026 bytes


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (f"{LONG},v1,100,watch,,", "user_id too long (over 1024 bytes)"),
        (f"{LONG_UTF8},v1,100,watch,,", "user_id too long (over 1024 bytes)"),
        (f"u1,{'v' * 9000},100,watch,,", "video_id too long (over 1024 bytes)"),
        (f"u1,{'v' * 1024},100,pause,,", "unknown event 'pause'"),  # 1,024 bytes is fine
    ],
)
def test_ids_over_the_key_limit_are_rejected(tmp_path: Path, row: str, reason: str) -> None:
    p = write(tmp_path, "events.csv", HEADER + GOOD_A + row + "\n" + GOOD_B)
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [(3, reason)]
    assert (report.read, report.accepted) == (3, 2) and list(events["user_id"]) == ["ua", "ub"]
    with pytest.raises(InputError, match=r"line 3: "):
        read_events(p, strict=True)


def test_ids_of_exactly_the_limit_are_kept(tmp_path: Path) -> None:
    uid, vid = "u" * 1024, "é" * 512  # 1,024 bytes each
    p = write(tmp_path, "events.csv", HEADER + f"{uid},{vid},100,watch,,\n")
    events, report = read_events(p)
    assert report.rejected == 0
    assert (events["user_id"][0], events["video_id"][0]) == (uid, vid)


def test_video_keys_over_the_limit_are_rejected(tmp_path: Path) -> None:
    body = (
        "v1,t,ch1,cat\n"
        + f"{LONG},t,ch1,cat\n"
        + f"v3,t,{LONG},cat\n"
        + f"v4,t,ch1,{LONG}\n"
        + f"v5,{'t' * 5000},ch1,cat\n"  # titles are not indexed: any length
    )
    videos, report = read_videos(
        write(tmp_path, "v.csv", "video_id,title,channel_id,category\n" + body)
    )
    assert [(r.line, r.reason) for r in report.rejects] == [
        (3, "video_id too long (over 1024 bytes)"),
        (4, "channel_id too long (over 1024 bytes)"),
        (5, "category too long (over 1024 bytes)"),
    ]
    assert list(videos["video_id"]) == ["v1", "v5"]


def test_parquet_ids_that_are_not_utf8_are_rejects(tmp_path: Path) -> None:
    as_bytes = pa.array([b"u1", b"u\xff2", None, b"u4"], pa.binary())
    # the same bytes in a column typed string: Parquet does not check them either
    as_string = pa.Array.from_buffers(pa.string(), 4, as_bytes.buffers(), null_count=1)
    for name, column in (("bytes", as_bytes), ("string", as_string)):
        p = tmp_path / f"{name}.parquet"
        pq.write_table(
            pa.table(
                {
                    "user_id": column,
                    "video_id": ["v1", "v2", "v3", "v4"],
                    "timestamp": [1, 2, 3, 4],
                    "event": ["watch"] * 4,
                }
            ),
            p,
        )
        events, report = read_events(p)
        assert [(r.line, r.reason) for r in report.rejects] == [
            (2, "bad encoding"),
            (3, "missing user_id"),
        ], name
        assert list(events["user_id"]) == ["u1", "u4"], name
        assert report.read == 4 == report.accepted + report.rejected
        report.write_rejects(tmp_path / f"{name}-rejects.csv")  # the raw rows can be written
        with pytest.raises(InputError, match=r"line 2: bad encoding$"):
            read_events(p, strict=True)


def test_parquet_id_column_of_a_wrong_type_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([[b"\xff"], [b"u2"]], pa.list_(pa.binary())),
                "video_id": ["v1", "v2"],
                "timestamp": [1, 2],
                "event": ["watch", "watch"],
            }
        ),
        p,
    )
    with pytest.raises(InputError) as err:
        read_events(p)
    assert str(err.value) == f"{p}: column 'user_id' has type list<element: binary>, not text"


def numbered(n: int) -> list[str]:
    return [f"u{i},v{i % 50},{T2024 + i},watch,10," for i in range(n)]


def test_unterminated_quote_in_10000_lines_loses_nothing(tmp_path: Path) -> None:
    lines = numbered(10_000)
    lines[5000] = 'u5000,"v5000,1704072200,watch,10,'  # line 5002: the quote never closes here
    lines[5005] = 'u5005,v5005,1704072205,watch,10,x"'  # line 5007: a stray quote closes it
    p = write(tmp_path, "events.csv", HEADER + "\n".join(lines) + "\n")
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (5002, "unterminated quote"),
        (5007, "stray quote"),
    ]
    assert report.rejects[0].raw == lines[5000]
    assert (report.read, report.accepted, report.rejected) == (10_000, 9_998, 2)
    assert len(events) == 9_998 and "u5001" in set(events["user_id"])
    with pytest.raises(InputError, match=r"line 5002: unterminated quote$"):
        read_events(p, strict=True)


def test_unterminated_quote_to_the_end_of_the_file(tmp_path: Path) -> None:
    lines = numbered(10_000)
    lines[4321] = 'u4321,"v4321,1704071521,watch,10,'  # line 4323, no quote after it
    p = write(tmp_path, "events.csv", HEADER + "\n".join(lines) + "\n")
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == [(4323, "unterminated quote")]
    assert (report.read, report.accepted, report.rejected) == (10_000, 9_999, 1)
    assert "u4322" in set(events["user_id"])  # the line after it
    last = write(tmp_path, "last.csv", HEADER + GOOD_A + 'u9,"v9,100,watch,,')  # on the last line
    _, report = read_events(last)
    assert [(r.line, r.reason) for r in report.rejects] == [(3, "unterminated quote")]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('u1,v"v123,100,watch,,', "stray quote"),
        ('u1,"v1"x,100,watch,,', "stray quote"),
        ('u1,"v1,100,watch,,', "unterminated quote"),
        ('u1,"v1""",100,watch,,', None),  # a quoted quote: v1"
    ],
)
def test_quotes_follow_csv_rules(tmp_path: Path, row: str, reason: str | None) -> None:
    p = write(tmp_path, "events.csv", HEADER + GOOD_A + row + "\n" + GOOD_B)
    for slow in (False, True):
        recs = csv_records(decode(p.read_bytes()), slow=slow)
        assert [p_ for p_ in recs.problem if p_ is not None] == ([reason] if reason else [])
    events, report = read_events(p)
    assert [(r.line, r.reason) for r in report.rejects] == ([(3, reason)] if reason else [])
    assert report.read == 3 == report.accepted + report.rejected
    if reason is None:
        assert list(events["video_id"]) == ["va", 'v1"', "vb"]


def test_a_csv_read_in_small_blocks_equals_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks cut between records: the same rows, rejects and line numbers as a whole read,
    with quoted multi-line fields, blank lines, bad rows and a gzip file."""
    rows = ["\ufeffUser_ID,video_id,timestamp,event,watch_seconds,rating"]
    for i in range(300):
        if i % 37 == 5:
            rows.append(f'u{i},"v,{i}\nsecond line",{1000 + i},watch,3,')
        elif i % 41 == 7:
            rows.append(f"u{i},v{i},{1000 + i},pause,,")  # unknown event: a reject
        elif i % 53 == 11:
            rows.append("")
        else:
            rows.append(f'"u{i}",v{i % 17},{1000 + i},watch,{i},')
    text = "\n".join(rows) + "\n"
    plain = write(tmp_path, "e.csv", text)
    packed = write(tmp_path, "e.csv.gz", gzip.compress(text.encode()))
    whole, whole_report = read_events(plain)
    monkeypatch.setattr("loaders.canonical.CHUNK_BYTES", 97)
    for path in (plain, packed):
        parts, report = read_events(path)
        pd.testing.assert_frame_equal(parts, whole)
        assert (report.read, report.accepted) == (whole_report.read, whole_report.accepted)
        assert [(r.line, r.reason, r.raw) for r in report.rejects] == [
            (r.line, r.reason, r.raw) for r in whole_report.rejects
        ]
    assert whole_report.rejected > 3 and len(whole) > 250
    with pytest.raises(InputError, match=r"e.csv line \d+: unknown event"):
        read_events(plain, strict=True)

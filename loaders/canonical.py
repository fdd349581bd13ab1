"""Readers for the canonical events and videos tables (see ``loaders.schema``).

Formats are chosen by file name: ``.csv``, ``.csv.gz`` (comma-separated with a header row),
``.jsonl``, ``.jsonl.gz`` (one JSON object a line) and ``.parquet``.

Nothing is lost silently: every data row is either accepted or becomes a
:class:`~loaders.schema.Reject` carrying the file, the 1-based line of the row in the source
file (CSV: the header is line 1, a quoted field spanning lines counts from the line the row
starts on; JSONL: the line; Parquet: row index + 1), a short reason and the raw text. Every read
ends with ``read == accepted + rejected``. Blank lines are not rows: they are neither read nor
rejected. The reasons (the stable part of each string) are listed in :data:`REASONS`.

A file that cannot be used at all (missing, a directory, not gzip though named ``.gz``, corrupt
Parquet, no header, a required column missing from the header) raises
:class:`ytgraph.errors.InputError` with one line naming the file. With ``strict=True`` the first
bad row raises ``InputError`` too, e.g. ``events.csv line 17: unknown event 'pause'``.

Values: ids and text are stripped of surrounding whitespace (an empty value is missing); event
names are also lower-cased. Values Neo4j indexes (:data:`KEY_COLUMNS`: ids, channel, category) are
at most :data:`~loaders.schema.MAX_KEY_BYTES` bytes of UTF-8. A timestamp is epoch seconds (int
or float, floored to whole seconds) or ISO-8601 with a date like ``2024-01-31`` (a time and a zone
are optional; no zone means UTC), within ±:data:`MAX_ABS_EPOCH` seconds (1677-09-21T00:12:44Z to
2262-04-11T23:47:16Z, what int64 nanoseconds hold). A purely numeric value is always epoch
seconds. Numbers are plain decimals (``12``, ``-3.5``, ``1e3``); ``inf``/``nan`` and the like are
rejected. CSV header names and Parquet column names are matched after stripping and lower-casing;
JSONL keys must match exactly. Unknown columns are ignored. Repeated rows are kept: a repeated
watch is a real repeated watch.

CSV quoting follows RFC 4180 (see :func:`csv_records`): any other quote is a ``stray quote``; a
quote that never closes properly is an ``unterminated quote`` on the line that opens it, and the
lines after it are read as rows of their own, so ``read`` still counts every row. Parquet text
(string or binary columns) that is not valid UTF-8 is a ``bad encoding`` row; a text column of a
nested type is an InputError.

The work is vectorised with pyarrow compute; the per-line Python work is limited to lines that
hold a quote or a stray carriage return (parsed with the ``csv`` module to get quoting right),
and to files that are not valid UTF-8 (each line is checked for its encoding). JSONL goes through
pyarrow's JSON reader, or line by line when that reader refuses the file. Measured on one core:
about 1M rows/s for events CSV (epoch or ISO times), 0.6M rows/s for JSONL.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loaders.schema import (
    EVENT_COLUMNS,
    EVENTS,
    IMPRESSION_COLUMNS,
    MAX_KEY_BYTES,
    RATING_RANGE,
    REQUIRED_EVENT_COLUMNS,
    VIDEO_COLUMNS,
    Dataset,
    ReadReport,
    Reject,
    empty_events,
    empty_videos,
)
from ytgraph.errors import InputError

PathLike = str | Path

#: File name endings and the format each means.
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".parquet": "parquet",
}

# Reasons. Those with a placeholder get the column name (or the value) filled in; the part
# before the placeholder is stable, so rejects can be grouped by it.
R_ENCODING = "bad encoding"
R_MALFORMED = "malformed CSV row"  # + ": <csv module message>"
R_UNTERMINATED_QUOTE = "unterminated quote"
R_STRAY_QUOTE = "stray quote"
R_COLUMNS = "wrong column count: {got} fields, expected {expected}"
R_JSON = "invalid JSON"
R_JSON_OBJECT = "invalid JSON: not an object"
R_MISSING = "missing {column}"
R_NON_NUMERIC = "non-numeric {column}"
R_NEGATIVE = "negative {column}"
R_OUT_OF_RANGE = "{column} out of range"
R_TOO_LONG = "{column} too long (over {limit} bytes)"
R_UNPARSEABLE_TIME = "unparseable {column}"
R_UNKNOWN_EVENT = "unknown event {value!r}"
R_RATE_NEEDS_RATING = "missing rating for rate event"
R_DUPLICATE_VIDEO = "duplicate video_id"
R_IMPRESSION_NEEDS = "missing {column} for impression event"
R_POSITION = "position must be a whole number >= 1"

#: Every reason the canonical readers give (templates as above).
REASONS = (
    R_ENCODING,
    R_MALFORMED,
    R_UNTERMINATED_QUOTE,
    R_STRAY_QUOTE,
    R_COLUMNS,
    R_JSON,
    R_JSON_OBJECT,
    R_MISSING,
    R_NON_NUMERIC,
    R_NEGATIVE,
    R_OUT_OF_RANGE,
    R_TOO_LONG,
    R_UNPARSEABLE_TIME,
    R_UNKNOWN_EVENT,
    R_RATE_NEEDS_RATING,
    R_DUPLICATE_VIDEO,
    R_IMPRESSION_NEEDS,
    R_POSITION,
)

# Epoch seconds that still fit a datetime64[ns]: 1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z.
# Anything further out is almost surely a unit mistake (milliseconds) and would overflow downstream.
MAX_ABS_EPOCH = 9_223_372_036

#: A plain decimal number, as accepted in number fields (no inf, nan, hex or underscores).
NUMBER_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_ISO_RE = r"^[+-]?[0-9]{4,}-[0-9][0-9]"
_YEAR_RE = r"^(?P<year>[+-]?[0-9]+)-"
# ISO dates of these years always fit int64 nanoseconds, so pandas parses them in one go; the two
# years at the ends are parsed one by one, the others are out of range without parsing.
_SAFE_YEARS = (1678, 2261)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# A CSV record as RFC 4180 writes it: a field is quoted whole (a quote inside doubled) or holds no
# quote at all. Python's csv module reads other quotes leniently (``v"v1`` stays as it is, ``"v"x``
# becomes ``vx``), which hides broken rows: they are rejected instead.
_CSV_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_CSV_RECORD = rf"{_CSV_FIELD}(?:,{_CSV_FIELD})*\r*"
_CSV_RECORD_RE = re.compile(_CSV_RECORD)
_OPEN_QUOTE_RE = re.compile(r'(?:^|,)"(?:[^"]|"")*$')
_NO_LINES = np.zeros(0, dtype=np.int64)
_TIME_COLUMNS = ("timestamp", *(name for name, kind in VIDEO_COLUMNS.items() if kind == "time"))
_TEXT_COLUMNS = (
    "user_id",
    "video_id",
    "event",
    *(n for n, k in VIDEO_COLUMNS.items() if k == "str"),
)
#: Columns whose values Neo4j indexes (see cypher/schema.cypher): at most MAX_KEY_BYTES each.
KEY_COLUMNS = ("user_id", "video_id", "channel_id", "category")
_RAW_MAX = 2000


# --------------------------------------------------------------------------------------------
# Files


def file_format(path: PathLike) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name; anything else is an InputError."""
    name = Path(path).name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    raise InputError(f"{path}: unsupported file type (expected one of {', '.join(SUFFIXES)})")


def read_bytes(path: PathLike) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``; InputError if it can't be read."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: file not found")
    if p.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if p.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"{path}: not a valid gzip file ({e})") from None
    return data


@dataclass
class Text:
    """A file's bytes (byte-order mark dropped), its text, and the lines that are not UTF-8.

    Bad bytes become lone surrogates (``surrogateescape``), so line ``k`` of the text is line
    ``k`` of the file either way; ``bad_lines`` holds their sorted 1-based numbers.
    """

    data: bytes
    text: str
    bad_lines: np.ndarray

    @cached_property
    def lines(self) -> list[str]:
        lines = self.text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines

    def line(self, number: int) -> str:
        """Line ``number`` (1-based) without its line ending, safe to print."""
        return _printable(self.lines[number - 1].rstrip("\r"))


def decode(data: bytes) -> Text:
    """Decode UTF-8, finding the lines that are not valid UTF-8 (only when there are any)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return Text(data, data.decode("utf-8"), _NO_LINES)
    except UnicodeDecodeError:
        pass
    bad = []
    for i, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    return Text(data, data.decode("utf-8", "surrogateescape"), np.asarray(bad, dtype=np.int64))


def _printable(text: str) -> str:
    """Text safe to write as UTF-8 (bad bytes shown as U+FFFD), cut to a sane length."""
    if len(text) > _RAW_MAX:
        text = text[:_RAW_MAX] + "..."
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def string_array(values: Sequence[str | None]) -> pa.Array:
    """A pyarrow string array (large_string when the text passes 2 GiB)."""
    try:
        arr = pa.array(values, pa.string())
    except pa.ArrowCapacityError:
        return pa.array(values, pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        return pa.array(values, pa.large_string())
    return arr


def _line_array(data: bytes) -> pa.Array:
    """The lines of valid UTF-8 ``data`` as a string array, without copying the text."""
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    ends = nl + 1
    if len(data) and (nl.size == 0 or nl[-1] != len(data) - 1):
        ends = np.append(ends, len(data))
    big = len(data) >= 2**31 - 1
    offsets = np.concatenate([[0], ends]).astype(np.int64 if big else np.int32)
    arr = pa.Array.from_buffers(
        pa.large_string() if big else pa.string(),
        len(offsets) - 1,
        [None, pa.py_buffer(offsets), pa.py_buffer(data)],
    )
    return pc.utf8_rtrim(arr, characters="\r\n")


# --------------------------------------------------------------------------------------------
# CSV records


@dataclass
class Records:
    """The non-blank CSV records of a text, in order.

    ``fields`` holds each record's fields (unusable where ``problem`` says why); ``starts`` and
    ``ends`` are the 1-based lines the record spans.
    """

    starts: np.ndarray
    ends: np.ndarray
    fields: pa.Array  # list<string>
    problem: np.ndarray  # object: None or a reason
    source: Text

    def __len__(self) -> int:
        return len(self.starts)

    def raw(self, line: int) -> str:
        """The source text of the record that starts on ``line``."""
        i = int(np.searchsorted(self.starts, line))
        end = int(self.ends[i]) if i < len(self.starts) and self.starts[i] == line else line
        lines = self.source.lines[line - 1 : end]
        return _printable("\n".join(s.rstrip("\r") for s in lines))

    def row(self, i: int) -> list[str]:
        return [str(v) for v in self.fields[i].as_py()]


def _malformed(err: csv.Error) -> str:
    msg = str(err).split(" - ")[0]
    return f"{R_MALFORMED}: {msg}"


def _is_blank(row: Sequence[str]) -> bool:
    return len(row) == 0 or (len(row) == 1 and not row[0].strip())


def _quote_problem(text: str) -> str:
    """Why a record's quotes break the CSV rules: a field's opening quote never closes, or not."""
    return R_UNTERMINATED_QUOTE if _OPEN_QUOTE_RE.search(text) else R_STRAY_QUOTE


class _Feed:
    """The lines of a text for ``csv.reader``; ``next`` (lines handed out) can be set back."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.next = 0

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.next >= len(self.lines):
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1] + "\n"


def csv_records(src: Text, *, slow: bool = False, fixed_width: bool = False) -> Records:
    """Split a text into CSV records with their line numbers.

    Lines with no quote and no stray carriage return (nearly all of them) are split in pyarrow;
    the others go through the ``csv`` module one line each. Only when a quoted field spans
    lines does the whole text go through the ``csv`` module (``slow=True`` forces that).

    Quotes follow RFC 4180: a record that breaks them is a problem (``stray quote``). A quoted
    field that runs past its line into a record that cannot be used (broken quotes, a CSV error
    or, with ``fixed_width``, another field count than the first record's) is an ``unterminated
    quote`` on its first line, and reading goes on with the next line: the lines it swallowed
    are records of their own.
    """
    if slow:
        return _csv_records_slow(src, fixed_width)
    bad_lines = src.bad_lines
    if bad_lines.size:
        clean = list(src.lines)
        for b in bad_lines:
            if b <= len(clean):
                clean[b - 1] = ""
        arr = pc.utf8_rtrim(string_array(clean), characters="\r")
    else:
        arr = _line_array(src.data)
    n = len(arr)
    bad = np.zeros(n, dtype=bool)
    bad[bad_lines[bad_lines <= n] - 1] = True
    data = src.data
    stray_cr = b"\r" in data and data.count(b"\r") != data.count(b"\r\n")
    if b'"' in data or stray_cr:
        special = _np_bool(pc.or_(pc.match_substring(arr, '"'), pc.match_substring(arr, "\r")))
        special &= ~bad
    else:
        special = np.zeros(n, dtype=bool)
    problem = np.full(n, None, dtype=object)
    problem[bad] = R_ENCODING
    fields = pc.split_pattern(arr, ",")
    lengths = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    blank = np.zeros(n, dtype=bool)
    one = np.flatnonzero((lengths == 1) & ~bad & ~special)
    if one.size:
        firsts = pc.list_element(fields.take(pa.array(one)), 0)
        blank[one] = _np_bool(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(firsts)), 0))
    sp_idx = np.flatnonzero(special)
    if sp_idx.size:
        sp_text = arr.take(pa.array(sp_idx)).to_pylist()
        sp_rows: list[list[str]] = []
        reader = csv.reader([line + "\n" for line in sp_text] + ["\n"])
        prev = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                if reader.line_num - prev != 1 or len(sp_rows) >= sp_idx.size:
                    return _csv_records_slow(src, fixed_width)
                problem[sp_idx[len(sp_rows)]] = _malformed(e)
                sp_rows.append([])
                prev = reader.line_num
                continue
            if reader.line_num - prev != 1:
                return _csv_records_slow(src, fixed_width)
            prev = reader.line_num
            sp_rows.append(row)
        if len(sp_rows) != sp_idx.size + 1:  # the sentinel was swallowed by an open quote
            return _csv_records_slow(src, fixed_width)
        sp_rows.pop()
        rfc = _np_bool(pc.match_substring_regex(arr.take(pa.array(sp_idx)), f"^{_CSV_RECORD}$"))
        for k in np.flatnonzero(~rfc):
            if problem[sp_idx[k]] is None:
                problem[sp_idx[k]] = _quote_problem(sp_text[k])
                sp_rows[k] = []
        for k, row in zip(sp_idx, sp_rows, strict=True):
            blank[k] = problem[k] is None and _is_blank(row)
        order = np.arange(n)
        order[sp_idx] = n + np.arange(sp_idx.size)
        sp_fields = pa.array(sp_rows, type=fields.type)
        fields = pa.concat_arrays([fields, sp_fields]).take(pa.array(order))
    keep = ~blank
    starts = np.flatnonzero(keep).astype(np.int64) + 1
    kept = fields if keep.all() else fields.filter(pa.array(keep))
    return Records(starts, starts.copy(), kept, problem[keep], src)


def _csv_records_slow(src: Text, fixed_width: bool = False) -> Records:
    lines = src.lines
    feed = _Feed(lines)
    reader = csv.reader(feed)
    bad_lines = src.bad_lines
    rows: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []
    problems: list[str | None] = []
    width: int | None = None
    while True:
        start = feed.next + 1
        try:
            row = next(reader)
            why = None
        except StopIteration:
            break
        except csv.Error as e:
            row, why = [], _malformed(e)
        end = max(feed.next, start)
        if bad_lines.size:
            k = int(np.searchsorted(bad_lines, start))
            if k < bad_lines.size and bad_lines[k] <= end:
                row, why = [], R_ENCODING
        if why is None and any('"' in line for line in lines[start - 1 : end]):
            text = "\n".join(lines[start - 1 : end])
            if not _CSV_RECORD_RE.fullmatch(text):
                why = _quote_problem(text)
        if why is None and _is_blank(row):
            continue
        if why != R_ENCODING:
            odd = fixed_width and why is None and width is not None and len(row) != width
            if end > start and (why is not None or odd):
                why, end = R_UNTERMINATED_QUOTE, start
                feed.next = start  # go on with the line after the one that opened the quote
            if why is not None:
                row = []
        if why is None and width is None:
            width = len(row)
        rows.append(row)
        starts.append(start)
        ends.append(end)
        problems.append(why)
    big = len(src.text) >= 2**29
    fields = pa.array(rows, type=pa.list_(pa.large_string() if big else pa.string()))
    problem = np.full(len(rows), None, dtype=object)
    problem[:] = problems
    return Records(
        np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), fields, problem, src
    )


# --------------------------------------------------------------------------------------------
# Tables: raw columns of the rows that parsed, before their values are checked


@dataclass
class Table:
    """Raw column values (pyarrow arrays) of the rows that survived parsing, with their lines."""

    file: str
    columns: dict[str, pa.Array]
    lines: np.ndarray
    read: int
    raw: Callable[[int], str]
    pre_lines: list[int] = field(default_factory=list)
    pre_reasons: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.lines)

    def col(self, name: str) -> pa.Array | None:
        return self.columns.get(name)


def _norm(name: str) -> str:
    return name.strip().lower()


def _check_header(file: str, names: Sequence[str], required: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen and name in (*EVENT_COLUMNS, "video_id", *VIDEO_COLUMNS):
            raise InputError(f"{file}: column {name!r} appears twice in the header")
        seen.add(name)
    for name in required:
        if name not in seen:
            raise InputError(f"{file}: missing required column {name!r}")


def table_from_records(
    recs: Records,
    file: str,
    names: Sequence[str],
    wanted: Sequence[str],
    *,
    skip_first: bool,
) -> Table:
    """Cut records into columns by ``names``; rows with another field count are rejected."""
    first = 1 if skip_first else 0
    width = len(names)
    fields = recs.fields[first:] if first else recs.fields
    problem = recs.problem[first:]
    lines = recs.starts[first:]
    lengths = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    ok = np.asarray(pd.isna(problem), dtype=bool)
    wrong = ok & (lengths != width)
    pre_lines: list[int] = []
    pre_reasons: list[str] = []
    for i in np.flatnonzero(~ok | wrong):
        pre_lines.append(int(lines[i]))
        pre_reasons.append(
            str(problem[i])
            if problem[i] is not None
            else R_COLUMNS.format(got=int(lengths[i]), expected=width)
        )
    ok &= ~wrong
    flat = pc.list_flatten(fields.filter(pa.array(ok)))
    columns: dict[str, pa.Array] = {}
    for name in wanted:
        if name in names:
            j = list(names).index(name)
            columns[name] = flat.take(pa.array(np.arange(j, len(flat), width, dtype=np.int64)))
    return Table(
        file=file,
        columns=columns,
        lines=lines[ok],
        read=len(lines),
        raw=recs.raw,
        pre_lines=pre_lines,
        pre_reasons=pre_reasons,
    )


def _csv_table(path: PathLike, wanted: Sequence[str], required: Sequence[str]) -> Table:
    file = str(path)
    recs = csv_records(decode(read_bytes(path)), fixed_width=True)
    names = _header(file, recs, required)
    return table_from_records(recs, file, names, wanted, skip_first=True)


def _header(file: str, recs: Records, required: Sequence[str]) -> list[str]:
    """The column names of a CSV's first record, checked: one line (exit 2) when unusable."""
    if len(recs) == 0:
        raise InputError(f"{file}: empty file (no header row)")
    if recs.problem[0] is not None:
        raise InputError(
            f"{file}: header row (line {recs.starts[0]}) is unusable: {recs.problem[0]}"
        )
    names = [_norm(v) for v in recs.row(0)]
    _check_header(file, names, required)
    return names


def _json_text(v: Any) -> str | None:
    """A JSON value as the text a CSV would hold (numbers as Python writes them)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def _object_lines(src: Text) -> np.ndarray | None:
    """1-based numbers of the non-blank lines, if every one of them looks like ``{...}``.

    (pyarrow's JSON reader is only trusted with such files: on some other input, a line
    holding a bare ``null`` for one, pyarrow 26 crashes the process instead of raising.)
    """
    trimmed = pc.utf8_trim_whitespace(_line_array(src.data))
    length = np.asarray(pc.utf8_length(trimmed).to_numpy(zero_copy_only=False))
    used = length > 0
    shaped = _np_bool(pc.and_(pc.starts_with(trimmed, "{"), pc.ends_with(trimmed, "}")))
    if not bool(shaped[used].all()):
        return None
    return np.flatnonzero(used).astype(np.int64) + 1


def _jsonl_fast(src: Text, file: str, wanted: Sequence[str]) -> Table | None:
    """The whole file through pyarrow's JSON reader, when it is clean enough for it.

    None when it is not (bad UTF-8, a line that is not one JSON object, a key whose values mix
    types...): the caller then goes line by line to say which line is wrong.
    """
    import pyarrow.json as pj

    if src.bad_lines.size:
        return None
    lines = _object_lines(src)
    if lines is None or lines.size == 0:
        return None
    try:
        table = pj.read_json(io.BytesIO(src.data))
    except (pa.ArrowException, ValueError, OSError):
        return None
    if table.num_rows != lines.size:
        return None
    columns: dict[str, pa.Array] = {}
    for name in wanted:
        if name in table.column_names:
            arr = table.column(name).combine_chunks()
            t = arr.type
            if (pa.types.is_timestamp(t) or pa.types.is_date(t)) and name not in _TIME_COLUMNS:
                return None  # pyarrow took a text that looks like a date for a time: keep the text
            columns[name] = arr
    return Table(file, columns, lines, int(lines.size), src.line)


def _jsonl_table(path: PathLike, wanted: Sequence[str]) -> Table:
    file = str(path)
    src = decode(read_bytes(path))
    fast = _jsonl_fast(src, file, wanted)
    if fast is not None:
        return fast
    lines = src.lines
    bad = set(src.bad_lines.tolist())
    objs: list[dict[str, Any]] = []
    linenos: list[int] = []
    pre_lines: list[int] = []
    pre_reasons: list[str] = []
    read = 0
    loads = json.loads
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        read += 1
        if i in bad:
            pre_lines.append(i)
            pre_reasons.append(R_ENCODING)
            continue
        try:
            obj = loads(line)
        except ValueError:
            pre_lines.append(i)
            pre_reasons.append(R_JSON)
            continue
        if type(obj) is not dict:
            pre_lines.append(i)
            pre_reasons.append(R_JSON_OBJECT)
            continue
        objs.append(obj)
        linenos.append(i)
    columns: dict[str, pa.Array] = {}
    for name in wanted:
        values = [o.get(name) for o in objs]
        if any(v is not None for v in values):
            columns[name] = string_array([v if type(v) is str else _json_text(v) for v in values])
    linenos_arr = np.asarray(linenos, dtype=np.int64)
    return Table(file, columns, linenos_arr, read, src.line, pre_lines, pre_reasons)


def _parquet_table(path: PathLike, wanted: Sequence[str], required: Sequence[str]) -> Table:
    import pyarrow.parquet as pq

    file = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{file}: file not found")
    if p.is_dir():
        raise InputError(f"{file}: is a directory, not a file")
    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{file}: not a readable Parquet file ({msg})") from None
    names = [_norm(n) for n in table.column_names]
    _check_header(file, names, required)
    n = table.num_rows
    broken = np.zeros(n, dtype=bool)
    columns: dict[str, pa.Array] = {}
    for name in wanted:
        if name in names:
            arr = table.column(names.index(name)).combine_chunks()
            if pa.types.is_dictionary(arr.type):
                arr = arr.dictionary_decode()
            if name in _TEXT_COLUMNS and pa.types.is_nested(arr.type):
                raise InputError(f"{file}: column {name!r} has type {arr.type}, not text")
            arr, bad = _utf8(arr)
            broken |= bad
            columns[name] = arr

    def raw(line: int) -> str:
        row = {name: _cell(table.column(j)[line - 1]) for j, name in enumerate(table.column_names)}
        return _printable(json.dumps(row, default=str, ensure_ascii=False))

    lines = np.arange(1, n + 1, dtype=np.int64)
    if not broken.any():
        return Table(file, columns, lines, n, raw)
    keep = pa.array(~broken)
    columns = {name: arr.filter(keep) for name, arr in columns.items()}
    bad_lines = [int(x) for x in lines[broken]]
    return Table(file, columns, lines[~broken], n, raw, bad_lines, [R_ENCODING] * len(bad_lines))


def _utf8(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Text and bytes as valid UTF-8 strings, and the mask of values that are not (Parquet
    checks neither: a string column may hold any bytes). Other types pass unchanged."""
    t = arr.type
    ok = np.zeros(len(arr), dtype=bool)
    if _is_str(arr):
        try:
            arr.validate(full=True)
            return arr, ok
        except pa.ArrowInvalid:
            arr = arr.view(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
    elif not (
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    ):
        return arr, ok
    try:
        return pc.cast(arr, pa.string()), ok
    except pa.ArrowInvalid:
        pass
    texts: list[str | None] = []
    bad = np.zeros(len(arr), dtype=bool)
    for i, value in enumerate(arr.to_pylist()):
        try:
            texts.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(None)
            bad[i] = True
    return string_array(texts), bad


def _cell(value: pa.Scalar) -> Any:
    """A Parquet value as JSON can show it, also when Python cannot hold it (bad UTF-8, year 30000)."""
    try:
        return value.as_py()
    except (ValueError, OverflowError, pa.ArrowException):
        t = value.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return str(value.cast(pa.large_binary()).as_py())
        try:
            return value.cast(pa.int64()).as_py()
        except (ValueError, OverflowError, pa.ArrowException):
            return str(t)


def read_table(path: PathLike, wanted: Sequence[str], required: Sequence[str]) -> Table:
    """Parse a canonical file (any format) into raw columns; InputError if it is unusable."""
    fmt = file_format(path)
    if fmt == "csv":
        return _csv_table(path, wanted, required)
    if fmt == "jsonl":
        return _jsonl_table(path, wanted)
    return _parquet_table(path, wanted, required)


# --------------------------------------------------------------------------------------------
# Values


def _np_bool(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_str(arr: pa.Array) -> bool:
    return bool(pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type))


def _is_number(arr: pa.Array) -> bool:
    t = arr.type
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def text_values(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Stripped strings (null where missing) and the missing mask."""
    if not _is_str(arr):
        if pa.types.is_floating(arr.type):
            # As the line-by-line reader writes them (_json_text): whole numbers without ".0",
            # the rest as Python's repr (Arrow's cast writes 6e-8 where Python writes 6e-08).
            arr = string_array([_json_text(v) for v in arr.to_pylist()])
        elif pa.types.is_boolean(arr.type):
            arr = pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
        else:
            try:
                arr = pc.cast(arr, pa.string())
            except (pa.ArrowException, NotImplementedError):
                arr = string_array([_json_text(v) for v in arr.to_pylist()])
    s = pc.utf8_trim_whitespace(arr)
    missing = _np_bool(pc.or_kleene(pc.is_null(s), pc.equal(pc.utf8_length(s), 0)))
    s = pc.if_else(pa.array(missing), pa.scalar(None, s.type), s)
    return s, missing


def number_values(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 values (NaN where missing or bad), the missing mask and the bad mask."""
    n = len(arr)
    if _is_str(arr):
        s, missing = text_values(arr)
        ok = _np_bool(pc.match_substring_regex(s, NUMBER_RE))
        vals = pc.cast(pc.if_else(pa.array(ok), s, pa.scalar(None, s.type)), pa.float64())
        v = np.array(vals.to_numpy(zero_copy_only=False), dtype=np.float64)
        bad = ~missing & ~(ok & np.isfinite(v))
    elif _is_number(arr):
        # Unchecked: a uint64 or decimal too big for float64's exact integers is still a number.
        as_float = pc.cast(arr, pa.float64(), safe=False)
        v = np.array(as_float.to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = np.isnan(v)
        bad = np.isinf(v)
    else:
        v = np.full(n, np.nan)
        missing = _np_bool(pc.is_null(arr)) if not pa.types.is_null(arr.type) else np.ones(n, bool)
        bad = ~missing
    v[bad] = np.nan
    return v, missing, bad


def time_values(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch seconds as float64 (floored; NaN where missing or bad), missing mask, bad mask."""
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        missing = _np_bool(pc.is_null(arr))
        if pa.types.is_date32(t):
            raw = pc.cast(arr, pa.int32()).to_numpy(zero_copy_only=False)
            secs = np.asarray(raw, dtype=np.float64) * 86400.0
        else:
            unit = "ms" if pa.types.is_date64(t) else t.unit
            per = _PER_SECOND[unit]
            ints = pc.fill_null(pc.cast(arr, pa.int64()), 0).to_numpy(zero_copy_only=False)
            secs = np.floor_divide(np.asarray(ints, dtype=np.int64), per).astype(np.float64)
        secs[missing] = np.nan
        return secs, missing, np.zeros(len(arr), dtype=bool)
    if not _is_str(arr):
        v, missing, bad = number_values(arr)
        return np.floor(v), missing, bad
    s, missing = text_values(arr)
    numeric = _np_bool(pc.match_substring_regex(s, NUMBER_RE))
    vals = pc.cast(pc.if_else(pa.array(numeric), s, pa.scalar(None, s.type)), pa.float64())
    v = np.array(vals.to_numpy(zero_copy_only=False), dtype=np.float64)
    v[numeric & ~np.isfinite(v)] = np.nan
    iso = ~missing & ~numeric
    if iso.any():
        idx = np.flatnonzero(iso)
        texts = s.filter(pa.array(iso))
        looks = _np_bool(pc.match_substring_regex(texts, _ISO_RE))
        v[idx[~looks]] = np.nan
        if looks.any():
            v[idx[looks]] = iso_seconds(texts.filter(pa.array(looks)))
    bad = ~missing & np.isnan(v)
    return np.floor(v), missing, bad


def iso_seconds(dates: pa.Array) -> np.ndarray:
    """Epoch seconds of ISO-8601 dates (floored): NaN where unparseable, inf where out of range.

    pandas picks one resolution for a whole column (nanoseconds as soon as one value has them), so
    dates that may not fit int64 nanoseconds are kept apart: no row changes what another gives.
    """
    found = pc.struct_field(pc.extract_regex(dates, _YEAR_RE), [0])
    four = pc.if_else(pc.equal(pc.utf8_length(found), 4), found, pa.scalar(None, found.type))
    year = np.asarray(pc.cast(four, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    texts = pd.Series(dates.to_numpy(zero_copy_only=False), dtype=object)
    out = np.full(len(texts), np.nan)
    inside = (year >= _SAFE_YEARS[0]) & (year <= _SAFE_YEARS[1])
    edge = (year == _SAFE_YEARS[0] - 1) | (year == _SAFE_YEARS[1] + 1)
    outside = ~inside & ~edge
    if inside.any():
        out[inside] = _parse_iso(texts[inside])
    for i in np.flatnonzero(edge):
        out[i] = _parse_iso(texts.iloc[i : i + 1])[0]
    if outside.any():
        # Out of range if the same date and time parse in another year (2000, a leap year).
        moved = texts[outside].str.replace(_YEAR_RE, "2000-", regex=True)
        out[outside] = np.where(np.isnan(_parse_iso(moved)), np.nan, np.inf)
    return out


def _parse_iso(texts: pd.Series) -> np.ndarray:
    """Floored epoch seconds (NaN: unparseable; inf: beyond what pandas holds) of ISO texts."""
    try:
        parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    except (OverflowError, ValueError):  # out of bounds (a ValueError); row by row to tell which
        if len(texts) == 1:
            return np.array([np.inf])
        return np.array([_parse_iso(texts.iloc[i : i + 1])[0] for i in range(len(texts))])
    stamps = parsed.dt.tz_localize(None).to_numpy()
    unit = np.datetime_data(stamps.dtype)[0]
    secs = np.floor_divide(stamps.view(np.int64), _PER_SECOND[unit]).astype(np.float64)
    secs[np.isnat(stamps)] = np.nan
    return secs


# --------------------------------------------------------------------------------------------
# Checks


class Checker:
    """Runs value checks over a Table; the first failing check of a row gives its reason."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.ok = np.ones(table.n, dtype=bool)
        self.reason = np.full(table.n, None, dtype=object)

    def flag(self, mask: np.ndarray, why: str | np.ndarray) -> None:
        m = mask & self.ok
        if not m.any():
            return
        self.reason[m] = why if isinstance(why, str) else why[m]
        self.ok &= ~m

    def flag_duplicate_ids(self, ids: pa.Array | None) -> None:
        """Reject every accepted row whose id an earlier accepted row already has."""
        if ids is None or not self.ok.any():
            return
        idx = np.flatnonzero(self.ok)
        kept = pd.Series(ids.filter(pa.array(self.ok)).to_numpy(zero_copy_only=False), dtype=object)
        dup = np.zeros(self.table.n, dtype=bool)
        dup[idx[kept.duplicated(keep="first").to_numpy()]] = True
        self.flag(dup, R_DUPLICATE_VIDEO)

    def _column(self, name: str, required: bool) -> pa.Array | None:
        """The column, or None when the table lacks it (every row rejected if it is required)."""
        arr = self.table.col(name)
        if arr is None and required:
            self.flag(np.ones(self.table.n, dtype=bool), R_MISSING.format(column=name))
        return arr

    def text(self, name: str, *, required: bool, key: bool = False) -> pa.Array | None:
        """Stripped text; a ``key`` (a value Neo4j indexes) is at most MAX_KEY_BYTES of UTF-8."""
        arr = self._column(name, required)
        if arr is None:
            return None
        s, missing = text_values(arr)
        if required:
            self.flag(missing, R_MISSING.format(column=name))
        if key:
            size = pc.fill_null(pc.binary_length(s), 0).to_numpy(zero_copy_only=False)
            self.flag(size > MAX_KEY_BYTES, R_TOO_LONG.format(column=name, limit=MAX_KEY_BYTES))
        return s

    def time(self, name: str, *, required: bool) -> np.ndarray:
        arr = self._column(name, required)
        if arr is None:
            return np.full(self.table.n, np.nan)
        v, missing, bad = time_values(arr)
        if required:
            self.flag(missing, R_MISSING.format(column=name))
        self.flag(bad, R_UNPARSEABLE_TIME.format(column=name))
        with np.errstate(invalid="ignore"):
            self.flag(np.abs(v) > MAX_ABS_EPOCH, R_OUT_OF_RANGE.format(column=name))
        return v

    def number(
        self,
        name: str,
        *,
        required: bool = False,
        nonnegative: bool = False,
        bounds: tuple[float, float] | None = None,
    ) -> np.ndarray:
        arr = self._column(name, required)
        if arr is None:
            return np.full(self.table.n, np.nan)
        v, missing, bad = number_values(arr)
        if required:
            self.flag(missing, R_MISSING.format(column=name))
        self.flag(bad, R_NON_NUMERIC.format(column=name))
        with np.errstate(invalid="ignore"):
            if nonnegative:
                self.flag(v < 0, R_NEGATIVE.format(column=name))
            if bounds is not None:
                self.flag((v < bounds[0]) | (v > bounds[1]), R_OUT_OF_RANGE.format(column=name))
        return v

    def finish(self, strict: bool) -> ReadReport:
        """The report of the read; under ``strict`` an InputError for the first bad row."""
        t = self.table
        bad_idx = np.flatnonzero(~self.ok)
        lines = [*t.pre_lines, *(int(x) for x in t.lines[bad_idx])]
        reasons = [*t.pre_reasons, *(str(self.reason[i]) for i in bad_idx)]
        order = sorted(range(len(lines)), key=lambda k: lines[k])
        if strict and order:
            k = order[0]
            raise InputError(f"{t.file} line {lines[k]}: {reasons[k]}")
        rejects = [Reject(t.file, lines[k], reasons[k], t.raw(lines[k])) for k in order]
        accepted = int(self.ok.sum())
        report = ReadReport(read=t.read, accepted=accepted, rejects=rejects)
        if report.read != report.accepted + report.rejected:  # pragma: no cover - a bug
            raise AssertionError(f"{t.file}: read {report.read} != {accepted} + {len(rejects)}")
        return report


def accepted_strings(arr: pa.Array | None, ok: np.ndarray) -> pd.Series:
    """Accepted values of a string array as an object Series (None where missing).

    Equal strings share one Python object (ids repeat a lot), which is faster and smaller.
    """
    k = int(ok.sum())
    if arr is None:
        return pd.Series(np.full(k, None, dtype=object), dtype=object)
    d = pc.dictionary_encode(arr.filter(pa.array(ok)) if k < len(arr) else arr)
    uniq = np.asarray(d.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    uniq = np.append(uniq, np.array([None], dtype=object))
    idx = np.asarray(pc.fill_null(d.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return pd.Series(uniq[idx], dtype=object)


# --------------------------------------------------------------------------------------------
# Public readers


def check_events(c: Checker) -> pd.DataFrame:
    """Run the events checks on ``c`` and return the accepted rows as canonical events."""
    user = c.text("user_id", required=True, key=True)
    video = c.text("video_id", required=True, key=True)
    ts = c.time("timestamp", required=True)
    ev_raw = c.text("event", required=True)
    ev = pc.utf8_lower(ev_raw) if ev_raw is not None else None
    if ev is not None:
        known = _np_bool(pc.is_in(ev, value_set=pa.array(EVENTS, ev.type)))
        unknown = c.ok & ~known
        if unknown.any():
            why = np.full(c.table.n, None, dtype=object)
            names = ev.to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(unknown):
                why[i] = R_UNKNOWN_EVENT.format(value=str(names[i])[:40])
            c.flag(unknown, why)
    watch = c.number("watch_seconds", nonnegative=True)
    rating = c.number("rating", bounds=RATING_RANGE)
    if ev is not None:
        is_rate = _np_bool(pc.equal(ev, "rate"))
        c.flag(is_rate & np.isnan(rating), R_RATE_NEEDS_RATING)
    shown = _impression_columns(c, ev)
    ok = c.ok
    frame = pd.DataFrame(
        {
            "user_id": accepted_strings(user, ok),
            "video_id": accepted_strings(video, ok),
            "timestamp": ts[ok].astype(np.int64),
            "event": accepted_strings(ev, ok),
            "watch_seconds": watch[ok],
            "rating": rating[ok],
        }
    )
    if shown is not None:
        arm, surface, position = shown
        frame["arm"] = accepted_strings(arm, ok)
        frame["surface"] = accepted_strings(surface, ok)
        frame["position"] = position[ok]
    return frame


def _impression_columns(
    c: Checker, ev: pa.Array | None
) -> tuple[pa.Array | None, pa.Array | None, np.ndarray] | None:
    """arm, surface, position when the table has any of them (None otherwise); an impression row
    without all three, or with a position that is not a whole number >= 1, is rejected."""
    is_imp = _np_bool(pc.equal(ev, "impression")) if ev is not None else np.zeros(c.table.n, bool)
    if all(c.table.col(name) is None for name in IMPRESSION_COLUMNS):
        c.flag(is_imp, R_IMPRESSION_NEEDS.format(column="arm"))
        return None
    texts: list[pa.Array | None] = []
    for name in ("arm", "surface"):
        s = c.text(name, required=False, key=True)
        missing = np.ones(c.table.n, bool) if s is None else text_values(s)[1]
        c.flag(is_imp & missing, R_IMPRESSION_NEEDS.format(column=name))
        texts.append(s)
    position = c.number("position")
    c.flag(is_imp & np.isnan(position), R_IMPRESSION_NEEDS.format(column="position"))
    with np.errstate(invalid="ignore"):
        c.flag(is_imp & ((position < 1) | (position != np.floor(position))), R_POSITION)
    return texts[0], texts[1], position


def read_events(path: PathLike, *, strict: bool = False) -> tuple[pd.DataFrame, ReadReport]:
    """Read one canonical events file: (events, report). See the module docstring.

    A CSV file is read in blocks of about :data:`CHUNK_BYTES` (see :func:`csv_blocks`), so the
    memory a read needs beyond its result is that of one block, whatever the file's size.
    """
    if file_format(path) == "csv":
        return _read_events_csv(path, strict)
    table = read_table(path, (*EVENT_COLUMNS, *IMPRESSION_COLUMNS), REQUIRED_EVENT_COLUMNS)
    c = Checker(table)
    events = check_events(c)
    report = c.finish(strict)
    return events, report


# Bytes of a CSV file parsed at a time (decompressed). Parsing holds several copies of a block
# (text, lines, fields, columns): ~64 MB keeps that a few hundred MB.
CHUNK_BYTES = 64 << 20


def csv_blocks(path: PathLike, size: int | None = None) -> Iterator[bytes]:
    """The file's bytes (gunzipped for ``.gz``) in blocks of about ``size``, each ending at a line
    end outside any quoted field (an even number of quotes before it): a record never straddles
    two blocks. A file whose quotes never balance again is read on as one block from there.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: file not found")
    if p.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    gz = p.name.lower().endswith(".gz")
    size = size or CHUNK_BYTES
    try:
        with gzip.open(p, "rb") if gz else p.open("rb") as f:
            rest = b""
            while True:
                block = f.read(size)
                if not block:
                    if rest:
                        yield rest
                    return
                buf = rest + block
                cut = _balanced_cut(buf)
                if cut <= 0:
                    rest = buf
                    continue
                yield buf[:cut]
                rest = buf[cut:]
    except (OSError, EOFError, zlib.error) as e:
        what = "not a valid gzip file" if gz else "cannot read"
        raise InputError(f"{path}: {what} ({getattr(e, 'strerror', None) or e})") from None


def _balanced_cut(buf: bytes) -> int:
    """Just past the last newline of ``buf`` with an even number of quotes before it; 0: none."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    if not newlines.size:
        return 0
    quotes = np.flatnonzero(arr == 34)
    if not quotes.size:
        return int(newlines[-1]) + 1
    even = (np.searchsorted(quotes, newlines) % 2) == 0
    ok = newlines[even]
    return int(ok[-1]) + 1 if ok.size else 0


def _read_events_csv(path: PathLike, strict: bool) -> tuple[pd.DataFrame, ReadReport]:
    """``read_events`` for CSV, a block at a time: each block is parsed as the header followed
    by its lines, and its line numbers are shifted back to the file's."""
    file = str(path)
    columns = (*EVENT_COLUMNS, *IMPRESSION_COLUMNS)
    frames: list[pd.DataFrame] = []
    report = ReadReport()
    header = b""
    header_lines = 0
    next_line = 1  # the file's line number of the block's first line
    for i, block in enumerate(csv_blocks(path)):
        if i == 0:
            text = decode(block)
            recs = csv_records(text, fixed_width=True)
            names = _header(file, recs, REQUIRED_EVENT_COLUMNS)
            header_lines = int(recs.ends[0])
            nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            header = block[: int(nl[header_lines - 1]) + 1] if len(nl) >= header_lines else block
            if not header.endswith(b"\n"):
                header += b"\n"
            table = table_from_records(recs, file, names, columns, skip_first=True)
            shift = 0
        else:
            text = decode(header + block)
            recs = csv_records(text, fixed_width=True)
            table = table_from_records(recs, file, names, columns, skip_first=True)
            shift = next_line - header_lines - 1
        next_line += block.count(b"\n")
        c = Checker(table)
        frames.append(check_events(c))
        part = c.finish(strict=False)
        if shift:
            part.rejects = [Reject(r.file, r.line + shift, r.reason, r.raw) for r in part.rejects]
        report = report.merge(part)
        if strict and report.rejects:
            first = report.rejects[0]
            raise InputError(f"{file} line {first.line}: {first.reason}")
    if not frames:
        raise InputError(f"{file}: empty file (no header row)")
    return concat_events(frames), report


def check_videos(c: Checker) -> pd.DataFrame:
    """Run the videos checks on ``c`` (including duplicates) and return the accepted rows."""
    vid = c.text("video_id", required=True, key=True)
    out: dict[str, Any] = {}
    for name, kind in VIDEO_COLUMNS.items():
        if c.table.col(name) is None:
            continue
        if kind == "str":
            out[name] = c.text(name, required=False, key=name in KEY_COLUMNS)
        elif kind == "time":
            out[name] = c.time(name, required=False)
        elif name == "rating_avg":
            out[name] = c.number(name, bounds=RATING_RANGE)
        else:
            out[name] = c.number(name, nonnegative=True)
    c.flag_duplicate_ids(vid)
    ok = c.ok
    frame: dict[str, Any] = {"video_id": accepted_strings(vid, ok)}
    for name, values in out.items():
        frame[name] = (
            accepted_strings(values, ok)
            if VIDEO_COLUMNS[name] == "str"
            else values[ok].astype(np.float64)
        )
    return pd.DataFrame(frame)


def read_videos(path: PathLike, *, strict: bool = False) -> tuple[pd.DataFrame, ReadReport]:
    """Read one canonical videos file: (videos, report). Later duplicates of an id are rejected."""
    table = read_table(path, ("video_id", *VIDEO_COLUMNS), ("video_id",))
    c = Checker(table)
    videos = check_videos(c)
    report = c.finish(strict)
    return videos, report


def concat_events(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_events()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def read_canonical(
    events_paths: Sequence[PathLike] | PathLike,
    videos_path: PathLike | None = None,
    strict: bool = False,
) -> Dataset:
    """Read canonical events files (in order) and an optional videos file into a Dataset."""
    if isinstance(events_paths, str | Path):
        events_paths = [events_paths]
    report = ReadReport()
    frames = []
    for path in events_paths:
        events, rep = read_events(path, strict=strict)
        frames.append(events)
        report = report.merge(rep)
    if videos_path is not None:
        videos, rep = read_videos(videos_path, strict=strict)
        report = report.merge(rep)
    else:
        videos = empty_videos()
    return Dataset(events=concat_events(frames), videos=videos, report=report)
